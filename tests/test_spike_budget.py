"""The spike budget: max_spikes_per_step on neurons, conversion and networks."""

import keras
import numpy as np
import pytest

import rateconv
from rateconv.neurons import if_step, leaky_if_step
from tests.helpers import conv_net, images


def _reference_if(j, steps, cap, v0=0.0):
    """Float64 integrate-and-fire with a spike cap, one neuron at a time."""
    v, out = v0, []
    for _ in range(steps):
        v += j
        n = min(max(np.floor(v), 0.0), np.inf if cap is None else cap)
        v -= n
        out.append(n)
    return np.array(out)


@pytest.mark.parametrize("cap", [None, 1, 2])
def test_if_step_caps_spikes_and_keeps_the_charge(cap):
    rng = np.random.default_rng(0)
    j = rng.uniform(-0.5, 3.5, size=64)  # charge per step, up to 3.5 spikes' worth
    v = np.zeros_like(j, dtype=np.float32)
    counts = []
    for _ in range(20):
        out, v = if_step(np.float32(j) / 0.001, v, max_spikes=cap)
        counts.append(np.asarray(out) * 0.001)
    counts = np.round(np.array(counts)).T
    for i in range(len(j)):
        np.testing.assert_array_equal(counts[i], _reference_if(j[i], 20, cap))
    if cap is not None:
        assert counts.max() == cap
    else:
        assert counts.max() >= 3  # graded: several spikes in a step


def test_leaky_step_caps_both_signs():
    j = np.float32([5000.0, -5000.0])
    out, _ = leaky_if_step(j, np.zeros(2, np.float32), negative_slope=1.0, max_spikes=1)
    np.testing.assert_array_equal(np.asarray(out) * 0.001, [1.0, -1.0])


def test_bad_budget_is_a_clear_error():
    for bad in (0, -1, 1.5, True, "1"):
        with pytest.raises((ValueError, TypeError), match="max_spikes_per_step"):
            rateconv.SpikingRectifiedLinear(max_spikes_per_step=bad)
    with pytest.raises(ValueError, match="binary spikes"):
        rateconv.convert(conv_net("relu"), max_spikes_per_step=0)


def test_convert_records_the_budget_on_the_network():
    model = conv_net("relu")
    plain = rateconv.convert(model)
    assert plain.max_spikes_per_step is None
    assert plain.graded_stages() == [s.name for s in plain.neuron_stages]
    binary = rateconv.convert(model, max_spikes_per_step=1)
    assert binary.max_spikes_per_step == 1 and binary.graded_stages() == []
    assert all(s.spiking_neuron.max_spikes_per_step == 1 for s in binary.neuron_stages)
    graded = rateconv.convert(model, max_spikes_per_step=3)
    assert graded.max_spikes_per_step == 3
    # LIF fires at most once a step: binary without being told
    assert rateconv.convert(conv_net("softlif")).max_spikes_per_step == 1
    # rate mode is untouched by the budget
    x = images(4, seed=3)
    np.testing.assert_allclose(
        rateconv.Simulator(binary, progress=False).predict(x, mode="rate"),
        model.predict(x, verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )


def test_binary_network_never_fires_twice_in_a_step():
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu", name="d")]
    )
    model.layers[0].set_weights([np.full((8, 16), 0.5, "float32"), np.zeros(16, "f")])
    x = np.full((3, 8), 1.0, "float32")  # current 4 per neuron: 4 spikes' charge
    for cap, expected in ((None, 4.0), (1, 1.0), (2, 2.0)):
        net = rateconv.convert(
            model, scale_firing_rates=1000.0, max_spikes_per_step=cap
        )
        out = rateconv.Simulator(net, progress=False).predict(
            x, n_steps=5, probe_synapse=None, readout="last"
        )
        # the last step's output in spikes: amplitude 1 / 1000, spike 1 / dt
        spikes = np.asarray(out) * 0.001 * 1000.0
        np.testing.assert_allclose(spikes, expected, rtol=1e-5)
