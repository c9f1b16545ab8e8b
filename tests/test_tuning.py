"""Conversion for a step budget: rateconv.convert(model, calibration_data, n_steps)."""

import warnings

import keras
import numpy as np
import pytest

import rateconv
from rateconv import converter
from rateconv.tuning import rate_activations
from tests.helpers import conv_net, images


def trained_like_relu_net(seed=0):
    """A ReLU net whose activations are about 1: silent when plainly converted."""
    model = conv_net("relu", seed=seed)
    return model


@pytest.fixture(scope="module")
def tuned():
    model = trained_like_relu_net()
    x_cal = images(64, seed=1)
    result = rateconv.tune(model, x_cal, n_steps=8, max_scored=64)
    return model, x_cal, result


def test_without_calibration_data_it_is_the_plain_conversion():
    model = conv_net()
    a = rateconv.convert(model)
    b = converter.build_network(model)
    assert [type(s.spiking_neuron) for s in a.stages] == [
        type(s.spiking_neuron) for s in b.stages
    ]
    assert a.probe_synapse == rateconv.Lowpass(0.1) and a.readout == "last"
    with pytest.raises(ValueError, match="n_steps needs calibration_data"):
        rateconv.convert(model, n_steps=10)


def test_tuned_network_keeps_rate_mode_equal_to_keras(tuned):
    model, _, result = tuned
    x = images(10, seed=5)
    rate = rateconv.Simulator(result.network, progress=False).predict(x, mode="rate")
    np.testing.assert_allclose(rate, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_tuning_makes_a_silent_conversion_agree_with_keras(tuned):
    model, x_cal, result = tuned
    x = images(40, seed=7)
    keras_class = np.argmax(model.predict(x, verbose=0), -1)
    plain = rateconv.Simulator(rateconv.convert(model), progress=False)
    with pytest.warns(rateconv.ActivityWarning, match="'a1' and 'a2' are silent"):
        plain_ev = plain.evaluate(x, keras_class, n_steps=8)
    with warnings.catch_warnings():  # the remedy the warning names works
        warnings.simplefilter("error", rateconv.ActivityWarning)
        tuned_ev = rateconv.Simulator(result.network, progress=False).evaluate(
            x, keras_class, n_steps=8
        )
    # plainly converted, an activation of ~1 is ~1 Hz: nothing reaches the output
    assert max(plain_ev.firing_rates.values()) < 20
    assert tuned_ev.accuracy > plain_ev.accuracy + 0.3
    assert tuned_ev.accuracy >= 0.8
    assert result.agreement == max(c["score"] for c in result.candidates)
    # every scaled layer fires its percentile rate near the target per step
    assert set(result.options["scales"]) == {"a1", "a2"}


def test_the_network_carries_its_readout_and_evaluate_uses_it(tuned):
    _, _, result = tuned
    net = result.network
    assert net.probe_synapse == result.options["probe_synapse"]
    assert net.readout == result.options["readout"]
    assert net.tuning == result.options
    x, y = images(12, seed=3), np.arange(12) % 5
    sim = rateconv.Simulator(net, progress=False)
    default = sim.evaluate(x, y, n_steps=8)
    explicit = sim.evaluate(
        x, y, n_steps=8, probe_synapse=net.probe_synapse, readout=net.readout
    )
    np.testing.assert_array_equal(default.errors, explicit.errors)
    # an explicit probe_synapse still wins
    out_default = sim.predict(x, n_steps=8, readout="last")
    out_none = sim.predict(x, n_steps=8, probe_synapse=None, readout="last")
    assert (net.probe_synapse is None) == np.array_equal(out_default, out_none)


@pytest.mark.filterwarnings("ignore::rateconv.ActivityWarning")  # tiny, quiet net
def test_predict_mean_readout_is_the_running_mean():
    net = rateconv.convert(conv_net(), scale_firing_rates=50)
    sim = rateconv.Simulator(net, progress=False)
    x = images(3)
    last = sim.predict(x, n_steps=6, probe_synapse=None, readout="last")
    mean = sim.predict(x, n_steps=6, probe_synapse=None, readout="mean")
    expected = np.cumsum(last, axis=1) / np.arange(1, 7)[None, :, None]
    np.testing.assert_allclose(mean, expected, rtol=1e-6)


def test_explicit_options_are_kept_not_searched():
    model = conv_net()
    result = rateconv.tune(
        model, images(32, seed=1), n_steps=4, initial_state="zero", synapse=None
    )
    net = result.network
    assert all(s.initial_state == "zero" for s in net.neuron_stages)
    assert all(s.synapse is None for s in net.neuron_stages)
    assert {c["initial_state"] for c in result.candidates} == {"zero"}


def test_soft_lif_network_is_tuned_exactly_in_rate_mode():
    model = conv_net("softlif")
    x_cal = images(32, seed=2)
    net = rateconv.convert(model, calibration_data=x_cal, n_steps=6)
    x = images(5, seed=9)
    rate = rateconv.Simulator(net, progress=False).predict(x, mode="rate")
    np.testing.assert_allclose(rate, model.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


def test_bad_arguments():
    model = conv_net()
    with pytest.raises(ValueError, match="n_steps"):
        rateconv.convert(model, calibration_data=images(4), n_steps=0)
    with pytest.raises(ValueError, match="percentile"):
        rateconv.tune(model, images(4), n_steps=3, percentile=0)
    with pytest.raises(ValueError, match="shape"):
        rateconv.convert(model, calibration_data=np.zeros((4, 3, 3, 1)), n_steps=3)
    bad = images(4)
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rateconv.convert(model, calibration_data=bad, n_steps=3)


def test_multi_output_model_scores_the_first_output():
    inp = keras.Input((6,))
    h = keras.layers.Dense(8, activation="relu")(inp)
    out1 = keras.layers.Dense(3, name="o1")(h)
    out2 = keras.layers.Dense(2, name="o2")(h)
    model = keras.Model(inp, [out1, out2])
    x = np.random.default_rng(0).uniform(size=(20, 6)).astype("float32")
    net = rateconv.convert(model, calibration_data=x, n_steps=5)
    rate = rateconv.Simulator(net, progress=False).predict(x, mode="rate")
    for a, b in zip(rate, model.predict(x, verbose=0)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_convert_options_rebuild_the_tuned_network(tuned):
    model, _, result = tuned
    again = rateconv.convert(model, **result.convert_options)
    assert again.probe_synapse == result.network.probe_synapse
    assert again.readout == result.network.readout
    x = images(6, seed=4)
    a = rateconv.Simulator(result.network, progress=False).predict(x, n_steps=8)
    b = rateconv.Simulator(again, progress=False).predict(x, n_steps=8)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_mixed_relu_and_soft_lif_network_is_tuned_per_layer():
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(
                4, 3, bias_initializer=keras.initializers.Constant(0.3)
            ),
            keras.layers.ReLU(name="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(12, bias_initializer=keras.initializers.Constant(0.2)),
            rateconv.SoftLIF(amplitude=0.01, max_rate=200, name="lif"),
            keras.layers.Dense(5),
        ]
    )
    x_cal = images(48, seed=11)
    result = rateconv.tune(model, x_cal, n_steps=10, max_scored=48)
    net = result.network
    assert isinstance(net["relu"].spiking_neuron, rateconv.SpikingRectifiedLinear)
    assert isinstance(net["lif"].spiking_neuron, rateconv.LIF)
    assert set(result.options["scales"]) == {"relu", "lif"}
    # each layer's 99.9th percentile rate becomes its target spikes per step;
    # the LIF layer fires at most one spike per step, so its target is capped
    base = rateconv.convert(model)
    targets = {
        "relu": result.options["target"],
        "lif": min(result.options["target"], 1),
    }
    for name, target in targets.items():
        hz = (
            rate_activations(base, x_cal, [name])[name]
            / base[name].rate_neuron.amplitude
        )
        p = np.percentile(hz[hz > 0], 99.9)
        k = result.options["scales"][name]
        assert k * p * rateconv.DT == pytest.approx(target, rel=1e-5)
    x = images(8, seed=12)
    rate = rateconv.Simulator(net, progress=False).predict(x, mode="rate")
    np.testing.assert_allclose(rate, model.predict(x, verbose=0), rtol=1e-4, atol=1e-5)
    assert result.agreement >= 0.7


def test_one_convert_for_the_function_and_the_facade():
    """rateconv.convert, rateconv.tuning.convert and Converter take the same options."""
    import inspect

    assert rateconv.convert is rateconv.tuning.convert
    assert not hasattr(converter, "convert")  # the data-free core is build_network
    model = trained_like_relu_net()
    x_cal = images(32, seed=1)
    options = dict(calibration_data=x_cal, n_steps=6, max_scored=32)
    by_function = rateconv.convert(model, **options)
    facade = rateconv.Converter(model, **options)
    # the same conversion: same neurons, options and readout (the Keras
    # layers inside the stages are the model's, rebuilt per call)
    for a, b in zip(facade.net.stages, by_function.stages, strict=True):
        assert (a.name, a.spiking_neuron, a.rate_neuron, a.initial_state) == (
            b.name,
            b.spiking_neuron,
            b.rate_neuron,
            b.initial_state,
        )
    assert (facade.net.probe_synapse, facade.net.readout) == (
        by_function.probe_synapse,
        by_function.readout,
    )
    assert facade.options == options
    assert facade.verify(images(4, seed=2)) is True
    doc = inspect.getdoc(rateconv.Converter)
    assert "calibration_data" in doc and "n_steps" in doc
