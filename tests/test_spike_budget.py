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


def _reference_peaks(model, x, scale, n_steps, cap):
    """Float64 integrate-and-fire of each ReLU layer of a two-layer net: the
    most spikes one neuron fires in one step (a plain loop, no rateconv)."""
    (w1, b1), (w2, b2) = (model.layers[i].get_weights() for i in (0, 1))
    j1 = (x.astype(np.float64) @ w1 + b1) * scale * 0.001  # charge per step
    v1, v2 = np.zeros_like(j1), np.zeros((len(x), w2.shape[1]))
    peak1 = peak2 = 0.0
    for _ in range(n_steps):
        v1 += j1
        n1 = np.clip(np.floor(v1), 0, np.inf if cap is None else cap)
        v1 -= n1
        peak1 = max(peak1, n1.max())
        # layer 1's output, amplitude 1 / scale per spike per dt, into layer 2
        j2 = ((n1 / scale / 0.001) @ w2 + b2) * scale * 0.001
        v2 += j2
        n2 = np.clip(np.floor(v2), 0, np.inf if cap is None else cap)
        v2 -= n2
        peak2 = max(peak2, n2.max())
    return peak1, peak2


def _two_relu_layers():
    keras.utils.set_random_seed(4)
    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(12, activation="relu", name="a"),
            keras.layers.Dense(5, activation="relu", name="b"),
        ]
    )


@pytest.mark.parametrize("cap", [None, 1, 3])
@pytest.mark.parametrize("engine", ["time_batched", "step", "xla"])
def test_evaluate_reports_the_most_spikes_in_a_step(cap, engine):
    from rateconv.simulator import _fused

    model = _two_relu_layers()
    x = np.random.default_rng(0).uniform(0, 1, (37, 6)).astype(np.float32)
    scale = 2000.0  # rates of several spikes per step
    net = rateconv.convert(model, scale_firing_rates=scale, max_spikes_per_step=cap)
    # "time_batched" runs the fused kernel where it covers the neurons
    # (uncapped IF), "xla" the same engine with the XLA loop
    previous = _fused.set_enabled(engine != "xla")
    try:
        sim = rateconv.Simulator(
            net,
            progress=False,
            minibatch_size=16,  # padding samples in the last minibatch
            engine="step" if engine == "step" else "time_batched",
        )
        ev = sim.evaluate(x, np.zeros(len(x), int), n_steps=12)
    finally:
        _fused.set_enabled(previous)
    expected = _reference_peaks(model, x, scale, 12, cap)
    got = (ev.activity["a"].max_spikes_per_step, ev.activity["b"].max_spikes_per_step)
    assert got == pytest.approx(expected)
    assert max(expected) > 1 if cap != 1 else max(expected) == 1
    assert ev.max_spikes_per_step == max(expected)
    assert ev.to_dict()["max_spikes_per_step"] == max(expected)
    assert ev.to_dict()["layers"]["b"]["max_spikes_per_step"] == expected[1]


def test_lif_network_reports_binary_spikes():
    net = rateconv.convert(conv_net("softlif"))
    ev = rateconv.Simulator(net, progress=False).evaluate(
        images(5), np.zeros(5, int), n_steps=20
    )
    assert ev.max_spikes_per_step == 1
    assert (
        rateconv.Simulator(net, progress=False)
        .evaluate(images(5), np.zeros(5, int), mode="rate")
        .max_spikes_per_step
        is None
    )
