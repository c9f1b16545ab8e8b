"""Reading a Keras model: its layer graph, activations, and layer copies.

The only module that reads a model's config (its layers and edges) or
rebuilds layers from a config.  It uses public Keras API only: the graph comes
from ``model.get_config()`` (with ``model.operations`` to find ``keras.ops``
calls, which are not layers), never from Keras' private node structures.
Nested models are flattened and shared layers split into one node per call
(`read_graph`).  Activations are identified by function identity
(`builtin_activation_name`).
"""

from __future__ import annotations

import collections
import dataclasses
from typing import NamedTuple

import keras
import numpy as np


def describe(layer):
    """``Layer 'name' (Class)``: how messages name a layer."""
    return f"Layer '{layer.name}' ({type(layer).__name__})"


# ---------------------------------------------------------------------------
# Activations and layer copies
# ---------------------------------------------------------------------------


_NOT_ACTIVATIONS = {"deserialize", "get", "serialize"}


def _builtin_activations():
    """``{id(function): name}`` for Keras' activation functions (and ops twins)."""
    table = {}
    for name in dir(keras.activations):
        fn = getattr(keras.activations, name)
        if name.startswith("_") or name in _NOT_ACTIVATIONS or not callable(fn):
            continue
        table.setdefault(id(fn), name)
    # keras.ops functions with the same defaults, used as activations
    for name in ("relu", "relu6", "leaky_relu", "softmax", "hard_sigmoid"):
        table.setdefault(id(getattr(keras.ops, name)), name)
    return table


_BUILTIN_ACTIVATIONS = _builtin_activations()


def builtin_activation_name(activation):
    """The Keras name of a built-in activation function, or None for any other.

    Activations are identified by the function object itself (compared by
    identity with ``keras.activations.relu`` etc., and a few ``keras.ops``
    twins such as ``keras.ops.relu``), never by their serialized name: a
    custom function named ``relu`` that computes something else is not
    ``relu``.  None (no activation) is ``"linear"``.
    """
    if activation is None:
        return "linear"
    return _BUILTIN_ACTIVATIONS.get(id(activation))


def function_name(fn):
    """A readable name of a custom activation: ``__name__`` or its repr."""
    return getattr(fn, "__name__", None) or repr(fn)


def layer_activation(layer):
    """The activation function of ``layer`` (``layer.activation``), or None."""
    return getattr(layer, "activation", None)


def is_linear_activation(layer):
    """Whether ``layer``'s activation is Keras' ``linear`` (or absent)."""
    return builtin_activation_name(layer_activation(layer)) == "linear"


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
    if is_linear_activation(layer):
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


@dataclasses.dataclass(frozen=True)
class TensorSlot:
    """Where the ``index``-th tensor input goes in a recorded call's arguments."""

    index: int


class Node(NamedTuple):
    """One call of a layer (or ``keras.ops`` operation): one future stage."""

    name: str
    """The stage name, unique in the network (see `read_graph`)."""
    layer: object
    """The Keras layer, the ``keras.Operation`` or a `SequentialInput`."""
    inputs: tuple
    """Names of the nodes whose outputs are this call's tensor inputs."""
    output_shape: tuple
    """Shape of the call's output, batch axis excluded."""
    args: tuple = ()
    """The call's positional arguments, tensors replaced by `TensorSlot`."""
    kwargs: dict = {}
    """The call's keyword arguments, likewise."""


class ModelGraph(NamedTuple):
    """A model's calls in topological order and its endpoint names."""

    nodes: list
    """`Node` objects; a Sequential input is a `SequentialInput`."""
    inputs: list
    outputs: list


def _decode(obj, tensors):
    """A recorded argument with keras tensors replaced by `TensorSlot`.

    Appends each tensor's ``keras_history`` triple to ``tensors``.
    """
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            tensors.append(tuple(obj["config"]["keras_history"]))
            return TensorSlot(len(tensors) - 1)
        if obj.get("class_name") == "__numpy__":
            config = obj["config"]
            return np.asarray(config["value"], dtype=config.get("dtype"))
        return {k: _decode(v, tensors) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_decode(v, tensors) for v in obj)
    return obj


def fill_slots(obj, tensors):
    """``obj`` (a decoded argument) with each `TensorSlot` replaced by a tensor."""
    if isinstance(obj, TensorSlot):
        return tensors[obj.index]
    if isinstance(obj, dict):
        return {k: fill_slots(v, tensors) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(fill_slots(v, tensors) for v in obj)
    return obj


def _endpoints(spec):
    # [name, node, tensor] for one endpoint, or a list of those
    if spec and isinstance(spec[0], str):
        return [tuple(spec)]
    return [tuple(s) for s in spec]


class _GraphReader:
    """Flattens a model, nested models and repeated calls included.

    Stage names: a layer called once keeps its name; the ``i``-th call
    (from 0) of a layer called ``n > 1`` times is ``name/i``; a layer of a
    nested model is ``model_name/layer_name`` (``model_name/i/layer_name``
    when the nested model is called more than once).  Keras forbids ``/`` in
    layer names, so the names are unique.
    """

    def __init__(self):
        self.nodes = []

    def add(self, name, layer, inputs, output_shape=None, args=(), kwargs=None):
        if output_shape is None:
            output_shape = self._call_shape(layer, inputs, args, kwargs or {})
        self.nodes.append(
            Node(name, layer, tuple(inputs), tuple(output_shape), args, kwargs or {})
        )
        return name

    def shape_of(self, name):
        for node in reversed(self.nodes):
            if node.name == name:
                return node.output_shape
        raise KeyError(name)

    def _call_shape(self, layer, inputs, args, kwargs):
        """Output shape of ``layer`` called on the named nodes' outputs."""
        specs = [keras.KerasTensor((None, *self.shape_of(n))) for n in inputs]
        if not args:
            args = (
                (TensorSlot(0),)
                if len(specs) == 1
                else ([*map(TensorSlot, range(len(specs)))],)
            )
        try:
            out = layer.compute_output_spec(
                *fill_slots(args, specs), **fill_slots(kwargs, specs)
            )
        except Exception as e:  # noqa: BLE001 (Keras raises many kinds)
            raise ValueError(
                f"{describe(layer)}: cannot infer its output shape for inputs "
                f"{[tuple(s.shape) for s in specs]} ({type(e).__name__}: {e})"
            ) from e
        if isinstance(out, (list, tuple)):
            raise ValueError(
                f"{describe(layer)} returns {len(out)} tensors; rateconv "
                "converts layers with one output."
            )
        return tuple(out.shape[1:])

    # ------------------------------------------------------------ models

    def sequential(self, model, prefix, input_name):
        """Add a Sequential model's layers reading ``input_name``; its output."""
        counts = collections.Counter(layer.name for layer in model.layers)
        seen = collections.Counter()
        prev = input_name
        for layer in model.layers:
            name = prefix + layer.name
            if counts[layer.name] > 1:
                name = f"{name}/{seen[layer.name]}"
                seen[layer.name] += 1
            if isinstance(layer, keras.Model):
                (prev,) = self.model(layer, name + "/", [prev])
            elif not prefix and counts[layer.name] == 1:
                prev = self.add(name, layer, [prev], layer.output.shape[1:])
            else:
                prev = self.add(name, layer, [prev])
        return prev

    def model(self, model, prefix, input_names):
        """Add a nested model's layers reading ``input_names``; its outputs."""
        if isinstance(model, keras.Sequential):
            return [self.sequential(model, prefix, input_names[0])]
        config = _functional_config(model)
        return self.functional(model, config, prefix, input_names)

    def functional(self, model, config, prefix, input_names=None):
        """Add a functional model's calls; ``input_names`` None: top level.

        Returns the names of the model's outputs.
        """
        operations = {op.name: op for op in model.operations}
        refs = {}  # (layer name, node index, tensor index) -> node name
        input_specs = _endpoints(config["input_layers"])
        pending = []
        for layer_config in config["layers"]:
            name = layer_config["name"]
            op = operations[name]
            if isinstance(op, keras.layers.InputLayer):
                key = (name, 0, 0)
                if input_names is None:
                    refs[key] = self.add(prefix + name, op, [], op.output.shape[1:])
                else:
                    refs[key] = input_names[input_specs.index(key)]
                continue
            inbound = layer_config.get("inbound_nodes", [])
            for i, node_config in enumerate(inbound):
                tensors = []
                args = _decode(node_config.get("args", []), tensors)
                kwargs = _decode(node_config.get("kwargs", {}), tensors)
                pending.append((op, i, len(inbound), tensors, tuple(args), kwargs))
        # a shared layer's later calls may read layers listed after it
        while pending:
            waiting = []
            for item in pending:
                if all(t in refs for t in item[3]):
                    self._call(item, prefix, refs, top=input_names is None)
                else:
                    waiting.append(item)
            if len(waiting) == len(pending):
                names = sorted({item[0].name for item in waiting})
                raise ValueError(f"Model '{model.name}': cannot order calls {names}")
            pending = waiting
        return [
            refs[_output_key(key, operations)]
            for key in _endpoints(config["output_layers"])
        ]

    def _call(self, item, prefix, refs, top):
        op, i, n_calls, tensors, args, kwargs = item
        name = prefix + op.name + (f"/{i}" if n_calls > 1 else "")
        inputs = [refs[t] for t in tensors]
        if isinstance(op, keras.Model):
            for t, out in enumerate(self.model(op, name + "/", inputs)):
                refs[(op.name, i, t)] = out
            return
        if isinstance(op, keras.layers.Layer):
            # a layer stage runs the layer on its tensors in order
            shape = op.output.shape[1:] if top and n_calls == 1 else None
            refs[(op.name, i, 0)] = self.add(name, op, inputs, shape, args, kwargs)
        else:  # a keras.ops operation: keep its constant arguments
            refs[(op.name, i, 0)] = self.add(name, op, inputs, None, args, kwargs)


def _output_key(key, operations):
    """The ``refs`` key of a model output recorded as ``key`` in its config.

    Keras numbers the calls of a functional model used as a layer from 1 in
    a config's ``output_layers`` ("functional models start with a
    pre-existing node", ``Functional.get_config``), but from 0 in the call
    arguments; its own ``from_config`` takes the 1 back off.  So does this.
    """
    name, node, tensor = key
    op = operations[name]
    if isinstance(op, keras.Model) and not isinstance(op, keras.Sequential):
        return (name, node - 1, tensor)
    return key


def _functional_config(model):
    if not hasattr(model, "get_config"):
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
    return config


def _check_built(model):
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


def read_graph(model):
    """The `ModelGraph` of a built Sequential or functional Keras model.

    Nested Sequential and functional models are flattened into their layers,
    and a layer called more than once (a shared layer) becomes one node per
    call (see `_GraphReader` for the names).  Only public Keras API is read:
    ``model.get_config()`` (the layers, their ``inbound_nodes`` and the
    recorded call arguments), ``model.layers`` / ``model.operations`` (the
    objects by name; ``keras.ops`` calls appear there as ``keras.Operation``
    objects, which ``model.get_layer`` does not find), ``layer.output`` and
    ``compute_output_spec`` (shapes).

    Raises
    ------
    TypeError
        For anything but a Sequential or functional model (a subclassed
        model's graph cannot be read), top-level or nested.
    ValueError
        For an unbuilt Sequential model.
    """
    reader = _GraphReader()
    if isinstance(model, keras.Sequential):
        _check_built(model)
        layer_configs = model.get_config()["layers"]
        input_name = "input"
        if layer_configs and layer_configs[0]["class_name"] == "InputLayer":
            input_name = layer_configs[0]["config"]["name"]
        shape = tuple(model.inputs[0].shape)
        reader.nodes.append(
            Node(input_name, SequentialInput(input_name, shape), (), shape[1:])
        )
        output = reader.sequential(model, "", input_name)
        return ModelGraph(reader.nodes, [input_name], [output])
    if not isinstance(model, keras.Model):
        raise TypeError(
            "convert() takes a Keras 3 Sequential or functional model. "
            f"Received: model of type {type(model).__name__}"
        )
    config = _functional_config(model)
    outputs = reader.functional(model, config, "")
    inputs = [name for name, _, _ in _endpoints(config["input_layers"])]
    return ModelGraph(reader.nodes, inputs, outputs)
