import keras
import numpy as np
import pytest

import rateconv
from tests.helpers import conv_net, images


@pytest.mark.filterwarnings("ignore::rateconv.ActivityWarning")  # tiny, quiet net
@pytest.mark.parametrize("activation", ["relu", "softlif"])
@pytest.mark.parametrize("synapse", [None, 0.005])
def test_engines_agree(activation, synapse):
    model = conv_net(activation)
    net = rateconv.convert(
        model,
        scale_firing_rates=50 if activation == "relu" else 1,
        synapse=synapse,
    )
    x = images()
    a = rateconv.Simulator(net, engine="time_batched").predict(x, n_steps=40)
    b = rateconv.Simulator(net, engine="step").predict(x, n_steps=40)
    assert np.abs(a).max() > 0
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore::rateconv.ActivityWarning")  # tiny, quiet net
def test_chunking_and_minibatching_do_not_change_results():
    net = rateconv.convert(conv_net(), scale_firing_rates=50)
    x = images(7)
    ref = rateconv.Simulator(net).evaluate(
        x, np.arange(7) % 5, n_steps=25, return_outputs=True
    )
    # tiny chunks (1-2 steps) and a minibatch that leaves a padded remainder
    small = rateconv.Simulator(net, minibatch_size=3, max_chunk_elements=700)
    other = small.evaluate(x, np.arange(7) % 5, n_steps=25, return_outputs=True)
    np.testing.assert_allclose(other.outputs, ref.outputs, rtol=1e-5, atol=1e-6)
    for name in ref.activity:
        assert other.activity[name].spike_count == ref.activity[name].spike_count
        np.testing.assert_allclose(other.activity[name].rates, ref.activity[name].rates)


@pytest.mark.filterwarnings("ignore::rateconv.ActivityWarning")  # tiny, quiet net
def test_prefix_consistency():
    net = rateconv.convert(conv_net(), scale_firing_rates=20)
    x = images(20, seed=1)
    y = np.argmax(rateconv.Simulator(net).predict(x, mode="rate"), axis=1)
    y[::3] = (y[::3] + 1) % 5  # some errors to count
    sim = rateconv.Simulator(net)
    full = sim.evaluate(x, y, n_steps=30)
    assert full.errors.shape == (30,)
    for n in (1, 5, 17):
        assert sim.evaluate(x, y, n_steps=n).error == full.errors[n - 1]


@pytest.mark.parametrize("activation", ["relu", "softlif"])
def test_long_run_mean_matches_rate_mode(activation):
    model = conv_net(activation)
    scale = 100 if activation == "relu" else 1
    # LIF is nonlinear in its input, so raw spike trains (amplitude / dt
    # impulses) drive it above its rate curve; a 10 ms connection synapse
    # smooths them enough for the mean to match
    synapse = None if activation == "relu" else 0.01
    net = rateconv.convert(model, scale_firing_rates=scale, synapse=synapse)
    x = images(4)
    sim = rateconv.Simulator(net)
    rate = sim.predict(x, mode="rate")
    spikes = sim.predict(x, n_steps=2000, probe_synapse=None)
    mean = spikes.mean(axis=1)
    # within 2% of the output range
    assert np.abs(mean - rate).max() < 0.02 * np.abs(rate).max()


def test_spiking_max_pool_tracks_rate_max():
    model = conv_net("relu", pool="max")
    net = rateconv.convert(model, scale_firing_rates=100)
    x = images(4)
    sim = rateconv.Simulator(net)
    rate = sim.predict(x, mode="rate")
    np.testing.assert_allclose(rate, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    mean = sim.predict(x, n_steps=2000, probe_synapse=None).mean(axis=1)
    assert np.abs(mean - rate).max() < 0.05 * np.abs(rate).max()
    step = rateconv.Simulator(net, engine="step").predict(x, n_steps=30)
    np.testing.assert_allclose(sim.predict(x, n_steps=30), step, rtol=1e-5, atol=1e-6)


def test_poisson_encoding_seeded_and_unbiased():
    inp = keras.Input((50,))
    model = keras.Model(inp, keras.layers.Activation("linear")(inp))
    net = rateconv.convert(model)
    sim = rateconv.Simulator(net)
    x = np.linspace(0, 1, 50, dtype=np.float32)[None].repeat(3, 0)
    a = sim.predict(x, n_steps=400, probe_synapse=None, input_encoding="poisson")
    b = sim.predict(x, n_steps=400, probe_synapse=None, input_encoding="poisson")
    c = sim.predict(
        x, n_steps=400, probe_synapse=None, input_encoding="poisson", seed=1
    )
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert set(np.unique(a)) <= {0.0, 1.0}
    np.testing.assert_allclose(a.mean(axis=(0, 1)), x[0], atol=0.06)
    # chunked in time, the same spikes
    d = rateconv.Simulator(net, max_chunk_elements=300).predict(
        x, n_steps=400, probe_synapse=None, input_encoding="poisson"
    )
    np.testing.assert_array_equal(a, d)


@pytest.mark.filterwarnings("ignore::rateconv.ActivityWarning")  # tiny, quiet net
def test_poisson_engines_agree():
    net = rateconv.convert(conv_net(), scale_firing_rates=50)
    x = images()
    kw = dict(n_steps=20, input_encoding="poisson", seed=3)
    a = rateconv.Simulator(net).predict(x, **kw)
    b = rateconv.Simulator(net, engine="step").predict(x, **kw)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore::rateconv.ActivityWarning")  # tiny, quiet net
def test_probe_synapse_filters_output():
    net = rateconv.convert(conv_net(), scale_firing_rates=50)
    x = images(3)
    sim = rateconv.Simulator(net)
    raw = sim.predict(x, n_steps=30, probe_synapse=None)
    filt = sim.predict(x, n_steps=30, probe_synapse=0.01)
    expected = rateconv.Lowpass(0.01).filter(raw, axis=1)
    np.testing.assert_allclose(filt, expected, rtol=1e-4, atol=1e-5)
    alpha = sim.predict(x, n_steps=30, probe_synapse=rateconv.Alpha(0.01))
    np.testing.assert_allclose(
        alpha, rateconv.Alpha(0.01).filter(raw, axis=1), rtol=1e-4, atol=1e-5
    )


@pytest.mark.filterwarnings("ignore::rateconv.ActivityWarning")  # tiny, quiet net
def test_probe_layers_and_counts():
    net = rateconv.convert(conv_net(), scale_firing_rates=50)
    x = images(5)
    sim = rateconv.Simulator(net)
    _, layers = sim.predict(x, n_steps=20, probe_layers=["a1", "a2"])
    assert layers["a1"].shape == (5, 20, 6, 6, 4)
    ev = sim.evaluate(x, np.zeros(5), n_steps=20)
    amp = net["a1"].spiking_neuron.amplitude
    spikes = layers["a1"].sum() * rateconv.DT / amp
    assert ev.activity["a1"].spike_count == pytest.approx(spikes, rel=1e-5)
    assert ev.activity["a1"].rates.shape == (6 * 6 * 4,)
    assert ev.firing_rates["a1"] == pytest.approx(spikes / (5 * 20 * 0.001 * 144))


def test_population_coded_readout():
    inp = keras.Input((6,))
    model = keras.Model(inp, keras.layers.Activation("linear")(inp))
    sim = rateconv.Simulator(rateconv.convert(model))
    # 3 classes x 2 neurons; the class with the larger group sum wins
    x = np.array([[1, 1, 0, 1.5, 0, 0], [0, 0, 0.9, 0, 1, 0.5]], np.float32)
    ev = sim.evaluate(x, [1, 2], mode="rate", population_size=2)
    assert ev.error == 0.5  # sample 0: groups (2, 1.5, 0) -> class 0, wrong
    with pytest.raises(ValueError, match="population_size"):
        sim.evaluate(x, [1, 2], mode="rate", population_size=4)


def test_labels_outside_the_classes_are_an_error():
    inp = keras.Input((6,))
    model = keras.Model(inp, keras.layers.Activation("linear")(inp))
    sim = rateconv.Simulator(rateconv.convert(model), progress=False)
    x = np.ones((4, 6), np.float32)
    assert sim.evaluate(x, [0, 5, 3, 5], mode="rate").n_samples == 4
    with pytest.raises(ValueError, match=r"y must hold class indices in \[0, 6\)"):
        sim.evaluate(x, [0, 6, 3, 6], mode="rate")
    # negative labels too; the message names the bad values and how many
    with pytest.raises(ValueError, match=r"3 label\(s\) outside it, values \[-1, 7\]"):
        sim.evaluate(x, [-1, 7, 3, -1], n_steps=2)
    # population-coded outputs: 6 outputs / 2 per class are 3 classes
    with pytest.raises(
        ValueError, match=r"\[0, 3\) \(6 outputs / population_size 2\).*\[3\]"
    ):
        sim.evaluate(x, [0, 1, 2, 3], mode="rate", population_size=2)
    with pytest.raises(ValueError, match="whole-number class indices.*2.5"):
        sim.evaluate(x, [0, 1, 2.5, 1], mode="rate")
    assert sim.evaluate(x, np.array([0, 1, 2, 1.0]), mode="rate").n_samples == 4
    with pytest.raises(ValueError, match=r"\[0, 6\)"):
        rateconv.metrics.classification_errors(x, [0, 1, 2, 9])


def test_rate_mode_with_softmax_output():
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="softmax")]
    )
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    sim = rateconv.Simulator(model)
    np.testing.assert_allclose(
        sim.predict(x, mode="rate"), model.predict(x, verbose=0), rtol=1e-5
    )
    out = sim.predict(x, n_steps=3)
    np.testing.assert_allclose(out.sum(axis=-1), 1, rtol=1e-5)


def test_deterministic():
    net = rateconv.convert(conv_net("softlif"))
    x = images()
    a = rateconv.Simulator(net).predict(x, n_steps=15)
    b = rateconv.Simulator(net).predict(x, n_steps=15)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(x=np.zeros((2, 8, 8))), "shape"),
        (dict(x=np.zeros((2, 9, 8, 1))), "shape"),
        (dict(x=np.full((2, 8, 8, 1), np.nan)), "NaN"),
        (dict(n_steps=0), "n_steps"),
        (dict(n_steps=2.5), "n_steps"),
        (dict(mode="spiky"), "mode"),
        (dict(input_encoding="rank"), "input_encoding"),
        (dict(x=np.full((2, 8, 8, 1), 3.0), input_encoding="poisson"), r"\[0, 1\]"),
        (dict(probe_synapse=-0.1), "probe_synapse"),
        (dict(x=[np.zeros((2, 8, 8, 1))] * 2), "input"),
    ],
)
def test_bad_input(kwargs, match):
    sim = rateconv.Simulator(conv_net())
    kwargs = {"x": np.zeros((2, 8, 8, 1), np.float32), **kwargs}
    with pytest.raises(ValueError, match=match):
        sim.predict(**kwargs)


def test_bad_labels_and_options():
    sim = rateconv.Simulator(conv_net())
    with pytest.raises(ValueError, match="one label per input"):
        sim.evaluate(images(4), [0, 1, 2])
    with pytest.raises(ValueError, match="minibatch_size"):
        rateconv.Simulator(conv_net(), minibatch_size=0)
    with pytest.raises(ValueError, match="engine"):
        rateconv.Simulator(conv_net(), engine="gpu")
    with pytest.raises(TypeError, match="SpikingNetwork"):
        rateconv.Simulator("model.keras")
    with pytest.raises(ValueError, match="probe_layers"):
        sim.predict(images(2), probe_layers=["nope"])


def test_bfloat16_precision_is_close_to_float32():
    net = rateconv.convert(conv_net("softlif"))
    x = images(20)
    a = rateconv.Simulator(net).predict(x, n_steps=60)
    b = rateconv.Simulator(net, precision="bfloat16").predict(x, n_steps=60)
    assert not np.array_equal(a, b)  # it really ran in another precision
    # rounding may move a spike by a step; the filtered output barely changes
    scale = np.abs(a).max()
    assert np.abs(a - b).mean() < 0.02 * scale


def test_bfloat16_needs_time_batched_engine():
    with pytest.raises(ValueError, match="precision"):
        rateconv.Simulator(
            rateconv.convert(conv_net()), engine="step", precision="bfloat16"
        )
    with pytest.raises(ValueError, match="precision"):
        rateconv.Simulator(rateconv.convert(conv_net()), precision="float16")


@pytest.mark.filterwarnings("ignore::rateconv.ActivityWarning")  # tiny, quiet net
def test_mean_readout_classifies_from_the_running_mean():
    net = rateconv.convert(conv_net(), scale_firing_rates=50)
    sim = rateconv.Simulator(net)
    x = images(12)
    y = np.arange(12) % 5
    out = sim.predict(x, n_steps=15, probe_synapse=None)
    res = sim.evaluate(x, y, n_steps=15, probe_synapse=None, readout="mean")
    running = np.cumsum(out, axis=1) / np.arange(1, 16)[:, None]
    expected = np.mean(np.argmax(running, -1) != y[:, None], axis=0)
    np.testing.assert_allclose(res.errors, expected)
    last = sim.evaluate(x, y, n_steps=15, probe_synapse=None)
    np.testing.assert_allclose(
        last.errors, np.mean(np.argmax(out, -1) != y[:, None], axis=0)
    )
    with pytest.raises(ValueError, match="readout"):
        sim.evaluate(x, y, readout="max")


def test_predict_without_spike_counting_gives_the_evaluate_outputs():
    """predict skips the spike counts evaluate keeps: same outputs either way."""
    net = rateconv.convert(conv_net("softlif"), synapse=0.005, initial_state="uniform")
    sim = rateconv.Simulator(net, progress=False)
    x = images(5)
    y = np.arange(5) % 3
    ev = sim.evaluate(x, y, n_steps=7, return_outputs=True)
    np.testing.assert_array_equal(sim.predict(x, n_steps=7), ev.outputs)
    assert all(a.spike_count > 0 for a in ev.activity.values())


def test_simulator_is_a_context_manager():
    net = rateconv.convert(conv_net(), scale_firing_rates=50)
    x = images(3)
    with rateconv.Simulator(net, progress=False, warn_activity=False) as sim:
        inside = sim.predict(x, n_steps=5)
    # after the block the graphs are gone, and the simulator still works
    np.testing.assert_array_equal(sim.predict(x, n_steps=5), inside)
