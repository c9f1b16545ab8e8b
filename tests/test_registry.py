"""The converter registry: its contract, custom converters, ConversionContext,
neuron_fields and clone_layer."""

import doctest
import warnings

import keras
import numpy as np
import pytest

import rateconv
from rateconv import converter
from tests.helpers import assert_rate_equals_predict, randomize

L = keras.layers


class _Double(keras.layers.Layer):
    def call(self, x):
        return 2 * x


class _Half(L.Dense):
    """A subclass of a registered class: not matched by inheritance."""


def test_register_converter_for_custom_layer():
    model = randomize(
        keras.Sequential(
            [
                keras.Input((4,)),
                L.Dense(3, activation="relu"),
                _Double(name="double"),
                L.Dense(2),
            ]
        )
    )
    with pytest.raises(TypeError, match="_Double"):
        rateconv.convert(model)

    @rateconv.register_converter(_Double)
    def convert_double(layer, ctx):
        return dict(op=layer)

    try:
        assert "_Double" in rateconv.supported_layers()
        net = assert_rate_equals_predict(model)
        assert net["double"].op is model.get_layer("double")
        assert net["double"].kind == "_Double"
    finally:
        converter.unregister_converter(_Double)
    assert "_Double" not in rateconv.supported_layers()
    with pytest.raises(TypeError, match="_Double"):
        rateconv.convert(model)


def test_subclass_of_registered_layer_needs_its_own_converter():
    model = keras.Sequential([keras.Input((4,)), _Half(2, name="half")])
    with pytest.raises(TypeError, match="'half'"):
        rateconv.convert(model)


def test_register_converter_warns_when_it_overwrites():
    def first(layer, ctx):
        return {"op": layer}

    def second(layer, ctx):
        return {"op": None}

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        converter.register_converter(_Double)(first)
        converter.register_converter(_Double)(first)  # the same: no warning
    try:
        with pytest.warns(UserWarning, match="_Double.*first.*second"):
            converter.register_converter(_Double)(second)
        assert converter.converter_for(_Double) is second
    finally:
        converter.unregister_converter(_Double)


def test_overwriting_a_built_in_warns():
    original = converter.converter_for(L.Dropout)
    try:
        with pytest.warns(UserWarning, match="Dropout"):

            @converter.register_converter(L.Dropout)
            def keep_dropout(layer, ctx):
                return {"op": layer}

        model = keras.Sequential([keras.Input((3,)), L.Dropout(0.5, name="drop")])
        assert rateconv.convert(model)["drop"].op is model.get_layer("drop")
    finally:
        converter.unregister_converter(L.Dropout)
        assert converter.converter_for(L.Dropout) is None
        converter.register_converter(L.Dropout)(original)
    assert "drop" not in rateconv.convert(model).by_name


def test_unregister_converter():
    converter.register_converter(_Double)(lambda layer, ctx: {"op": layer})
    assert "_Double" in converter.supported_layers()
    converter.unregister_converter(_Double)
    assert converter.converter_for(_Double) is None
    assert "_Double" not in converter.supported_layers()
    with pytest.raises(ValueError, match="_Double"):
        converter.unregister_converter(_Double)
    # nothing is removed when one of the classes is not registered
    with pytest.raises(ValueError, match="_Double"):
        converter.unregister_converter(L.Dense, _Double)
    assert converter.converter_for(L.Dense) is not None


def test_register_converter_takes_classes():
    with pytest.raises(TypeError, match="no classes"):
        converter.register_converter()
    with pytest.raises(TypeError, match="Dense"):
        converter.register_converter(L.Dense(2))


def test_a_converter_must_return_stage_fields():
    model = keras.Sequential([keras.Input((3,)), _Double(name="double")])
    for bad in ({"op": None, "synapse": 0.01}, [("op", None)]):
        converter.register_converter(_Double)(lambda layer, ctx, bad=bad: bad)
        try:
            with pytest.raises(TypeError, match="'double'.*must return a dict"):
                rateconv.convert(model)
        finally:
            converter.unregister_converter(_Double)


def test_registry_docstring_example_runs():
    """The worked example in register_converter's docstring (and the README)."""
    finder = doctest.DocTestFinder()
    (test,) = finder.find(converter.register_converter, "register_converter")
    assert len(test.examples) > 10
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.failures == 0 and runner.tries == len(test.examples)
    # the example unregisters what it registered
    assert "Scale" not in converter.supported_layers()
    assert "MyReLU" not in converter.supported_layers()


# ---------------------------------------------------------------------------
# ConversionContext and neuron_fields
# ---------------------------------------------------------------------------


def test_conversion_context_defaults_and_frozen():
    ctx = converter.ConversionContext()
    assert dict(ctx.swap_activations) == {}
    assert ctx.max_to_avg_pool is False
    assert ctx.model_outputs == frozenset()
    with pytest.raises(AttributeError):
        ctx.max_to_avg_pool = True
    with pytest.raises(TypeError):
        ctx.swap_activations["relu"] = rateconv.LIF()


def test_conversion_context_swapped_and_with_swap():
    lif, relu = rateconv.LIF(), rateconv.SpikingRectifiedLinear()
    layer = L.ReLU(name="r")
    swaps = {"relu": lif}
    ctx = converter.ConversionContext(swap_activations=swaps)
    swaps["r"] = relu  # the context keeps its own copy
    assert ctx.swapped(layer) is None
    assert ctx.swapped(layer, "relu") is lif
    named = ctx.with_swap("r", relu)
    assert named.swapped(layer, "relu") is relu  # the layer name comes first
    assert ctx.swapped(layer, "relu") is lif  # the original is unchanged
    with pytest.raises(TypeError, match=r"swap_activations\['r'\].*layer 'r'"):
        ctx.with_swap("r", "tanh").swapped(layer, "relu")


def test_neuron_fields():
    lif = rateconv.LIF(amplitude=0.1)
    fields = converter.neuron_fields(lif, initial_state="half")
    assert fields == {
        "rate_neuron": lif.as_rate(),
        "spiking_neuron": lif,
        "initial_state": "half",
    }
    assert type(fields["rate_neuron"]) is rateconv.LIFRate


# ---------------------------------------------------------------------------
# clone_layer
# ---------------------------------------------------------------------------


def test_clone_layer_keeps_weights_and_changes_config():
    model = randomize(
        keras.Sequential([keras.Input((4,)), L.Dense(3, activation="relu")])
    )
    dense = model.layers[0]
    clone = converter.clone_layer(dense, activation="linear")
    assert type(clone) is L.Dense and clone is not dense
    assert clone.get_config()["activation"] == "linear"
    assert dense.get_config()["activation"] == "relu"
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(
        np.maximum(np.asarray(clone(x)), 0), np.asarray(dense(x)), rtol=1e-6
    )
    weights = [np.ones((4, 3), np.float32), np.zeros(3, np.float32)]
    ones = converter.clone_layer(dense, weights=weights, input_shape=(None, 4))
    np.testing.assert_allclose(
        np.asarray(ones(x)), np.maximum(x.sum(1), 0)[:, None] * [1, 1, 1]
    )
    for a, b in zip(dense.get_weights(), model.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)
