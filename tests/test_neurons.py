import dataclasses
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from rateconv import neurons
from tests import reference

CURRENTS = np.concatenate([np.linspace(1.05, 2, 20), np.linspace(2.5, 20, 36)])


def run_steps(neuron, x, n_steps, dt=neurons.DT):
    """Mean output of a spiking neuron type driven by constant x."""
    x = tf.constant(x, dtype=tf.float32)
    state = tuple(tf.zeros_like(x) for _ in neuron.state_names)

    @tf.function
    def run(state):
        total = tf.zeros_like(x)
        for _ in tf.range(n_steps):
            out, state = neuron.step(x, state, dt)
            total += out
        return total

    return run(state).numpy() / n_steps


def test_lif_rate_matches_reference():
    j = np.linspace(-3, 30, 200)
    np.testing.assert_allclose(
        neurons.lif_rate(j.astype(np.float32)), reference.lif_rate(j), rtol=1e-5
    )


def test_spiking_lif_fires_at_lif_rate():
    neuron = neurons.LIF()
    measured = run_steps(neuron, CURRENTS, 10_000)
    expected = reference.lif_rate(CURRENTS)
    rel = np.abs(measured - expected) / expected
    assert rel.max() < 0.01, rel.max()


def test_spiking_lif_matches_numpy_transcription():
    j = np.array([0.5, 1.0, 1.2, 3.0, 15.0])
    ours = [tf.zeros(5), tf.zeros(5)]
    outs = []
    for _ in range(200):
        out, ours = neurons.LIF().step(tf.constant(j, tf.float32), ours)
        outs.append(out.numpy())
    np.testing.assert_array_equal(np.array(outs), reference.lif_run(j, 200))


@pytest.mark.parametrize("j", [-5.0, 0.0, 0.5, 1.0])
def test_lif_silent_at_or_below_threshold(j):
    assert run_steps(neurons.LIF(), [j], 10_000)[0] == 0


def test_if_neuron_fires_at_relu_rate():
    # 100x the LIF currents: the same range with scale_firing_rates=100
    j = CURRENTS * 100
    measured = run_steps(neurons.SpikingRectifiedLinear(), j, 10_000)
    rel = np.abs(measured - j) / j
    assert rel.max() < 0.01, rel.max()
    # the spike count is exact to within one spike for every current
    counts = measured * 10_000 * neurons.DT
    assert np.all(np.abs(counts - j * 10) <= 1)
    assert run_steps(neurons.SpikingRectifiedLinear(), [-3.0, 0.0], 1000).max() == 0


def test_if_several_spikes_per_step():
    out, (v,) = neurons.SpikingRectifiedLinear().step(
        tf.constant([2500.0]), (tf.zeros(1),)
    )
    assert out.numpy()[0] == pytest.approx(2 / neurons.DT)
    assert v.numpy()[0] == pytest.approx(0.5)


def test_soft_lif_tends_to_lif_as_sigma_shrinks():
    j = np.linspace(-2, 10, 2001).astype(np.float32)
    lif = reference.lif_rate(j)
    diffs = []
    for sigma in [1.0, 0.3, 0.1, 0.03, 0.01, 0.003]:
        soft = neurons.soft_lif_rate(j, sigma=sigma).numpy()
        diffs.append(np.abs(soft - lif).max())
    assert all(a > b for a, b in zip(diffs, diffs[1:])), diffs
    # the gap sits at threshold, where the LIF curve is vertical: it shrinks
    # slowly (about 1 / log(1 / sigma)), so ask for a factor of 5
    assert diffs[-1] < 0.2 * diffs[0]


def test_soft_lif_smooth_and_positive():
    j = tf.constant(np.linspace(-10, 10, 4001), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(j)
        r = neurons.soft_lif_rate(j, sigma=0.1)
    g = tape.gradient(r, j).numpy()
    assert np.all(r.numpy() > 0)
    assert np.all(g >= 0)  # monotone
    # smooth: the gradient changes little between neighbouring samples
    assert np.abs(np.diff(g)).max() < 0.05 * g.max()


@pytest.mark.parametrize("sigma", [1e-3, 1e-2, 0.1, 1.0])
def test_soft_lif_finite_values_and_gradients(sigma):
    j = np.concatenate(
        [np.linspace(-1e4, 1e4, 20001), np.linspace(0.99, 1.01, 1001), [0, 1]]
    )
    j = tf.constant(j, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(j)
        r = neurons.soft_lif_rate(j, sigma=sigma, amplitude=0.01)
    g = tape.gradient(r, j)
    assert np.all(np.isfinite(r.numpy()))
    assert np.all(np.isfinite(g.numpy()))


def test_gain_bias_from_max_rate():
    gain, bias = neurons.lif_gain_bias(100, 0)
    assert gain == pytest.approx(2.033, abs=1e-3)
    assert bias == pytest.approx(1.0)
    n = neurons.LIFRate.from_max_rate(100, 0.2)

    # float32 arrays, as the simulator feeds them (a numpy float32 *scalar*
    # times a Python float is float64 in numpy 1.x and float32 in numpy 2)
    def rate(x):
        return float(n.rate(np.array([x], np.float32))[0])

    assert rate(1.0) == pytest.approx(100, rel=1e-4)
    assert rate(0.2) == 0
    assert rate(0.21) > 0


def test_counterparts():
    soft = neurons.SoftLIFRate(sigma=0.1, amplitude=0.01, gain=2.0, bias=1.0)
    lif = soft.as_spiking()
    assert isinstance(lif, neurons.LIF)
    assert (lif.amplitude, lif.gain, lif.bias) == (0.01, 2.0, 1.0)
    assert type(lif.as_rate()) is neurons.LIFRate
    relu = neurons.RectifiedLinear()
    assert isinstance(relu.as_spiking(), neurons.SpikingRectifiedLinear)
    assert type(relu.as_spiking().as_rate()) is neurons.RectifiedLinear


def test_scaled_is_exact_for_relu():
    x = np.linspace(-2, 5, 50).astype(np.float32)
    relu = neurons.RectifiedLinear(amplitude=0.5)
    np.testing.assert_allclose(relu.scaled(100).rate(x), relu.rate(x), rtol=1e-6)


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: neurons.LIF(tau_rc=0), "tau_rc"),
        (lambda: neurons.LIF(tau_rc=-0.1), "tau_rc"),
        (lambda: neurons.LIF(tau_ref=-1e-3), "tau_ref"),
        (lambda: neurons.SoftLIFRate(sigma=0), "sigma"),
        (lambda: neurons.SoftLIFRate(sigma=-1), "sigma"),
        (lambda: neurons.lif_gain_bias(500), "max_rate"),
        (lambda: neurons.lif_gain_bias(600), "max_rate"),
        (lambda: neurons.lif_gain_bias(100, 1.0), "intercept"),
        (lambda: neurons.RectifiedLinear(amplitude=0), "amplitude"),
        (lambda: neurons.LIF(gain=math.nan), "gain"),
        (lambda: neurons.LIF(reset="none"), "reset"),
        (lambda: neurons.LIF(tau_rc=math.inf), "tau_rc"),
        (lambda: neurons.LIF().scaled(0), "scale_firing_rates"),
        (lambda: neurons.lif_gain_bias(100, math.nan), "intercept"),
    ],
)
def test_invalid_parameters_name_the_parameter(make, name):
    with pytest.raises(ValueError, match=name):
        make()


@pytest.mark.parametrize(
    "rate, spiking",
    [
        (neurons.RectifiedLinear(gain=2.0), neurons.SpikingRectifiedLinear(gain=2.0)),
        (neurons.LIFRate(tau_rc=0.03), neurons.LIF(tau_rc=0.03)),
        (
            neurons.QuantizedReLURate(levels=3, threshold=2.0),
            neurons.SpikingQuantizedReLU(levels=3, threshold=2.0),
        ),
    ],
)
def test_every_pairing_of_twins(rate, spiking):
    assert rate.as_spiking() == spiking
    assert spiking.as_rate() == rate
    assert rate.as_rate() is rate
    assert spiking.as_spiking() is spiking
    # the spiking-only parameters are dropped, and come back as defaults
    reset = dataclasses.replace(spiking, reset="zero")
    assert reset.as_rate() == rate
    assert type(reset.as_rate().as_spiking()) is type(spiking)


def test_soft_lif_rate_is_its_own_rate_twin():
    soft = neurons.SoftLIFRate(sigma=0.1, tau_ref=0.001)
    assert soft.as_rate() is soft
    assert soft.as_spiking() == neurons.LIF(tau_ref=0.001)


@dataclasses.dataclass(frozen=True)
class _SquaredRate(neurons.NeuronType):
    """A neuron type defined outside rateconv: rate ``J**2`` above 0."""

    exponent: float = 2.0

    def rate(self, x):
        return keras.ops.relu(self.current(x)) ** self.exponent


@dataclasses.dataclass(frozen=True)
class _SquaredSpiking(_SquaredRate):
    leak: float = 0.5

    spiking = True
    state_names = ("voltage",)

    def step(self, x, state, dt=neurons.DT):
        return x, state


@dataclasses.dataclass(frozen=True)
class _SquaredVariant(_SquaredSpiking):
    """A spiking subclass of a spiking type: not the rate type's twin."""

    spiking = True


def test_twins_are_derived_for_a_new_subclass():
    rate = _SquaredRate(exponent=3.0, gain=2.0)
    spiking = rate.as_spiking()
    assert spiking == _SquaredSpiking(exponent=3.0, gain=2.0)
    assert spiking.as_rate() == rate
    assert _SquaredVariant(leak=0.1).as_rate() == _SquaredRate()
    assert _SquaredRate().as_spiking() == _SquaredSpiking()
    # a rate type without a spiking twin says so
    with pytest.raises(NotImplementedError, match="spiking counterpart"):
        _RateOnly().as_spiking()


@dataclasses.dataclass(frozen=True)
class _RateOnly(neurons.NeuronType):
    def rate(self, x):
        return x


@pytest.mark.parametrize("neuron", [neurons.LIF(), neurons.SpikingRectifiedLinear()])
def test_initial_state_modes(neuron):
    shape = (3, 4, 2)
    for mode, value in (("zero", 0.0), ("half", 0.5)):
        state = neuron.initial_state(shape, mode)
        assert len(state) == len(neuron.state_names)
        np.testing.assert_array_equal(state[0], np.full(shape, value, np.float32))
        for other in state[1:]:
            np.testing.assert_array_equal(other, np.zeros(shape, np.float32))
    seed = np.array([17, -5], np.int64)
    state = neuron.initial_state(shape, "uniform", seed=seed)
    v = np.asarray(state[0])
    assert v.dtype == np.float32 and v.shape == shape
    assert v.min() >= 0 and v.max() < 1 and v.std() > 0.1
    for other in state[1:]:
        np.testing.assert_array_equal(other, np.zeros(shape, np.float32))


def test_initial_state_uniform_is_stateless_uniform_bit_for_bit():
    seed = tf.constant([12345 + 7919, -1 - 64], tf.int64)
    (v,) = neurons.SpikingRectifiedLinear().initial_state((5, 7), "uniform", seed)
    expected = tf.random.stateless_uniform((5, 7), seed=seed)
    np.testing.assert_array_equal(v.numpy(), expected.numpy())
    # the same seed gives the same voltages, another seed others
    (again,) = neurons.SpikingRectifiedLinear().initial_state((5, 7), "uniform", seed)
    np.testing.assert_array_equal(again.numpy(), v.numpy())
    (other,) = neurons.SpikingRectifiedLinear().initial_state((5, 7), "uniform", [1, 2])
    assert not np.array_equal(other.numpy(), v.numpy())


def test_initial_state_uniform_from_a_seed_generator_draws_anew():
    generator = keras.random.SeedGenerator(3)
    (a,) = neurons.SpikingRectifiedLinear().initial_state((50,), "uniform", generator)
    (b,) = neurons.SpikingRectifiedLinear().initial_state((50,), "uniform", generator)
    assert not np.array_equal(np.asarray(a), np.asarray(b))
    assert 0 <= float(np.min(a)) and float(np.max(a)) < 1


def test_initial_state_of_a_rate_type_is_empty():
    assert neurons.LIFRate().initial_state((2,), "half") == ()


def test_initial_state_errors():
    with pytest.raises(ValueError, match="initial_state"):
        neurons.LIF().initial_state((2,), "random")
    with pytest.raises(ValueError, match="seed"):
        neurons.LIF().initial_state((2,), "uniform")
    assert neurons.INITIAL_STATES == ("zero", "half", "uniform")
