"""Converters of Keras' built-in layers.

Nonlinearities: ``relu`` becomes an integrate-and-fire neuron
(`SpikingRectifiedLinear`), ``linear`` passes through, and ``softmax`` on an
output layer is applied to the filtered output probe.  Anything else is an
error unless ``swap_activations`` says what to use.  The converters of
rateconv's own layers (`rateconv.SoftLIF`, `rateconv.QuantizedReLU`,
`rateconv.SpikingAware`) live beside those layers.
"""

from __future__ import annotations

import dataclasses

import keras

from rateconv import neurons
from rateconv.converter._keras_graph import (
    describe,
    layer_activation,
    rebuild_layer,
    without_activation,
)
from rateconv.converter._registry import neuron_fields, register_converter


def activation_fields(layer, name, ctx):
    """The stage fields for activation ``name`` of ``layer``: neurons or readout.

    ``swap_activations`` decides first (by layer name, then by ``name``).
    """
    neuron = ctx.swapped(layer, name)
    if neuron is not None:
        return neuron_fields(neuron)
    if name == "linear":
        return {}
    if name == "relu":
        return neuron_fields(neurons.RectifiedLinear())
    if name == "softmax" and layer.name in ctx.model_outputs:
        return {"readout": keras.activations.softmax}
    raise ValueError(
        f"{describe(layer)} uses activation '{name}', which has no spiking "
        "equivalent. Use 'relu' or rateconv.SoftLIF when training, or map it "
        f"explicitly: convert(model, swap_activations={{'{name}': rateconv.LIF()}}) "
        "(this changes the function the network computes). 'softmax' is accepted "
        "on output layers only."
    )


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
    return activation_fields(layer, layer_activation(layer), ctx)


@register_converter(keras.layers.ReLU)
def _convert_relu(layer, ctx):
    config = layer.get_config()
    if (
        config.get("max_value") is not None
        or config.get("negative_slope", 0) != 0
        or config.get("threshold", 0) != 0
    ):
        raise ValueError(
            f"{describe(layer)}: only the plain ReLU converts to spiking "
            "neurons; received max_value="
            f"{config.get('max_value')}, negative_slope="
            f"{config.get('negative_slope')}, threshold={config.get('threshold')}. "
            "Use keras.layers.ReLU() or map it with swap_activations."
        )
    return activation_fields(layer, "relu", ctx)


_AVERAGE_POOL = {
    keras.layers.MaxPooling1D: keras.layers.AveragePooling1D,
    keras.layers.MaxPooling2D: keras.layers.AveragePooling2D,
    keras.layers.GlobalMaxPooling1D: keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalMaxPooling2D: keras.layers.GlobalAveragePooling2D,
}


@register_converter(*_AVERAGE_POOL)
def _convert_max_pool(layer, ctx):
    if ctx.max_to_avg_pool:
        average = _AVERAGE_POOL[type(layer)]
        return {"op": rebuild_layer(layer, average, name=layer.name + "_avg")}
    # exact in rate mode; in spiking mode each window passes on the input with
    # the largest running mean so far (the simulator implements this gate)
    return {"op": layer, "spiking_max_pool": layer.get_config()}
