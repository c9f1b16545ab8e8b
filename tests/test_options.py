"""Conversion options for accuracy at few steps: each changes spiking mode as
intended and leaves rate mode untouched."""

import numpy as np
import pytest

import rateconv
from rateconv.neurons import SpikingRectifiedLinear, if_step
from tests.helpers import conv_net, images


def run_both(net, x, n_steps=8, **kwargs):
    sim = rateconv.Simulator(net)
    rate = sim.predict(x, mode="rate")
    spikes = sim.predict(x, n_steps=n_steps, probe_synapse=None, **kwargs)
    return rate, spikes


def test_if_reset_to_zero_loses_the_residue():
    j = np.full(4, 700.0, np.float32)  # 0.7 spikes per step
    v = np.zeros(4, np.float32)
    counts = {"subtract": 0, "zero": 0}
    for reset in counts:
        v = np.zeros(4, np.float32)
        for _ in range(100):
            out, v = if_step(j, v, dt=0.001, reset=reset)
            counts[reset] += float(out[0]) * 0.001
    assert counts["subtract"] == pytest.approx(70, abs=1)
    # reset to zero: a spike every 2 steps (0.7 -> 1.4 -> spike -> 0)
    assert counts["zero"] == pytest.approx(50, abs=1)


@pytest.mark.parametrize("activation", ["relu", "softlif"])
@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_reset_option(activation, reset):
    model = conv_net(activation)
    scale = 500 if activation == "relu" else 1
    base = rateconv.convert(model, scale_firing_rates=scale)
    net = rateconv.convert(model, scale_firing_rates=scale, reset=reset)
    for stage in net.neuron_stages:
        assert stage.spiking_neuron.reset == reset
    x = images()
    rate0, spikes0 = run_both(base, x, n_steps=30)
    rate1, spikes1 = run_both(net, x, n_steps=30)
    np.testing.assert_array_equal(rate0, rate1)
    default = "subtract" if activation == "relu" else "zero"
    if reset == default:
        np.testing.assert_array_equal(spikes0, spikes1)
    else:
        assert not np.allclose(spikes0, spikes1)


@pytest.mark.parametrize("initial_state", ["half", "uniform"])
def test_initial_state_changes_spiking_only(initial_state):
    model = conv_net("relu")
    base = rateconv.convert(model, scale_firing_rates=300)
    net = rateconv.convert(model, scale_firing_rates=300, initial_state=initial_state)
    assert all(s.initial_state == initial_state for s in net.neuron_stages)
    x = images()
    rate0, spikes0 = run_both(base, x)
    rate1, spikes1 = run_both(net, x)
    np.testing.assert_array_equal(rate0, rate1)
    assert not np.allclose(spikes0, spikes1)
    # earlier first spikes: more output in the first steps
    assert np.abs(spikes1[:, :3]).sum() > np.abs(spikes0[:, :3]).sum()


def test_half_threshold_start_rounds_if_counts_to_nearest():
    """IF from half threshold: spike count over T steps is round(J*dt*T)."""
    keras = pytest.importorskip("keras")
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(5, use_bias=False), keras.layers.ReLU()]
    )
    model.layers[0].set_weights([np.eye(5, dtype=np.float32)])
    net = rateconv.convert(model, initial_state="half")
    x = np.array([[130.0, 260.0, 440.0, 620.0, 960.0]], np.float32)  # Hz
    out = rateconv.Simulator(net).predict(x, n_steps=4, probe_synapse=None)
    counts = out.sum(axis=1)[0] * 0.001
    np.testing.assert_allclose(counts, np.round(x[0] * 0.004), atol=1e-4)


def test_uniform_initial_state_is_seeded():
    net = rateconv.convert(
        conv_net("relu"), scale_firing_rates=300, initial_state="uniform"
    )
    sim = rateconv.Simulator(net)
    x = images()
    a = sim.predict(x, n_steps=5, seed=1)
    b = sim.predict(x, n_steps=5, seed=1)
    c = sim.predict(x, n_steps=5, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"reset": "soft"}, "reset"), ({"initial_state": "random"}, "initial_state")],
)
def test_bad_option_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rateconv.convert(conv_net("relu"), **kwargs)


def test_spiking_relu_rate_counterpart_drops_reset():
    n = SpikingRectifiedLinear(reset="zero")
    assert n.as_rate().as_spiking().reset == "subtract"
    with pytest.raises(ValueError, match="reset"):
        SpikingRectifiedLinear(reset="bad")
