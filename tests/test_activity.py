"""Silent and saturated spiking layers warn (`rateconv.ActivityWarning`).

`Simulator.predict` and `Simulator.evaluate` warn by default, naming the layer,
what was measured and the remedy; ``warn_activity=False`` and warning filters
turn it off.
"""

import warnings

import numpy as np
import pytest

import rateconv
from rateconv.simulator import SAMPLED_ROWS, Minibatch, RunSpec
from rateconv.simulator._activity import layer_findings
from rateconv.simulator._engines import engine_class
from tests.helpers import inputs_for, relu_mlp

ENGINES = ("time_batched", "step")


def _nets():
    model = relu_mlp()
    x = inputs_for(model, n=40)
    silent = rateconv.convert(model)  # a ReLU of about 1 is 1 Hz: no spikes
    healthy = rateconv.normalize(silent, x)
    saturated = rateconv.convert(model, scale_firing_rates=1e5)
    return x, silent, healthy, saturated


@pytest.fixture(scope="module")
def nets():
    return _nets()


def _labels(n):
    return np.zeros(n, np.int64)


@pytest.mark.parametrize("engine", ENGINES)
def test_silent_layers_warn_in_predict_and_evaluate(nets, engine):
    x, silent, _, _ = nets
    sim = rateconv.Simulator(silent, progress=False, engine=engine)
    with pytest.warns(rateconv.ActivityWarning) as record:
        sim.predict(x, n_steps=20)
    message = str(record[0].message)
    assert "layers 'd1', 'r2' and 'a3' are silent" in message
    assert "'d1' 0" in message and "spikes per sample" in message
    # predict counts the first rows of each minibatch only, and says so
    assert f"counted on {SAMPLED_ROWS} of the 40 samples" in message
    remedy = "rateconv.convert(model, calibration_data=x_train[:1000], n_steps=20)"
    assert remedy in message
    assert "scale_firing_rates" in message
    assert "warn_activity=False" in message
    with pytest.warns(rateconv.ActivityWarning, match="'d1'.*counted on 40 samples"):
        sim.evaluate(x, _labels(40), n_steps=20)
    # the warning points at the caller's line, so filters by module work
    assert record[0].filename == __file__
    assert issubclass(rateconv.ActivityWarning, UserWarning)


@pytest.mark.parametrize("engine", ENGINES)
def test_saturated_layers_warn(nets, engine):
    x, _, _, saturated = nets
    sim = rateconv.Simulator(saturated, progress=False, engine=engine)
    for run in (
        lambda: sim.predict(x, n_steps=20),
        lambda: sim.evaluate(x, _labels(40), n_steps=20),
    ):
        with pytest.warns(rateconv.ActivityWarning) as record:
            run()
        assert len(record) == 1
        message = str(record[0].message)
        assert "'d1'" in message and "saturated" in message
        assert "one spike per step or more" in message and "100%" in message
        assert "smaller scale" in message


def test_a_healthy_network_does_not_warn(nets):
    x, _, healthy, _ = nets
    for engine in ENGINES:
        sim = rateconv.Simulator(healthy, progress=False, engine=engine)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sim.predict(x, n_steps=30)
            ev = sim.evaluate(x, _labels(40), n_steps=30)
            # rate mode has no spikes to judge
            rateconv.Simulator(nets[1], progress=False).predict(x, mode="rate")
    assert min(a.spike_count for a in ev.activity.values()) > 40


def test_warnings_turn_off(nets):
    x, silent, _, saturated = nets
    for net in (silent, saturated):
        on = rateconv.Simulator(net, progress=False)
        off = rateconv.Simulator(net, progress=False, warn_activity=False)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            quiet = off.predict(x, n_steps=20)
            ev = off.evaluate(x, _labels(40), n_steps=20)
            # a warnings filter works too
            warnings.filterwarnings("ignore", category=rateconv.ActivityWarning)
            loud = on.predict(x, n_steps=20)
        np.testing.assert_array_equal(quiet, loud)
        assert ev.activity  # evaluate still reports the activity


def test_predict_counts_the_same_rows_in_both_engines(nets):
    x, _, healthy, _ = nets
    engines = [engine_class(e)(healthy, dt=rateconv.DT) for e in ENGINES]

    def counts(engine, n_valid, mode):
        mb = Minibatch([x[:20]], start=0, n_valid=n_valid)
        return engine.run_batch(mb, RunSpec(n_steps=12, count_spikes=mode)).counts

    for n_valid in (20, 10):
        a, b = (counts(e, n_valid, "sampled") for e in engines)
        assert set(a) == {"d1", "r2", "a3"}
        for name in a:
            np.testing.assert_allclose(a[name], b[name], rtol=1e-6)
        every = counts(engines[0], n_valid, "all")
        if n_valid > SAMPLED_ROWS:  # the first rows only
            assert every["a3"].sum() > a["a3"].sum() > 0
        else:  # every valid row, padding excluded
            for name in a:
                np.testing.assert_allclose(a[name], every[name], rtol=1e-6)
    assert counts(engines[0], 20, None) == {} == counts(engines[1], 20, None)
    with pytest.raises(ValueError, match="count_spikes"):
        RunSpec(count_spikes="some")
    assert RunSpec(count_spikes=False).count_spikes is None
    assert RunSpec(count_spikes=True).count_spikes == "all"


def test_the_thresholds():
    n_samples, n_steps = 4, 10
    # under one spike per sample in the whole layer is silent; one is not
    silent, saturated = layer_findings(
        {"a": np.array([3.0, 0.0]), "b": np.array([2.0, 2.0])}, n_samples, n_steps
    )
    assert silent == [("a", 0.75)] and saturated == []
    # saturated: more than half of the active neurons at >= 1 spike per step
    full = n_samples * n_steps
    counts = {
        "half": np.array([full, full, 1, 1, 0, 0]),
        "most": np.array([full, full, full * 2, 1, 0, 0]),
    }
    silent, saturated = layer_findings(counts, n_samples, n_steps)
    assert silent == [] and saturated == [("most", 0.75)]
    # under 10 steps a count cannot tell one spike per step from less
    short = {"most": counts["most"] * 9 / 10}
    assert layer_findings(short, n_samples, 9) == ([], [])
    assert layer_findings({"a": np.zeros(3)}, 0, n_steps) == ([], [])
