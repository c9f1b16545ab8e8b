"""The fused CPU neuron kernels compute exactly what the XLA neuron loop does."""

import numpy as np
import pytest
import tensorflow as tf

import rateconv
from rateconv.neurons import LIF, SpikingRectifiedLinear
from rateconv.simulator import _fused
from rateconv.simulator._time_batched import neuron_scan
from rateconv.synapses import Alpha, Lowpass
from tests.helpers import conv_net, images

pytestmark = pytest.mark.skipif(not _fused.HAVE_NUMBA, reason="numba missing")


@pytest.fixture(autouse=True)
def kernels_on():
    previous = _fused.set_enabled(True)
    yield
    _fused.set_enabled(previous)


DT = 0.001


def _bits(x):
    return np.asarray(x).view(np.int32)


@pytest.mark.parametrize("name", ["expm1", "log1p"])
def test_math_matches_xla_bit_for_bit(name):
    from numba import njit

    from rateconv.simulator import _xla_math

    fn = getattr(_xla_math, name)

    @njit
    def apply(x, out):
        for i in range(x.size):
            out[i] = fn(x[i])

    # every 61st float32 in [-1, 0] (where the neurons call them; not the
    # smallest normal numbers, whose halves XLA flushes to zero), a stretch
    # of the positive half line, and a fine sweep near 0 (both branches)
    neg = np.arange(0x81000000, 0xBF800001, 61, dtype=np.uint32)
    pos = np.arange(0x01000000, 0x41000000, 97, dtype=np.uint32)
    x = np.concatenate([neg, pos]).view(np.float32)
    x = np.concatenate([x, np.linspace(-0.6, 0.6, 100_001, dtype=np.float32)])
    out = np.empty_like(x)
    apply(x, out)
    ref = tf.function(getattr(tf.math, name), jit_compile=True)(tf.constant(x))
    np.testing.assert_array_equal(_bits(out), _bits(ref.numpy()))


def _scan_inputs(neuron, synapse, static, n_steps, seed, j_range):
    rng = np.random.default_rng(seed)
    full = (5, 6, 6, 9)
    j_shape = full if static else (n_steps,) + full
    j = tf.constant(rng.uniform(*j_range, j_shape).astype(np.float32))
    seed_t = tf.constant([seed, 2], tf.int64)
    state = list(neuron.initial_state(full, "uniform", seed=seed_t))
    if len(state) == 2:  # some neurons part-way through a refractory period
        ref = rng.uniform(0, 2.5 * neuron.tau_ref + DT, full)
        state[1] = tf.constant(np.where(rng.random(full) < 0.4, ref, 0), tf.float32)
    syn = ()
    if synapse is not None:
        syn = tuple(
            tf.constant(rng.uniform(0, 3, full).astype(np.float32))
            for _ in range(synapse.n_stages)
        )
    mask = tf.constant([1, 1, 1, 1, 0], tf.float32)  # a padding sample
    return j, tuple(state), syn, mask


LIF_REF = LIF.from_max_rate(100.0, 0.0, amplitude=0.01)
CASES = [
    (LIF_REF, None, (-0.5, 3.0)),
    (LIF_REF.scaled(14.9), Lowpass(0.005), (-0.5, 3.0)),
    (LIF_REF.scaled(4.8), Alpha(0.01), (-0.5, 3.0)),
    (LIF(amplitude=0.01, reset="subtract"), Lowpass(0.005), (-1.0, 30.0)),
    (LIF(amplitude=0.01, gain=1.7, bias=0.5, min_voltage=-1.0), None, (-40, 30)),
    (SpikingRectifiedLinear(amplitude=0.02).scaled(50.0), Lowpass(0.005), (-5, 100)),
    (SpikingRectifiedLinear(amplitude=0.02, reset="zero"), Alpha(0.002), (-5, 3e3)),
    (SpikingRectifiedLinear(amplitude=1.0, gain=1.3, bias=0.2), None, (-500, 3e3)),
]


@pytest.mark.parametrize("static", [False, True], ids=["temporal", "static"])
@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("count", ["all", "sampled", None])
def test_kernel_matches_xla_loop_bit_for_bit(case, static, count):
    neuron, synapse, j_range = CASES[case]
    assert _fused.supports(neuron, synapse)
    n_steps = 9
    args = _scan_inputs(neuron, synapse, static, n_steps, case, j_range)
    kw = {"count": count, "rows": 2 if count == "sampled" else None}
    xla = neuron_scan(neuron, synapse, DT, n_steps, static, **kw)(*args)
    fused = tf.function(_fused.fused_scan(neuron, synapse, DT, n_steps, static, **kw))
    got = fused(*args)
    want = tf.nest.flatten(xla)
    have = tf.nest.flatten(got)
    assert len(have) == len(want)
    spikes = want[0].numpy()
    assert 0 < np.count_nonzero(spikes)
    n_exact = len(want) - (2 if count else 0)  # a count comes with its peak
    for w, h in zip(want[:n_exact], have[:n_exact]):  # outputs and states
        assert w.shape == h.shape
        np.testing.assert_array_equal(_bits(h.numpy()), _bits(w.numpy()))
    if count:  # exact integers here; float sums rescaled in the XLA loop
        for i in (-2, -1):  # the counts, then the most spikes in one step
            np.testing.assert_allclose(have[i].numpy(), want[i].numpy(), rtol=1e-5)
            np.testing.assert_array_equal(have[i].numpy(), np.round(have[i].numpy()))
        assert have[-1].numpy() >= 1


def test_uncovered_neurons_use_the_xla_loop():
    from rateconv.neurons import SpikingLeakyRectifiedLinear

    assert not _fused.supports(SpikingLeakyRectifiedLinear(), None)
    assert _fused.supports(LIF(), Alpha(0.01))
    previous = _fused.set_enabled(False)
    try:
        assert not _fused.supports(LIF(), None)
    finally:
        _fused.set_enabled(previous)


@pytest.mark.filterwarnings("ignore::rateconv.ActivityWarning")  # tiny, quiet net
@pytest.mark.parametrize("activation", ["relu", "softlif"])
def test_simulator_with_and_without_kernels_bit_for_bit(activation):
    model = conv_net(activation, pool="max")
    scale = 50 if activation == "relu" else 4
    net = rateconv.convert(
        model, scale_firing_rates=scale, synapse=0.005, initial_state="uniform"
    )
    x = images(7)
    y = np.arange(7) % 5

    def run():
        sim = rateconv.Simulator(net, minibatch_size=4)
        return sim.evaluate(x, y, n_steps=30, return_outputs=True)

    fused = run()
    previous = _fused.set_enabled(False)
    try:
        xla = run()
    finally:
        _fused.set_enabled(previous)
    assert np.abs(fused.outputs).max() > 0
    np.testing.assert_array_equal(_bits(fused.outputs), _bits(xla.outputs))
    for name, a in xla.activity.items():
        assert fused.activity[name].spike_count == pytest.approx(a.spike_count)


def test_precision_detection_reads_cpu_flags(tmp_path):
    from rateconv.simulator import _precision

    with_bf16 = tmp_path / "a"
    with_bf16.write_text("processor: 0\nflags\t\t: fpu avx512f avx512_bf16 avx2\n")
    without = tmp_path / "b"
    without.write_text("processor: 0\nflags\t\t: fpu avx2 fma\n")
    assert _precision.cpu_has_bf16.__wrapped__(str(with_bf16))
    assert not _precision.cpu_has_bf16.__wrapped__(str(without))
    assert not _precision.cpu_has_bf16.__wrapped__(str(tmp_path / "missing"))
    assert _precision.auto_precision() in ("float32", "bfloat16")
