"""Integer spike-reading layers (``precision="int8"``): exact sums, the same
results with and without int8 instructions, synapses moved by linearity."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import rateconv
from rateconv.simulator import _fused, _integer
from rateconv.simulator._integer import IntegerPath, IntegerSpikeOp

DT = 0.001


def _spiking_conv_net(seed=0, activation="softlif"):
    """conv -> soft-LIF (or ReLU) -> avg pool -> conv -> soft-LIF -> dense."""
    keras.utils.set_random_seed(seed)

    def act(name):
        if activation == "relu":
            return keras.layers.ReLU(name=name)
        return rateconv.SoftLIF(sigma=0.002, amplitude=0.01, max_rate=200, name=name)

    return keras.Sequential(
        [
            keras.Input((12, 12, 1)),
            keras.layers.Conv2D(
                6, 3, bias_initializer=keras.initializers.Constant(0.3)
            ),
            act("a1"),
            keras.layers.AveragePooling2D(2),
            keras.layers.Conv2D(8, 3, padding="same", name="c2"),
            act("a2"),
            keras.layers.Flatten(),
            keras.layers.Dense(5, name="out"),
        ]
    )


def _images(n=6):
    return np.random.default_rng(1).uniform(size=(n, 12, 12, 1)).astype(np.float32)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("int8", [True, False])
def test_sums_are_exact(padding, int8):
    """The layer's output is scale * unit * sum(q * k) computed in float64,
    rounded once, with either backend."""
    layer = keras.layers.Conv2D(16, 3, padding=padding, strides=(1, 2))
    layer.build((None, 9, 9, 12))
    rng = np.random.default_rng(0)
    layer.kernel.assign(rng.normal(0, 0.2, layer.kernel.shape))
    layer.bias.assign(rng.normal(0, 0.2, layer.bias.shape))
    unit = 10.0 / 4
    path = IntegerPath(source="x", unit=unit, max_count=4)
    previous = _integer.set_int8_kernels(int8)
    try:
        op = IntegerSpikeOp(layer, path)
        k = rng.integers(0, 5, (7, 9, 9, 12)) * (rng.random((7, 9, 9, 12)) < 0.3)
        got = op(tf.constant((k * unit).astype(np.float32))).numpy()
    finally:
        _integer.set_int8_kernels(previous)
    w = layer.kernel.numpy().astype(np.float64)
    scale = np.abs(w).reshape(-1, 16).max(axis=0) / 127
    q = np.round(w / scale)
    assert np.abs(q).max() == 127
    sums = tf.nn.conv2d(
        tf.constant(k, tf.float64), tf.constant(q), [1, 1, 2, 1], padding.upper()
    ).numpy()
    want = sums * (scale * unit) + layer.bias.numpy().astype(np.float64)
    np.testing.assert_array_equal(got, want.astype(np.float32))


def test_plan_finds_spike_readers_and_moves_synapses():
    net = rateconv.convert(_spiking_conv_net(), synapse=0.005)
    sim = rateconv.Simulator(net, precision="int8")
    spec = rateconv.simulator._run.RunSpec()
    plan = sim._engine._integer_plan(spec)
    c2 = [s.name for s in net.stages if s.name == "c2"][0]
    assert set(plan) == {c2, "out"}
    assert plan[c2].source == "a1" and plan[c2].max_count == 4
    assert plan[c2].synapse == rateconv.synapses.Lowpass(0.005)
    # a probed stage on the way keeps the float path
    probed = sim._engine._integer_plan(
        rateconv.simulator._run.RunSpec(probe_layers=("a1",))
    )
    assert c2 not in probed and "out" in probed


@pytest.mark.filterwarnings("ignore::rateconv.ActivityWarning")
@pytest.mark.parametrize(
    "activation,synapse,scale",
    [
        ("softlif", None, 3.0),
        ("softlif", 0.005, 3.0),
        ("relu", 0.005, 40.0),
        ("relu", None, 3e5),
    ],  # graded spikes, some counts above 255
)
def test_int8_without_fast_paths_bit_for_bit(activation, synapse, scale):
    """int8 instructions and fused kernels off: the same outputs and counts."""
    net = rateconv.convert(
        _spiking_conv_net(activation=activation),
        synapse=synapse,
        scale_firing_rates=scale,
        initial_state="uniform",
    )
    plan = rateconv.Simulator(net, precision="int8")._engine._integer_plan(
        rateconv.simulator._run.RunSpec()
    )
    assert "out" in plan
    x, y = _images(7), np.arange(7) % 5

    def run():
        sim = rateconv.Simulator(net, minibatch_size=4, precision="int8")
        return sim.evaluate(x, y, n_steps=25, return_outputs=True)

    fast = run()
    int8 = _integer.set_int8_kernels(False)
    fused = _fused.set_enabled(False)
    try:
        slow = run()
    finally:
        _integer.set_int8_kernels(int8)
        _fused.set_enabled(fused)
    assert np.abs(fast.outputs).max() > 0
    np.testing.assert_array_equal(fast.outputs, slow.outputs)
    for name, a in slow.activity.items():
        assert fast.activity[name].spike_count == a.spike_count


@pytest.mark.filterwarnings("ignore::rateconv.ActivityWarning")
def test_int8_is_the_float_network_up_to_weight_rounding():
    """Moving the synapses and rounding the weights to int8 changes the
    filtered outputs by little (the weights' rounding, and the few spikes it
    moves)."""
    net = rateconv.convert(_spiking_conv_net(), synapse=0.005, scale_firing_rates=3.0)
    x = _images(8)
    a = rateconv.Simulator(net, precision="float32").predict(
        x, n_steps=60, probe_synapse=0.02
    )
    b = rateconv.Simulator(net, precision="int8").predict(
        x, n_steps=60, probe_synapse=0.02
    )
    assert np.abs(a).max() > 0
    np.testing.assert_allclose(b[:, -1], a[:, -1], atol=0.1 * np.abs(a).max())


def test_int8_needs_whole_spikes():
    """Layers reading analog values (the input layer) stay float32."""
    net = rateconv.convert(_spiking_conv_net(), synapse=None)
    sim = rateconv.Simulator(net, precision="int8")
    plan = sim._engine._integer_plan(rateconv.simulator._run.RunSpec())
    first = [s.name for s in net.stages if s.kind == "Conv2D"][0]
    assert first not in plan


@pytest.mark.filterwarnings("ignore::rateconv.ActivityWarning")
def test_defaults_equal_every_fast_path_off_on_the_shipped_network(monkeypatch):
    """`evaluate` at the default settings gives the same result, bit for bit,
    with the fused kernels and the int8 instructions turned off."""
    # the defaults themselves, not the float32 that tests/conftest.py pins
    monkeypatch.delenv("RATECONV_PRECISION", raising=False)
    from rateconv.cli._common import conversion, load_model
    from rateconv.datasets import load_fashion_mnist_sample
    from rateconv.zoo.models import prepare_images

    name = "fashion_mnist_softlif_aware"
    net = rateconv.convert(load_model(name), **conversion(name, {}))
    x, y = load_fashion_mnist_sample()
    x, y = prepare_images(x[:40]), y[:40]

    def run():
        sim = rateconv.Simulator(net, minibatch_size=20)
        assert sim.precision == "int8"
        return sim.evaluate(x, y, n_steps=30, return_outputs=True)

    fast = run()
    int8 = _integer.set_int8_kernels(False)
    fused = _fused.set_enabled(False)
    try:
        slow = run()
    finally:
        _integer.set_int8_kernels(int8)
        _fused.set_enabled(fused)
    np.testing.assert_array_equal(fast.errors, slow.errors)
    np.testing.assert_array_equal(fast.outputs, slow.outputs)
    for name, a in slow.activity.items():
        assert a.spike_count > 0
        assert fast.activity[name].spike_count == a.spike_count
