"""The fused CPU neuron kernels: Nengo's equations to float rounding (checked
against a float64 NumPy port, `tests/reference.py`), and bit for bit the XLA
neuron loop, both computing each step in float64 with float32 states."""

import numpy as np
import pytest
import tensorflow as tf

import rateconv
from rateconv.neurons import LIF, SpikingRectifiedLinear
from rateconv.simulator import _fused
from rateconv.simulator._time_batched import neuron_scan
from rateconv.synapses import Alpha, Lowpass
from tests import reference
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
    # spike caps (`max_spikes_per_step`): binary, and 3 with reset to zero
    (
        SpikingRectifiedLinear(amplitude=0.02, max_spikes_per_step=1).scaled(50.0),
        Lowpass(0.005),
        (-5, 100),
    ),
    (
        SpikingRectifiedLinear(amplitude=0.02, reset="zero", max_spikes_per_step=3),
        None,
        (-5, 5e3),
    ),
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
    n_exact = len(want) - (1 if count else 0)
    for w, h in zip(want[:n_exact], have[:n_exact]):  # outputs and states
        assert w.shape == h.shape
        np.testing.assert_array_equal(_bits(h.numpy()), _bits(w.numpy()))
    if count:  # exact integers here; float sums rescaled in the XLA loop
        np.testing.assert_allclose(have[-1].numpy(), want[-1].numpy(), rtol=1e-5)
        np.testing.assert_array_equal(have[-1].numpy(), np.round(have[-1].numpy()))


def _reference_spikes(neuron, j, state, **options):
    """Spikes per step of the float64 NumPy port, for a temporal ``j``."""
    if isinstance(neuron, LIF):
        return reference.lif_steps(
            j, state[0], state[1], dt=DT, tau_rc=neuron.tau_rc,
            tau_ref=neuron.tau_ref, gain=neuron.gain, bias=neuron.bias,
            min_voltage=neuron.min_voltage, reset=neuron.reset, **options,
        )
    return reference.if_steps(
        j, state[0], dt=DT, gain=neuron.gain, bias=neuron.bias,
        reset=neuron.reset,
        max_spikes=getattr(neuron, "max_spikes_per_step", None), **options,
    )


# LIF with reset by subtraction far above threshold: the overshoot nears its
# cap (1 - 1e-7) where the spike time's log1p amplifies a float32 rounding of
# the voltage about 1e7 times, to a step's worth of refractory time; the
# equations themselves are ill-conditioned there, so the float64 comparison
# takes currents up to 3 times the threshold for that case (as the others)
REFERENCE_RANGE = {3: (-0.5, 3.0)}


def _kernel_spikes(neuron, synapse, static, n_steps, case, j_range=None):
    j, state, syn, mask = _scan_inputs(
        neuron, synapse, static, n_steps, case, j_range or CASES[case][2]
    )
    fused = tf.function(_fused.fused_scan(neuron, synapse, DT, n_steps, static))
    out, *_, counts = fused(j, state, syn, mask)
    j = np.broadcast_to(j.numpy(), (n_steps,) + tuple(state[0].shape))
    return out.numpy(), counts.numpy(), j, [s.numpy() for s in state], mask.numpy()


@pytest.mark.parametrize("case", range(len(CASES)))
def test_kernel_counts_within_one_of_float64_reference(case):
    """Constant currents (what a network's neurons see under a constant
    image): the spikes of each neuron over a long run within 1 of Nengo's
    equations computed in float64 throughout."""
    neuron, synapse, _ = CASES[case]
    _, counts, j, state, mask = _kernel_spikes(
        neuron, synapse, True, 300, case, REFERENCE_RANGE.get(case)
    )
    want = _reference_spikes(neuron, j, state)
    assert want.sum() > 100
    want_counts = np.tensordot(mask, want.sum(axis=0), axes=[[0], [0]])
    np.testing.assert_array_less(np.abs(counts - want_counts), 1.5)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_kernel_spikes_are_the_equations_with_float32_states(case):
    """Currents that change at every step: the spikes step by step those of
    the float64 port whose states are stored in float32 after each step (a
    rounding of the states can change a later spike; with the roundings
    matched none does)."""
    neuron, synapse, _ = CASES[case]
    out, counts, j, state, mask = _kernel_spikes(neuron, None, False, 200, case)
    want = _reference_spikes(neuron, j, state, float32_states=True)
    assert want.sum() > 100
    np.testing.assert_array_equal(np.round(out * DT / neuron.amplitude), want)
    assert np.allclose(counts, np.tensordot(mask, want.sum(axis=0), axes=[[0], [0]]))


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
    assert _precision.auto_precision() in ("float32", "bfloat16", "int8")


def test_kernel_expm1_and_log1p_are_accurate():
    """The kernels' straight-line expm1 and log1p: within a few float64 ulps
    of NumPy's, so equal after rounding to float32, over the neurons' ranges."""
    import math

    from numba import njit

    from rateconv.simulator import _fused_kernels as fk

    @njit
    def expm1(x, halvings, scale):
        return np.array([fk._expm1(v, halvings, scale) for v in x])

    @njit
    def log1p(y):
        return np.array([fk._log1p(v) for v in y])

    def check(got, want):
        ulps = np.abs(got - want) / np.spacing(np.abs(want))
        assert ulps[want != 0].max() <= 8
        np.testing.assert_array_equal(got.astype(np.float32), want.astype(np.float32))

    for low in (0.05, 0.74, 3.0, 60.0):  # dt / tau_rc
        h = max(0, math.ceil(math.log2(4 * low)))
        x = -np.linspace(0, low, 20001)
        check(expm1(x, h, 2.0**-h), np.expm1(x))
    y = np.concatenate(
        [
            -np.linspace(0, 1 - 1e-7, 40001),
            -np.logspace(-20, -1, 500),
            np.linspace(0, 3, 20001),
            np.logspace(-20, 300, 1001),
        ]
    )
    check(log1p(y), np.log1p(y))
