"""normalize() and calibrate(): spiking closer to rate mode at few steps, rate
mode untouched, input network untouched, calibration data only."""

import dataclasses
import warnings

import keras
import numpy as np
import pytest

import rateconv
from rateconv.tuning import rate_activations
from tests.helpers import conv_net, images

L = keras.layers
DT = rateconv.DT


def blobs(n, seed):
    """Three classes: a bright 2x2 blob at one of three places, on noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.uniform(0.0, 0.3, (n, 8, 8, 1)).astype(np.float32)
    for i, c in enumerate(y):
        r, col = [(1, 1), (1, 5), (5, 3)][c]
        x[i, r : r + 2, col : col + 2, 0] += 0.7
    return x, y


@pytest.fixture(scope="module")
def trained():
    """A tiny ReLU conv net trained briefly, with train and held-out data."""
    keras.utils.set_random_seed(0)
    x_train, y_train = blobs(300, seed=0)
    x_test, y_test = blobs(64, seed=1)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            L.Conv2D(4, 3, activation="relu"),
            L.AveragePooling2D(2),
            L.Conv2D(8, 2, activation="relu"),
            L.Flatten(),
            L.Dense(16, activation="relu"),
            L.Dense(3),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x_train, y_train, epochs=5, batch_size=32, verbose=0)
    return model, x_train, x_test, y_test


def spiking_vs_rate(net, x, n_steps):
    """MSE between the mean unfiltered spiking output and rate mode."""
    sim = rateconv.Simulator(net, progress=False)
    rate = sim.predict(x, mode="rate")
    spikes = sim.predict(x, n_steps=n_steps, probe_synapse=None).mean(axis=1)
    return float(np.mean((spikes - rate) ** 2)), rate


def neurons_of(net):
    return [(s.name, s.rate_neuron, s.spiking_neuron) for s in net.stages]


# ---------------------------------------------------------------------------
# normalize
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("max_rate", [None, 200.0])
def test_normalize_keeps_rate_mode_and_maps_the_percentile(trained, max_rate):
    model, x_train, x_test, _ = trained
    net = rateconv.convert(model)
    before = neurons_of(net)
    normed = rateconv.normalize(net, x_train[:128], percentile=99.0, max_rate=max_rate)
    assert normed is not net
    assert neurons_of(net) == before  # the input network is not mutated

    rate0 = rateconv.Simulator(net, progress=False).predict(x_test, mode="rate")
    rate1 = rateconv.Simulator(normed, progress=False).predict(x_test, mode="rate")
    np.testing.assert_allclose(rate1, rate0, rtol=1e-5, atol=1e-5 * np.abs(rate0).max())

    # on the calibration data the percentile of each layer's firing rate (Hz)
    # is now the target: one spike per step, or max_rate
    target = 1 / DT if max_rate is None else max_rate
    names = [s.name for s in normed.neuron_stages]
    acts = rate_activations(normed, x_train[:128], names)
    for stage in normed.neuron_stages:
        hz = acts[stage.name] / stage.spiking_neuron.amplitude
        assert np.percentile(hz[hz > 0], 99.0) == pytest.approx(target, rel=1e-4)
        assert stage.spiking_neuron.gain == pytest.approx(
            stage.rate_neuron.gain, rel=1e-12
        )


def test_normalize_makes_few_step_spiking_usable(trained):
    model, x_train, x_test, _ = trained
    net = rateconv.convert(model)
    normed = rateconv.normalize(net, x_train[:128])
    # unnormalized, the run says its layers are silent; normalized, nothing
    with pytest.warns(rateconv.ActivityWarning, match="'conv2d.*silent"):
        mse_raw, rate = spiking_vs_rate(net, x_test, n_steps=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", rateconv.ActivityWarning)
        mse_norm, _ = spiking_vs_rate(normed, x_test, n_steps=8)
    # unnormalized, activations of order 1 are ~1 Hz: almost no spikes in 8 ms
    assert mse_raw > 0.9 * np.mean(rate**2)
    assert mse_norm < 0.15 * mse_raw


def test_normalize_scales_a_relu_bias_exactly():
    model = conv_net("relu")
    net = rateconv.convert(model)
    stage = net["a1"]
    biased = dataclasses.replace(
        stage,
        rate_neuron=dataclasses.replace(stage.rate_neuron, bias=-0.2),
        spiking_neuron=dataclasses.replace(stage.spiking_neuron, bias=-0.2),
    )
    net = dataclasses.replace(
        net, stages=[biased if s.name == "a1" else s for s in net.stages]
    )
    normed = rateconv.normalize(net, images(16))
    x = images(8, seed=3)
    rate0 = rateconv.Simulator(net, progress=False).predict(x, mode="rate")
    rate1 = rateconv.Simulator(normed, progress=False).predict(x, mode="rate")
    np.testing.assert_allclose(rate1, rate0, rtol=1e-5, atol=1e-5 * np.abs(rate0).max())
    assert normed["a1"].spiking_neuron.bias != -0.2


def test_normalize_skips_lif_layers_with_a_warning():
    model = conv_net("relu")
    net = rateconv.convert(model, swap_activations={"a2": rateconv.LIF()})
    with pytest.warns(UserWarning, match=r"leaves layers 'a2' \(LIF\) unchanged"):
        normed = rateconv.normalize(net, images(16))
    assert normed["a2"].spiking_neuron == net["a2"].spiking_neuron
    assert normed["a2"].rate_neuron == net["a2"].rate_neuron
    assert normed["a1"].spiking_neuron != net["a1"].spiking_neuron
    x = images(8, seed=3)
    rate0 = rateconv.Simulator(net, progress=False).predict(x, mode="rate")
    rate1 = rateconv.Simulator(normed, progress=False).predict(x, mode="rate")
    np.testing.assert_allclose(rate1, rate0, rtol=1e-5, atol=1e-5 * np.abs(rate0).max())
    with pytest.raises(ValueError, match="'a2' has LIF neurons"):
        rateconv.normalize(net, images(16), layers=["a2"])
    # naming the ReLU layer only: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        only = rateconv.normalize(net, images(16), layers="a1")
    assert only["a2"].spiking_neuron == net["a2"].spiking_neuron


def test_skipped_capped_and_leaky_layers_are_named_with_their_reason():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="relu", name="plain"),
            keras.layers.Dense(8, name="d2"),
            keras.layers.ReLU(max_value=6.0, name="capped"),
            keras.layers.Dense(8, name="d3"),
            keras.layers.LeakyReLU(negative_slope=0.1, name="leaky"),
            keras.layers.Dense(3),
        ]
    )
    net = rateconv.convert(model)
    x = np.random.default_rng(0).uniform(size=(8, 6)).astype("f4")
    with pytest.warns(UserWarning) as record:
        rateconv.normalize(net, x)
    message = " ".join(str(w.message) for w in record)
    assert "'capped' (SpikingClippedRectifiedLinear)" in message
    assert "'leaky' (SpikingLeakyRectifiedLinear)" in message
    assert "cap or negative slope" in message
    assert "LIF" in message and "scale-invariant" not in message


def test_normalize_and_calibrate_refuse_lif_only_networks_in_one_line():
    net = rateconv.convert(conv_net("softlif"))
    for fn, kwargs in [(rateconv.normalize, {}), (rateconv.calibrate, {"n_steps": 4})]:
        # the reason, once: no warning about skipped layers before it
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(ValueError) as info:
                fn(net, images(4), **kwargs)
        message = str(info.value)
        assert "\n" not in message
        assert message.startswith(f"{fn.__name__}() cannot help network")
        assert "'a1' (LIF), 'a2' (LIF)" in message
        assert "fixed by tau_rc and tau_ref" in message
        assert "calibration_data=x_train[:1000], n_steps=N" in message
    # a network without neurons at all
    linear = rateconv.convert(
        keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    )
    with pytest.raises(ValueError, match="it has no neuron layers"):
        rateconv.normalize(linear, np.ones((2, 3), np.float32))


def test_normalize_checks_its_arguments():
    net = rateconv.convert(conv_net("relu"))
    x = images(4)
    with pytest.raises(ValueError, match="percentile"):
        rateconv.normalize(net, x, percentile=0)
    with pytest.raises(ValueError, match="max_rate"):
        rateconv.normalize(net, x, max_rate=-1.0)
    with pytest.raises(ValueError, match="not a neuron layer"):
        rateconv.normalize(net, x, layers=["nope"])
    with pytest.raises(TypeError, match="SpikingNetwork"):
        rateconv.normalize(conv_net("relu"), x)


# ---------------------------------------------------------------------------
# calibrate
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("initial_state", "n_steps", "factor"),
    # zero initial voltage: the half-threshold shift alone helps a lot (output
    # MSE measured 17.2 -> 3.2); half initial voltage already has it, the rest
    # is smaller (1.50 -> 1.09)
    [("zero", 4, 0.5), ("half", 8, 0.9)],
)
def test_calibrate_brings_spiking_closer_to_rate(
    trained, initial_state, n_steps, factor
):
    model, x_train, x_test, _ = trained
    net = rateconv.normalize(
        rateconv.convert(model, initial_state=initial_state), x_train[:256]
    )
    before = neurons_of(net)
    calibrated, info = rateconv.calibrate(
        net, x_train[:256], n_steps=n_steps, return_info=True
    )
    assert neurons_of(net) == before  # not mutated
    assert list(info) == [s.name for s in net.neuron_stages]
    for layer in info.values():
        assert layer["mse_after"] <= layer["mse_before"]

    # held-out data: the calibration never saw it
    mse_before, rate0 = spiking_vs_rate(net, x_test, n_steps)
    mse_after, rate1 = spiking_vs_rate(calibrated, x_test, n_steps)
    assert mse_after < factor * mse_before
    # only the spiking neurons changed: rate mode is exactly the original
    np.testing.assert_array_equal(rate1, rate0)
    for old, new in zip(net.stages, calibrated.stages):
        assert new.rate_neuron == old.rate_neuron
        assert (new.op, new.synapse, new.readout) == (old.op, old.synapse, old.readout)
        assert new.initial_state == old.initial_state


def test_calibration_search_agrees_with_the_simulator(trained):
    """The numpy IF used in the search predicts what the simulator does."""
    model, x_train, _, _ = trained
    net = rateconv.normalize(rateconv.convert(model), x_train[:64])
    x_cal = x_train[:64]
    calibrated, info = rateconv.calibrate(
        net, x_cal, n_steps=6, batch_size=24, max_neurons=None, return_info=True
    )
    names = [s.name for s in net.neuron_stages]
    rates = rate_activations(net, x_cal, names)
    sim = rateconv.Simulator(calibrated, progress=False)
    _, layers = sim.predict(x_cal, n_steps=6, probe_synapse=None, probe_layers=names)
    for name in names:
        mse = np.mean((layers[name].mean(axis=1) - rates[name]) ** 2)
        assert mse == pytest.approx(info[name]["mse_after"], rel=1e-3, abs=1e-6)


def test_calibrate_scores_a_subset_of_a_large_layer(trained):
    """max_neurons scores a random subset: about the full layer's error."""
    model, x_train, _, _ = trained
    net = rateconv.normalize(rateconv.convert(model), x_train[:64])
    sizes = {s.name: s.n_neurons for s in net.neuron_stages}
    half = max(sizes.values()) // 2
    kwargs = dict(n_steps=4, shifts=[0, 0.5], gains=[1], return_info=True)
    _, full = rateconv.calibrate(net, x_train[:64], max_neurons=None, **kwargs)
    _, part = rateconv.calibrate(net, x_train[:64], max_neurons=half, **kwargs)
    for name in full:
        if sizes[name] > half:  # scored on a random half of the layer
            assert part[name]["mse_before"] != full[name]["mse_before"]
            assert part[name]["mse_before"] == pytest.approx(
                full[name]["mse_before"], rel=0.3
            )
        else:  # small enough to score whole
            assert part[name]["mse_before"] == full[name]["mse_before"]
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="max_neurons"):
            rateconv.calibrate(net, x_train[:8], n_steps=4, max_neurons=bad)


def test_calibrate_with_the_identity_grid_changes_nothing(trained):
    model, x_train, x_test, _ = trained
    net = rateconv.normalize(rateconv.convert(model), x_train[:64])
    same = rateconv.calibrate(net, x_train[:64], n_steps=4, shifts=[0], gains=[1])
    assert neurons_of(same) == neurons_of(net)
    assert same is not net and same.stages[1] is not net.stages[1]
    # stages are immutable: the ones calibration leaves alone are shared
    assert same.stages[0] is net.stages[0]


def test_calibrate_leaves_lif_layers_and_checks_arguments():
    model = conv_net("relu")
    net = rateconv.convert(
        model, swap_activations={"a2": rateconv.LIF()}, scale_firing_rates={"a1": 100}
    )
    x = images(8)
    with pytest.warns(UserWarning, match=r"'a2' \(LIF\)"):
        calibrated = rateconv.calibrate(net, x, n_steps=4)
    assert calibrated["a2"].spiking_neuron == net["a2"].spiking_neuron
    with pytest.raises(ValueError, match="n_steps"):
        rateconv.calibrate(net, x, n_steps=0, layers="a1")
    with pytest.raises(ValueError, match="gains"):
        rateconv.calibrate(net, x, n_steps=4, gains=[0.0], layers="a1")
    with pytest.raises(ValueError, match="LIF"):
        rateconv.calibrate(net, x, n_steps=4, layers=["a2"])


def test_subtract_reset_count_from_the_charge_matches_the_step_loop():
    """The closed form used for reset by subtraction equals the IF loop."""
    from rateconv.tuning._calibration import (
        _mean_spiking_output,
        _mean_subtract_output,
    )

    rng = np.random.default_rng(3)
    dt = 0.001
    neuron = rateconv.SpikingRectifiedLinear(amplitude=0.01, reset="subtract")
    # currents that go negative too: the voltage dips below zero and recovers
    currents = rng.normal(300.0, 900.0, size=(16, 50, 40)).astype(np.float32)
    v0 = rng.uniform(size=(50, 40)).astype(np.float32)
    looped = _mean_spiking_output(neuron, currents, v0, dt)
    closed = _mean_subtract_output(neuron, np.cumsum(currents * dt, axis=0), v0, dt)
    assert looped.max() > 0 and (looped == 0).any()
    # equal up to float rounding at exact integer crossings
    assert np.mean(looped == closed) > 0.999
    np.testing.assert_allclose(closed, looped, atol=neuron.amplitude / (dt * 16))
