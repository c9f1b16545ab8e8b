"""Reading a Keras model: its layer graph, activations, and layer copies.

The only module that reads a model's config (its layers and edges) or
rebuilds layers from a config.  It uses public Keras API only: the graph comes
from ``model.get_config()``, never from Keras' private node structures.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import keras


def describe(layer):
    """``Layer 'name' (Class)``: how messages name a layer."""
    return f"Layer '{layer.name}' ({type(layer).__name__})"


# ---------------------------------------------------------------------------
# Activations and layer copies
# ---------------------------------------------------------------------------


def activation_name(activation):
    """The name of a Keras activation (a string, function or serialized dict)."""
    if activation is None:
        return "linear"
    if isinstance(activation, str):
        return activation
    name = keras.activations.serialize(activation)
    if isinstance(name, dict):
        name = name.get("config", {}).get("name", name.get("class_name"))
    return str(name)


def layer_activation(layer):
    """The name of the activation in ``layer``'s config (``"linear"`` if none)."""
    return activation_name(layer.get_config().get("activation"))


def rebuild_layer(layer, layer_class, *, input_shape=None, weights=None, **config):
    """A new ``layer_class`` layer from ``layer``'s config updated by ``config``.

    The engine of `clone_layer`, which keeps the class; this one also makes,
    e.g., an average pooling layer from a max pooling layer's config.
    """
    new = layer_class.from_config({**layer.get_config(), **config})
    new.build(layer.input.shape if input_shape is None else input_shape)
    new.set_weights(layer.get_weights() if weights is None else weights)
    return new


def clone_layer(layer, *, input_shape=None, weights=None, **config):
    """A copy of ``layer`` with a changed config and the same (or new) weights.

    Parameters
    ----------
    layer : keras.layers.Layer
        A built layer; it is not modified.
    input_shape : tuple or None
        Shape to build the copy for, batch axis included; None is the shape
        of ``layer``'s input (the layer must have been called).
    weights : list of arrays or None
        Weights of the copy, as for ``set_weights``; None is ``layer``'s.
    **config
        Entries of ``layer.get_config()`` to change, e.g.
        ``activation="linear"`` or ``dtype="bfloat16"``.

    Returns
    -------
    keras.layers.Layer
        A new, built layer of the same class.
    """
    return rebuild_layer(
        layer, type(layer), input_shape=input_shape, weights=weights, **config
    )


def without_activation(layer):
    """``layer`` with ``activation="linear"`` (a copy; ``layer`` if linear)."""
    if layer_activation(layer) == "linear":
        return layer
    return clone_layer(layer, activation="linear")


# ---------------------------------------------------------------------------
# The layer graph
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class SequentialInput:
    """Stands for a Sequential model's input, which is not in ``model.layers``."""

    name: str
    shape: tuple

    @property
    def output(self):
        return self


class ModelGraph(NamedTuple):
    """A model's layers in topological order and its endpoint names."""

    nodes: list
    """``[(layer, input_names)]``; a Sequential input is a `SequentialInput`."""
    inputs: list
    outputs: list


def _history_names(obj):
    """Names of the layers referenced by keras tensors in a node's config."""
    names = []
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            names.append(obj["config"]["keras_history"][0])
        else:
            for value in obj.values():
                names.extend(_history_names(value))
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            names.extend(_history_names(value))
    return names


def _endpoint_names(spec):
    # [name, node, tensor] for one endpoint, or a list of those
    if spec and isinstance(spec[0], str):
        return [spec[0]]
    return [s[0] for s in spec]


def _sequential_graph(model):
    try:
        built_inputs = model.inputs
    except (AttributeError, ValueError):  # Keras raises when unbuilt
        built_inputs = None
    if not built_inputs:
        raise ValueError(
            f"Model '{model.name}' is not built: give it an input shape "
            "(keras.Input(shape=...) as its first layer) or call it on data "
            "once before converting."
        )
    layer_configs = model.get_config()["layers"]
    input_name = "input"
    if layer_configs and layer_configs[0]["class_name"] == "InputLayer":
        input_name = layer_configs[0]["config"]["name"]
    nodes = [(SequentialInput(input_name, model.inputs[0].shape), [])]
    prev = input_name
    for layer in model.layers:
        nodes.append((layer, [prev]))
        prev = layer.name
    return ModelGraph(nodes, [input_name], [prev])


def read_graph(model):
    """The `ModelGraph` of a built Sequential or functional Keras model.

    Raises
    ------
    TypeError
        For anything but a Sequential or functional model (a subclassed
        model's graph cannot be read).
    ValueError
        For an unbuilt Sequential model or a layer called more than once.
    """
    if isinstance(model, keras.Sequential):
        return _sequential_graph(model)
    if not isinstance(model, keras.Model) or not hasattr(model, "get_config"):
        raise TypeError(
            "convert() takes a Keras 3 Sequential or functional model. "
            f"Received: model of type {type(model).__name__}"
        )
    try:
        config = model.get_config()
    except NotImplementedError as e:
        raise TypeError(
            f"Model '{model.name}' is a subclassed keras.Model, whose layer graph "
            "cannot be read. Rebuild it as a Sequential or functional model."
        ) from e
    if "layers" not in config or "input_layers" not in config:
        raise TypeError(
            f"Model '{model.name}' ({type(model).__name__}) is not a Sequential "
            "or functional model; rebuild it with keras.Input and layer calls."
        )
    nodes = []
    for layer_config in config["layers"]:
        inbound = layer_config.get("inbound_nodes", [])
        if len(inbound) > 1:
            raise ValueError(
                f"Layer '{layer_config['name']}' is called {len(inbound)} times "
                "(a shared layer); rateconv needs each layer called once. Use "
                "separate layers with the same weights."
            )
        inputs = _history_names(inbound[0]) if inbound else []
        nodes.append((model.get_layer(layer_config["name"]), inputs))
    return ModelGraph(
        nodes,
        _endpoint_names(config["input_layers"]),
        _endpoint_names(config["output_layers"]),
    )
