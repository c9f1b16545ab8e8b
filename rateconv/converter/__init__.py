"""Keras 3 model -> `SpikingNetwork`.

A registry maps each supported Keras layer class to a converter function,
registered next to it with `register_converter` (whose docstring states the
contract and shows a custom layer's converter).  `convert` reads the model's
layer graph, makes one `Stage` per layer with the registered converters, then
runs passes that each return new stages: fold batch norm, resolve
identities, apply the neuron options, attach synapses.

Modules: ``_registry`` (the registry, `ConversionContext`), ``_keras_graph``
(reading the Keras graph, `clone_layer`), ``_keras_layers`` (converters of
Keras' built-in layers), ``_keras_ops`` (affine ``keras.ops`` calls),
``_passes``, ``_convert`` (`convert`) and
``_verify`` (`Converter`, which runs the simulator and is imported on first
use: the simulator imports this package).
"""

from rateconv.converter import _keras_layers  # noqa: F401  (registers built-ins)
from rateconv.converter._convert import convert
from rateconv.converter._keras_graph import clone_layer
from rateconv.converter._registry import (
    ConversionContext,
    converter_for,
    neuron_fields,
    register_converter,
    supported_layers,
    unregister_converter,
)

__all__ = [
    "ConversionContext",
    "Converter",
    "clone_layer",
    "convert",
    "converter_for",
    "neuron_fields",
    "register_converter",
    "supported_layers",
    "unregister_converter",
]


def __getattr__(name):
    # Converter runs the simulator, which imports this package: re-export it
    # on first use (the one upward import the layering allows)
    if name == "Converter":
        from rateconv.converter._verify import Converter

        return Converter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | {"Converter"})
