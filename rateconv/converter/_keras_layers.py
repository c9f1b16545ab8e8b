"""Converters of Keras' built-in layers.

Activations are identified by the function object (``layer.activation``,
compared by identity with Keras' own: a custom function named ``relu`` is not
``relu``), and ``swap_activations`` decides first, by stage name, layer name,
then the activation's name below.  Built-in nonlinearities:

==========================================  ==================================
``relu``, ``ReLU()``                        `SpikingRectifiedLinear` (IF)
``relu6``, ``ReLU(max_value=m)``            `SpikingClippedRectifiedLinear`
                                            (IF with a rate cap at ``m``)
``leaky_relu``, ``LeakyReLU``,              `SpikingLeakyRectifiedLinear`
``ReLU(negative_slope=s)``                  (signed spikes)
``hard_sigmoid``                            the clipped IF neuron on
                                            ``J = x / 6 + 1 / 2``, cap 1
``linear``                                  passes through
``softmax``, ``Softmax`` on an output       applied to the filtered probe
==========================================  ==================================

The names ``swap_activations`` answers to: ``relu`` (a plain ReLU layer or
activation), ``relu6`` (``relu6`` or ``ReLU(max_value=6)``), ``clipped_relu``
(another ``max_value``), ``leaky_relu``, ``hard_sigmoid``, and a custom
function's ``__name__``.  Any other activation (and ``ReLU(threshold=t)``,
which jumps from 0 to ``t``) is an error unless ``swap_activations`` says what
to use.  The converters of rateconv's own layers (`rateconv.SoftLIF`,
`rateconv.QuantizedReLU`, `rateconv.SpikingAware`) live beside those layers.
"""

from __future__ import annotations

import dataclasses

import keras

from rateconv import neurons
from rateconv.converter._keras_graph import (
    builtin_activation_name,
    describe,
    function_name,
    layer_activation,
    rebuild_layer,
    without_activation,
)
from rateconv.registry import neuron_fields, register_converter

_BUILTIN_NEURONS = {
    "relu": lambda: neurons.RectifiedLinear(),
    "relu6": lambda: neurons.ClippedRectifiedLinear(max_value=6.0),
    "leaky_relu": lambda: neurons.LeakyRectifiedLinear(negative_slope=0.2),
    # keras: clip(x / 6 + 1/2, 0, 1)
    "hard_sigmoid": lambda: neurons.ClippedRectifiedLinear(
        max_value=1.0, gain=1.0 / 6.0, bias=0.5
    ),
}


def _refuse_activation(layer, name):
    raise ValueError(
        f"{describe(layer)} uses activation '{name}', which has no spiking "
        "equivalent. Use 'relu' (or relu6, leaky_relu) or rateconv.SoftLIF when "
        "training, or map it explicitly: convert(model, swap_activations="
        f"{{'{name}': rateconv.LIF()}}) (this changes the function the network "
        "computes). 'softmax' is accepted on output layers only."
    )


def activation_fields(layer, activation, ctx):
    """The stage fields for ``layer``'s ``activation``: neurons or readout.

    ``activation`` is the function (``layer.activation``); built-ins are
    recognized by identity.  ``swap_activations`` decides first (by stage and
    layer name, then by the activation's name).
    """
    name = builtin_activation_name(activation)
    if name is None:  # a function of the user's
        custom = function_name(activation)
        neuron = ctx.swapped(layer, custom)
        if neuron is not None:
            return neuron_fields(neuron)
        module = getattr(activation, "__module__", "?")
        raise ValueError(
            f"{describe(layer)} uses a custom activation function '{custom}' "
            f"({module}), not a Keras activation, so rateconv cannot tell what "
            "it computes. Use a Keras activation (relu, relu6, leaky_relu, ...) "
            "or map it explicitly: convert(model, swap_activations="
            f"{{'{ctx.stage_name or layer.name}': rateconv.LIF()}}) (by layer "
            "name; this changes the function the network computes)."
        )
    neuron = ctx.swapped(layer, name)
    if neuron is not None:
        return neuron_fields(neuron)
    if name == "linear":
        return {}
    if name in _BUILTIN_NEURONS:
        return neuron_fields(_BUILTIN_NEURONS[name]())
    if name == "softmax" and ctx.is_output(layer):
        return {"readout": keras.activations.softmax}
    _refuse_activation(layer, name)


@register_converter(
    keras.layers.Dense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
)
def _convert_weighted(layer, ctx):
    """The layer without its activation, then the activation's neurons."""
    fields = activation_fields(layer, layer_activation(layer), ctx)
    return {"op": without_activation(layer), **fields}


@register_converter(
    keras.layers.AveragePooling1D,
    keras.layers.AveragePooling2D,
    keras.layers.AveragePooling3D,
    keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalAveragePooling3D,
    keras.layers.Flatten,
    keras.layers.Reshape,
    keras.layers.Permute,
    keras.layers.ZeroPadding1D,
    keras.layers.ZeroPadding2D,
    keras.layers.ZeroPadding3D,
    keras.layers.Cropping1D,
    keras.layers.Cropping2D,
    keras.layers.Cropping3D,
    keras.layers.BatchNormalization,
    keras.layers.Rescaling,
    keras.layers.Normalization,
)
def _convert_linear(layer, ctx):
    """Layers that are linear or affine in their inputs: run as they are."""
    return {"op": layer}


@dataclasses.dataclass(frozen=True)
class _MergeOp:
    """A Keras merge layer, which takes a list, called as ``op(*tensors)``."""

    layer: keras.layers.Layer

    def __call__(self, *tensors):
        return self.layer(list(tensors))


@register_converter(
    keras.layers.Add,
    keras.layers.Subtract,
    keras.layers.Average,
    keras.layers.Concatenate,
)
def _convert_merge(layer, ctx):
    """Linear merges of several inputs (`Stage.op` takes them as arguments)."""
    if isinstance(layer, keras.layers.Concatenate):
        axis = layer.axis
        rank = len(layer.output.shape)
        if axis == 0 or axis == -rank:
            raise ValueError(
                f"{describe(layer)} concatenates along axis {axis}, the batch "
                "axis: it stacks samples, which a spiking network (that runs "
                "every sample on its own) cannot do. Concatenate along a "
                "feature axis (e.g. axis=-1) or stack the samples outside the "
                "model."
            )
    return {"op": _MergeOp(layer)}


@register_converter(keras.layers.UpSampling1D, keras.layers.UpSampling2D)
def _convert_upsampling(layer, ctx):
    if getattr(layer, "interpolation", "nearest") not in ("nearest", "bilinear"):
        raise ValueError(
            f"{describe(layer)}: interpolation '{layer.interpolation}' is not "
            "linear; use 'nearest' or 'bilinear'."
        )
    return {"op": layer}


@register_converter(
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.ActivityRegularization,
    keras.layers.Identity,
    keras.layers.InputLayer,
)
def _convert_identity(layer, ctx):
    """Layers that are the identity at inference (and a functional input)."""
    return {"op": None}


@register_converter(keras.layers.Activation)
def _convert_activation(layer, ctx):
    return activation_fields(layer, layer.activation, ctx)


@register_converter(keras.layers.ReLU)
def _convert_relu(layer, ctx):
    """``ReLU(max_value, negative_slope, threshold)``: one neuron per kind."""
    max_value = layer.max_value
    slope = float(layer.negative_slope or 0.0)
    threshold = float(layer.threshold or 0.0)
    if threshold != 0 or (max_value is not None and slope != 0):
        neuron = ctx.swapped(layer)
        if neuron is not None:
            return neuron_fields(neuron)
        what = (
            f"threshold={threshold:g}, where it jumps from 0 to {threshold:g} "
            "(an integrate-and-fire neuron's rate is continuous)"
            if threshold != 0
            else f"both max_value={max_value:g} and negative_slope={slope:g}"
        )
        raise ValueError(
            f"{describe(layer)}: rateconv converts ReLU with max_value "
            f"(clipped) or negative_slope (leaky), not with {what}. Train with "
            "threshold=0, or map it explicitly: convert(model, "
            f"swap_activations={{'{ctx.stage_name or layer.name}': "
            "rateconv.SpikingRectifiedLinear()}) (this changes the function the "
            "network computes)."
        )
    if max_value is not None:
        max_value = float(max_value)
        key = "relu6" if max_value == 6.0 else "clipped_relu"
        if max_value <= 0:
            raise ValueError(
                f"{describe(layer)}: max_value={max_value:g} makes the layer "
                "output 0 everywhere; remove it or use a positive max_value."
            )
        neuron = ctx.swapped(layer, key)
        return neuron_fields(
            neuron or neurons.ClippedRectifiedLinear(max_value=max_value)
        )
    if slope != 0:
        neuron = ctx.swapped(layer, "leaky_relu")
        return neuron_fields(
            neuron or neurons.LeakyRectifiedLinear(negative_slope=slope)
        )
    return activation_fields(layer, keras.activations.relu, ctx)


@register_converter(keras.layers.LeakyReLU)
def _convert_leaky_relu(layer, ctx):
    neuron = ctx.swapped(layer, "leaky_relu")
    slope = float(layer.negative_slope)
    return neuron_fields(neuron or neurons.LeakyRectifiedLinear(negative_slope=slope))


@register_converter(keras.layers.Softmax)
def _convert_softmax(layer, ctx):
    """A softmax on the last axis of an output: applied to the output probe."""
    neuron = ctx.swapped(layer, "softmax")
    if neuron is not None:
        return neuron_fields(neuron)
    axis = layer.axis
    rank = len(layer.output.shape)
    if not ctx.is_output(layer) or axis not in (-1, rank - 1):
        _refuse_activation(layer, f"softmax (axis={axis})")
    return {"readout": keras.activations.softmax}


_AVERAGE_POOL = {
    keras.layers.MaxPooling1D: keras.layers.AveragePooling1D,
    keras.layers.MaxPooling2D: keras.layers.AveragePooling2D,
    keras.layers.MaxPooling3D: keras.layers.AveragePooling3D,
    keras.layers.GlobalMaxPooling1D: keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalMaxPooling2D: keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalMaxPooling3D: keras.layers.GlobalAveragePooling3D,
}


@register_converter(*_AVERAGE_POOL)
def _convert_max_pool(layer, ctx):
    if ctx.max_to_avg_pool:
        average = _AVERAGE_POOL[type(layer)]
        return {"op": rebuild_layer(layer, average, name=layer.name + "_avg")}
    # exact in rate mode; in spiking mode each window passes on the input with
    # the largest running mean so far (the simulator implements this gate)
    return {"op": layer, "spiking_max_pool": layer.get_config()}
