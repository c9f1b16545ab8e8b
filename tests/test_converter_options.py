"""convert()'s neuron and pooling options: the activation -> neuron mapping,
swap_activations, scale_firing_rates, synapse, max_to_avg_pool, and the errors
of activations without a spiking equivalent."""

import warnings

import keras
import numpy as np
import pytest

import rateconv
from tests.helpers import (
    assert_rate_equals_predict,
    inputs_for,
    randomize,
    relu_mlp,
    softlif_mlp,
)

L = keras.layers


# ---------------------------------------------------------------------------
# Neurons: mapping, swapping, scaling, synapses
# ---------------------------------------------------------------------------


def test_relu_maps_to_spiking_rectified_linear():
    net = rateconv.convert(relu_mlp())
    for name in ("d1", "r2", "a3"):
        stage = net[name]
        assert type(stage.spiking_neuron) is rateconv.SpikingRectifiedLinear
        assert type(stage.rate_neuron) is rateconv.RectifiedLinear
    for name in ("d2", "d3", "out"):
        assert net[name].spiking_neuron is None
        assert net[name].rate_neuron is None
    assert [s.name for s in net.neuron_stages] == ["d1", "r2", "a3"]
    # the stage op has no activation left: it is applied by the neuron
    assert net["d1"].op.get_config()["activation"] == "linear"


def test_softlif_maps_to_lif_with_same_parameters():
    model = softlif_mlp()
    layer = model.get_layer("s1")
    net = assert_rate_equals_predict(model)
    neuron = net["s1"].spiking_neuron
    assert type(neuron) is rateconv.LIF
    expected_gain, expected_bias = rateconv.lif_gain_bias(
        120, -0.3, tau_rc=0.03, tau_ref=0.003
    )
    assert neuron.tau_rc == 0.03
    assert neuron.tau_ref == 0.003
    assert neuron.amplitude == 0.01
    assert neuron.gain == pytest.approx(expected_gain)
    assert neuron.bias == pytest.approx(expected_bias)
    assert (neuron.gain, neuron.bias) == (layer.neuron.gain, layer.neuron.bias)


def _numpy_lif_rate(j, tau_rc, tau_ref, amplitude):
    out = np.zeros_like(j, dtype=np.float64)
    above = j > 1
    out[above] = amplitude / (tau_ref + tau_rc * np.log1p(1 / (j[above] - 1)))
    return out


def _numpy_mlp(model, x, hidden):
    """Forward pass of a stack of Dense layers, ``hidden(pre)`` on all but the last."""
    h = x.astype(np.float64)
    for i, layer in enumerate(model.layers):
        w, b = layer.get_weights()
        h = h @ w + b
        if i < len(model.layers) - 1:
            h = hidden(h)
    return h


def test_swap_activations_by_activation_name():
    keras.utils.set_random_seed(0)
    model = randomize(
        keras.Sequential(
            [
                keras.Input((5,)),
                L.Dense(6, activation="relu", name="h1"),
                L.Dense(6, activation="relu", name="h2"),
                L.Dense(3, name="out"),
            ]
        )
    )
    lif = rateconv.LIF(amplitude=0.01)
    net = rateconv.convert(model, swap_activations={"relu": lif})
    for name in ("h1", "h2"):
        assert net[name].spiking_neuron == lif
        assert type(net[name].rate_neuron) is rateconv.LIFRate
        assert net[name].rate_neuron.amplitude == 0.01
    # rate mode: an independent numpy forward pass with the LIF rate curve
    x = 3 * inputs_for(model, n=8)
    expected = _numpy_mlp(model, x, lambda j: _numpy_lif_rate(j, 0.02, 0.002, 0.01))
    actual = rateconv.Simulator(net, progress=False).predict(x, mode="rate")
    assert np.abs(expected).max() > 0
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-6)
    # ... which is not what the Keras model computes
    assert not np.allclose(actual, model.predict(x, verbose=0), atol=1e-3)


def test_swap_activations_by_layer_name():
    model = relu_mlp()
    lif = rateconv.LIF(amplitude=0.02, tau_rc=0.05)
    net = rateconv.convert(model, swap_activations={"r2": lif, "d1": lif})
    assert net["d1"].spiking_neuron == lif
    assert net["r2"].spiking_neuron == lif
    assert type(net["r2"].rate_neuron) is rateconv.LIFRate
    assert type(net["a3"].spiking_neuron) is rateconv.SpikingRectifiedLinear


def test_swap_activations_softlif_and_linear_layer():
    model = softlif_mlp()
    relu = rateconv.SpikingRectifiedLinear()
    net = rateconv.convert(model, swap_activations={"softlif": relu})
    assert net["s1"].spiking_neuron == relu
    assert type(net["s1"].rate_neuron) is rateconv.RectifiedLinear
    # a layer name puts a neuron on a linear layer
    net = rateconv.convert(model, swap_activations={"d1": relu})
    assert net["d1"].spiking_neuron == relu


def test_swap_activations_makes_tanh_convertible():
    model = keras.Sequential(
        [keras.Input((3,)), L.Dense(4, activation="tanh", name="t"), L.Dense(2)]
    )
    lif = rateconv.LIF()
    assert rateconv.convert(model, swap_activations={"tanh": lif})["t"].spiking_neuron
    assert rateconv.convert(model, swap_activations={"t": lif})["t"].spiking_neuron


def test_unused_swap_activations_keys_are_an_error():
    model = relu_mlp()
    lif = rateconv.LIF()
    with pytest.raises(ValueError) as info:
        rateconv.convert(model, swap_activations={"rleu": lif, "r2": lif, "x9": lif})
    message = str(info.value)
    # the unused keys, then every key that could have matched
    assert "swap_activations keys ['rleu', 'x9'] match no layer" in message
    assert "layer names ['d1', 'd2', 'r2', 'd3', 'a3', 'out']" in message
    assert "activation names ['relu', 'linear']" in message
    # a key for an activation the model lacks is unused too
    with pytest.raises(ValueError, match=r"\['softlif'\]"):
        rateconv.convert(model, swap_activations={"softlif": lif, "relu": lif})
    # Converter converts the same way
    with pytest.raises(ValueError, match="rleu"):
        rateconv.Converter(model, swap_activations={"rleu": lif})


def test_swap_activations_rejects_non_neurons():
    model = relu_mlp()
    with pytest.raises(TypeError, match="swap_activations"):
        rateconv.convert(model, swap_activations={"relu": "tanh"})
    with pytest.raises(TypeError, match="s1"):
        rateconv.convert(softlif_mlp(), swap_activations={"s1": keras.ops.relu})


def test_scale_firing_rates_relu_is_exact_in_rate_mode():
    model = relu_mlp()
    net = rateconv.convert(model, scale_firing_rates=100)
    for stage in net.neuron_stages:
        assert stage.spiking_neuron.gain == 100
        assert stage.spiking_neuron.amplitude == pytest.approx(0.01)
        assert stage.rate_neuron.gain == 100
    assert_rate_equals_predict(model, net)


def test_scale_firing_rates_softlif_speeds_up_time_constants_exactly():
    model = softlif_mlp()
    original = rateconv.convert(model)["s1"].spiking_neuron
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # exact, so no warning
        net = rateconv.convert(model, scale_firing_rates=4)
    neuron = net["s1"].spiking_neuron
    assert neuron.amplitude == pytest.approx(original.amplitude / 4)
    assert neuron.tau_rc == pytest.approx(original.tau_rc / 4)
    assert neuron.tau_ref == pytest.approx(original.tau_ref / 4)
    assert (neuron.gain, neuron.bias) == (original.gain, original.bias)
    x = np.random.default_rng(0).normal(size=(16,) + model.input_shape[1:])
    x = x.astype(np.float32)
    rate = rateconv.Simulator(net).predict(x, mode="rate")
    np.testing.assert_allclose(rate, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_scale_firing_rates_warns_where_the_curve_changes():
    model = keras.Sequential(
        [keras.Input((3,)), L.Dense(4), L.Activation("tanh"), L.Dense(2)]
    )
    tanh_like = rateconv.RectifiedLinear(bias=0.5)  # ReLU with bias: not invariant
    with pytest.warns(UserWarning, match="changes its rate curve"):
        rateconv.convert(
            model, swap_activations={"tanh": tanh_like}, scale_firing_rates=10
        )


def test_scale_firing_rates_dict_applies_to_named_layers_only():
    model = relu_mlp()
    net = rateconv.convert(model, scale_firing_rates={"r2": 10, "d2": 5})
    assert net["r2"].spiking_neuron.gain == 10
    assert net["r2"].spiking_neuron.amplitude == pytest.approx(0.1)
    assert net["d1"].spiking_neuron.gain == 1
    assert net["a3"].spiking_neuron.gain == 1
    assert net["d2"].spiking_neuron is None  # no neuron: nothing to scale
    assert_rate_equals_predict(model, net)


@pytest.mark.parametrize(
    "value, match",
    [
        ({"nope": 2}, "nope"),
        (0, "positive"),
        (-3.0, "positive"),
        ("10", "positive"),
    ],
)
def test_scale_firing_rates_bad_values(value, match):
    with pytest.raises(ValueError, match=match):
        rateconv.convert(relu_mlp(), scale_firing_rates=value)


@pytest.mark.parametrize("synapse", [0.005, rateconv.Lowpass(0.005)])
def test_synapse_on_neuron_stages_only(synapse):
    net = rateconv.convert(relu_mlp(), synapse=synapse)
    with_neuron = {s.name for s in net.neuron_stages}
    assert with_neuron == {"d1", "r2", "a3"}
    for stage in net.stages:
        if stage.name in with_neuron:
            assert stage.synapse == rateconv.Lowpass(0.005)
        else:
            assert stage.synapse is None


def test_no_synapse_by_default():
    net = rateconv.convert(relu_mlp())
    assert all(s.synapse is None for s in net.stages)


# ---------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "max_layer, avg_layer",
    [
        (lambda: L.MaxPooling2D(2, name="pool"), lambda: L.AveragePooling2D(2)),
        (
            lambda: L.MaxPooling2D(3, strides=2, padding="same", name="pool"),
            lambda: L.AveragePooling2D(3, strides=2, padding="same"),
        ),
        (
            lambda: L.GlobalMaxPooling2D(name="pool"),
            lambda: L.GlobalAveragePooling2D(),
        ),
    ],
    ids=["2x2", "3x3_same", "global"],
)
def test_max_to_avg_pool(max_layer, avg_layer):
    def build(pool):
        keras.utils.set_random_seed(0)
        layers = [keras.Input((6, 6, 2)), L.Conv2D(3, 3, padding="same"), pool]
        if not isinstance(pool, (L.GlobalMaxPooling2D, L.GlobalAveragePooling2D)):
            layers.append(L.Flatten())
        return randomize(keras.Sequential([*layers, L.Dense(2)]))

    with_max, with_avg = build(max_layer()), build(avg_layer())
    x = inputs_for(with_max)
    net = rateconv.convert(with_max, max_to_avg_pool=True)
    assert net["pool"].spiking_max_pool is None
    assert_rate_equals_predict(with_avg, net, x)
    # without the option, max pooling stays exact (and differs from average)
    exact = rateconv.convert(with_max)
    assert exact["pool"].spiking_max_pool is not None
    assert_rate_equals_predict(with_max, exact, x)
    assert not np.allclose(
        with_max.predict(x, verbose=0), with_avg.predict(x, verbose=0), atol=1e-3
    )


def test_max_to_avg_pool_1d():
    keras.utils.set_random_seed(0)
    max_model = randomize(
        keras.Sequential(
            [keras.Input((8, 2)), L.Conv1D(2, 1), L.MaxPooling1D(2), L.Flatten()]
        )
    )
    avg_model = keras.Sequential(
        [keras.Input((8, 2)), L.Conv1D(2, 1), L.AveragePooling1D(2), L.Flatten()]
    )
    avg_model.set_weights(max_model.get_weights())
    net = rateconv.convert(max_model, max_to_avg_pool=True)
    assert_rate_equals_predict(avg_model, net, inputs_for(max_model))


# ---------------------------------------------------------------------------
# Activations without a spiking equivalent
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "elu"])
def test_hidden_activation_without_spiking_equivalent(activation):
    model = keras.Sequential(
        [
            keras.Input((4,)),
            L.Dense(3, activation=activation, name="hidden"),
            L.Dense(2),
        ]
    )
    with pytest.raises(ValueError) as info:
        rateconv.convert(model)
    message = str(info.value)
    assert "'hidden'" in message
    assert activation in message
    assert "swap_activations" in message


def test_activation_layer_without_spiking_equivalent():
    model = keras.Sequential(
        [keras.Input((4,)), L.Dense(3), L.Activation("tanh", name="act"), L.Dense(2)]
    )
    with pytest.raises(ValueError, match="'act'.*tanh"):
        rateconv.convert(model)


def test_softmax_only_on_outputs():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            L.Dense(3, activation="softmax", name="inner"),
            L.Dense(2),
        ]
    )
    with pytest.raises(ValueError, match="'inner'.*softmax"):
        rateconv.convert(model)


@pytest.mark.parametrize(
    "kwargs", [dict(threshold=0.5), dict(max_value=6, negative_slope=0.1)]
)
def test_non_plain_relu(kwargs):
    model = keras.Sequential(
        [keras.Input((4,)), L.Dense(3), L.ReLU(**kwargs, name="r"), L.Dense(2)]
    )
    with pytest.raises(ValueError, match="'r'"):
        rateconv.convert(model)
