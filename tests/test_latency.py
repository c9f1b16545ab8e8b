"""Latency as the field reports it: the step from which a prediction stays
correct, per sample (`rateconv.metrics.settling_steps`), and its distribution
in `Simulator.evaluate`'s result."""

import keras
import numpy as np
import pytest

import rateconv
from rateconv import metrics
from tests.helpers import relu_mlp

L = keras.layers


def reference_settling(outputs, y):
    """A plain loop: the earliest t with a correct prediction at t..end."""
    steps = []
    for out, label in zip(outputs, y):
        pred = [int(np.argmax(o)) for o in out]
        settle = 0
        for t in range(len(pred), 0, -1):
            if pred[t - 1] != label:
                break
            settle = t
        steps.append(settle)
    return np.array(steps)


def test_settling_steps_matches_a_loop():
    rng = np.random.default_rng(3)
    out = rng.normal(size=(300, 12, 4))
    # make late steps right more often, so every settling step occurs
    y = rng.integers(0, 4, 300)
    for i, t0 in enumerate(rng.integers(0, 13, 300)):
        out[i, t0:, y[i]] += 10.0
    got = metrics.settling_steps(out, y)
    np.testing.assert_array_equal(got, reference_settling(out, y))
    assert set(got) >= {0, 1, 6, 12}


def test_settling_steps_examples_and_population():
    out = np.array([[[0, 1], [1, 0], [0, 1]], [[1, 0], [1, 0], [1, 0]]])
    assert metrics.settling_steps(out, [1, 0]).tolist() == [3, 1]
    assert metrics.settling_steps(out, [1, 1]).tolist() == [3, 0]
    # two neurons per class: groups summed as in classification_errors
    pop = np.repeat(out, 2, axis=-1)
    assert metrics.settling_steps(pop, [1, 0], population_size=2).tolist() == [3, 1]
    with pytest.raises(ValueError, match="time axis"):
        metrics.settling_steps(np.zeros((3, 2)), [0, 1, 0])


def test_latency_distribution():
    lat = metrics.Latency(np.array([1, 3, 0, 2, 3]), n_steps=4)
    np.testing.assert_allclose(lat.settled_by_step, [0.2, 0.4, 0.8, 0.8])
    assert lat.mean == pytest.approx(9 / 4) and lat.median == 2.5
    d = lat.to_dict()
    assert d["settled_fraction"] == 0.8 and d["p90_steps"] == 3.0
    none = metrics.Latency(np.array([0, 0]), n_steps=3).to_dict()
    assert none["mean_steps"] is None and none["settled_by_step"] == [0, 0, 0]


@pytest.mark.parametrize("readout", ["last", "mean"])
def test_evaluate_reports_latency(readout):
    init = keras.initializers.RandomNormal(stddev=0.7, seed=1)
    model = keras.Sequential(
        [
            keras.Input((5,)),
            L.Dense(16, "relu", kernel_initializer=init, use_bias=False),
            L.Dense(4, kernel_initializer=init, use_bias=False),
        ]
    )
    # slow enough that samples settle at many different steps
    net = rateconv.convert(model, scale_firing_rates=100.0)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (64, 5)).astype(np.float32)
    y = model.predict(x, verbose=0).argmax(1)
    sim = rateconv.Simulator(net, progress=False, minibatch_size=16)
    ev = sim.evaluate(
        x, y, n_steps=15, readout=readout, return_outputs=True, probe_synapse=None
    )
    outs = ev.outputs
    if readout == "mean":
        outs = metrics.running_mean(outs)
    np.testing.assert_array_equal(ev.latency.steps, reference_settling(outs, y))
    assert ev.latency.n_steps == 15
    # settled by step t never exceeds the accuracy at t; equal at the end
    acc = 1 - ev.errors
    assert np.all(ev.latency.settled_by_step <= acc + 1e-12)
    assert ev.latency.settled_by_step[-1] == pytest.approx(ev.accuracy)
    # a run in which samples settle at different steps
    assert len(set(ev.latency.steps.tolist())) >= 3
    assert ev.to_dict()["latency"]["settled_by_step"][-1] == pytest.approx(ev.accuracy)


def test_rate_mode_has_no_latency():
    model = relu_mlp()
    x = np.random.default_rng(0).uniform(-1, 1, (8, 5)).astype(np.float32)
    sim = rateconv.Simulator(rateconv.convert(model), progress=False)
    ev = sim.evaluate(x, np.zeros(8, int), mode="rate")
    assert ev.latency is None and ev.to_dict()["latency"] is None
