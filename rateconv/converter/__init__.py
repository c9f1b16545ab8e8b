"""Keras 3 model -> `SpikingNetwork`, with no data.

`build_network` reads the model's layer graph, makes one `Stage` per layer
with the converters registered in `rateconv.registry`, then runs passes that
each return new stages: fold batch norm, resolve identities, apply the neuron
options, attach synapses.  `rateconv.convert` (in `rateconv.tuning`) is the
public entry point: it calls `build_network`, and with calibration data
searches the options for a step budget.

Modules: ``_keras_graph`` (reading the Keras graph, `clone_layer`),
``_keras_layers`` (converters of Keras' built-in layers), ``_keras_ops``
(affine ``keras.ops`` calls), ``_passes`` and ``_convert`` (`build_network`).

May import: ``neurons``, ``synapses``, ``network``, ``metrics``,
``registry`` and the private infrastructure.  The simulator and everything
above import this package, never the other way.
"""

from rateconv.converter import _keras_layers  # noqa: F401  (registers built-ins)
from rateconv.converter._convert import RESETS, build_network
from rateconv.converter._keras_graph import clone_layer
from rateconv.registry import (
    ConversionContext,
    converter_for,
    neuron_fields,
    register_converter,
    supported_layers,
    unregister_converter,
)

__all__ = [
    "RESETS",
    "ConversionContext",
    "build_network",
    "clone_layer",
    "converter_for",
    "neuron_fields",
    "register_converter",
    "supported_layers",
    "unregister_converter",
]
