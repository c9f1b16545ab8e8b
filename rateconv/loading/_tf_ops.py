"""TensorFlow ops in Keras 2 functional configs, rebuilt as Keras 3 layers.

In tf.keras 2.x, calling a TensorFlow function on a Keras tensor
(``x = tf.nn.relu(x)``, ``x * 0.5``, ``tf.concat([a, b], -1)``) records a
``TFOpLambda`` layer: its config names the function (``"nn.relu"``,
``"__operators__.add"``) and its inbound node holds the call's arguments,
tensors written as ``[layer_name, node_index, tensor_index]`` and constants
inline.  Keras 3 has no ``TFOpLambda``; `rewrite_tf_ops` replaces each one in
a legacy config by the Keras layer that computes the same function, with the
same name, so the rest of the graph (and the weights) is untouched.

Rebuilt (first argument ``x``, the others as Keras 2 recorded them):

========================================  ===================================
TensorFlow call                           Keras 3 layer
========================================  ===================================
``tf.nn.relu(x)``                         ``Activation("relu")``
``tf.nn.relu6(x)``                        ``ReLU(max_value=6)``
``tf.nn.leaky_relu(x, alpha)``            ``LeakyReLU(negative_slope=alpha)``
``tf.sigmoid``, ``tanh``, ``softmax``...  ``Activation`` / ``Softmax(axis)``
``add`` / ``subtract`` / ``multiply``     ``Add`` / ``Subtract`` /
of two tensors (also ``+ - *``)           ``Multiply``
the same with a scalar constant, or       ``Rescaling(scale, offset)``
``x / c``, ``-x``
``tf.reshape(x, (-1, ...))``              ``Reshape``
``tf.concat([...], axis)``                ``Concatenate(axis)``
``tf.nn.avg_pool{1,2,3}d``,               ``AveragePooling{1,2,3}D``,
``tf.nn.max_pool{1,2,3}d``                ``MaxPooling{1,2,3}D``
``tf.identity(x)``                        ``Identity``
========================================  ===================================

Any other function is a `LegacyModelError` naming it and the layer.
"""

from __future__ import annotations

import numbers

TF_OP_CLASSES = ("TFOpLambda", "SlicingOpLambda")
"""Keras 2 class names of layers that wrap a TensorFlow function."""

CONSTANT = "_CONSTANT_VALUE"
"""Keras 2's layer name for a constant first argument."""

ACTIVATIONS = {
    "nn.relu": "relu",
    "math.sigmoid": "sigmoid",
    "nn.sigmoid": "sigmoid",
    "math.tanh": "tanh",
    "nn.tanh": "tanh",
    "nn.elu": "elu",
    "nn.selu": "selu",
    "math.softplus": "softplus",
    "nn.softplus": "softplus",
    "nn.silu": "silu",
    "nn.swish": "silu",
    "nn.gelu": "gelu",
}
ADD = ("math.add", "__operators__.add", "math.add_n")
SUBTRACT = ("math.subtract", "__operators__.sub")
MULTIPLY = ("math.multiply", "__operators__.mul")
DIVIDE = ("math.truediv", "math.divide", "__operators__.truediv")
NEGATE = ("math.negative", "__operators__.neg")
POOLS = {
    f"nn.{kind}_pool{n}d": (f"{name}Pooling{n}D", n)
    for kind, name in (("avg", "Average"), ("max", "Max"))
    for n in (1, 2, 3)
}
CHANNELS_LAST = (None, "NWC", "NHWC", "NDHWC")


class LegacyModelError(ValueError):
    """A Keras 2 model that rateconv cannot rebuild in Keras 3."""


def supported_tf_ops():
    """The TensorFlow function names (as Keras 2 records them) rebuilt.

    Example
    -------
    >>> "nn.relu6" in supported_tf_ops()
    True
    """
    return sorted(
        {*ACTIVATIONS, *ADD, *SUBTRACT, *MULTIPLY, *DIVIDE, *NEGATE, *POOLS}
        | {"nn.relu6", "nn.leaky_relu", "nn.softmax", "math.softmax"}
        | {"reshape", "concat", "identity"}
    )


class _Op:
    """One ``TFOpLambda`` call: its name, function, arguments."""

    def __init__(self, layer, layer_names, source):
        self.layer = layer
        self.name = layer["config"].get("name", layer.get("name"))
        self.function = layer["config"].get("function", "?")
        self.source = source
        self.layer_names = layer_names
        nodes = layer.get("inbound_nodes") or []
        if len(nodes) != 1:
            self.refuse(f"is called {len(nodes)} times (rateconv rebuilds one call)")
        self.first, self.kwargs = self._first_argument(nodes[0])
        self.kwargs.pop("name", None)

    def refuse(self, why):
        raise LegacyModelError(
            f"{self.source}: layer '{self.name}' is the TensorFlow op "
            f"tf.{self.function}, which {why}. rateconv rebuilds these "
            "TensorFlow ops of Keras 2 models: relu, relu6, leaky_relu, "
            "sigmoid/tanh/softmax, add/subtract/multiply (tensors or scalars), "
            "divide by a scalar, reshape, concat, avg_pool/max_pool 1d-3d, "
            "identity; in your TF 2.x environment replace the op by a Keras "
            "layer (e.g. keras.layers.Activation, Add, Rescaling, Reshape), copy "
            "the weights and save again."
        )

    def is_ref(self, value):
        return (
            isinstance(value, list)
            and len(value) == 3
            and isinstance(value[0], str)
            and value[0] in self.layer_names
            and all(isinstance(v, int) for v in value[1:])
        )

    def _first_argument(self, node):
        # a single first argument: [name, node_index, tensor_index, kwargs];
        # a list of tensors (tf.concat): a list of such entries
        if node and isinstance(node[0], str):
            name, node_index, value, kwargs = (list(node) + [{}])[:4]
            kwargs = dict(kwargs or {})
            if name == CONSTANT:
                return ("constant", value), kwargs
            return ("tensor", [name, node_index, value]), kwargs
        entries = [list(entry) + [{}] for entry in node]
        kwargs = dict(entries[0][3] or {})
        return ("tensors", [entry[:3] for entry in entries]), kwargs

    def argument(self, key, default=None, *, required=False):
        if key not in self.kwargs:
            if required:
                self.refuse(f"has no argument {key!r} recorded")
            return default
        return self.kwargs.pop(key)

    def check_no_other_arguments(self):
        if self.kwargs:
            self.refuse(
                f"has arguments {sorted(self.kwargs)} that rateconv does not rebuild"
            )

    def scalar(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            self.refuse(
                f"takes the constant {value!r}; rateconv rebuilds a scalar "
                "constant only (as keras.layers.Rescaling)"
            )
        return float(value)


def _layer(op, class_name, config, inputs):
    """A legacy layer entry: `class_name` named as the op, fed by `inputs`."""
    base = {"name": op.name, "trainable": True}
    if "dtype" in op.layer["config"]:
        base["dtype"] = op.layer["config"]["dtype"]
    return {
        "class_name": class_name,
        "config": {**base, **config},
        "name": op.name,
        "inbound_nodes": [[[*ref, {}] for ref in inputs]],
    }


def _tensor_input(op):
    if op.first[0] != "tensor":
        op.refuse("takes no tensor as its first argument")
    return op.first[1]


def _arithmetic(op):
    """add / subtract / multiply / divide / negate, of tensors or by a scalar."""
    f = op.function
    if f in NEGATE:
        op.check_no_other_arguments()
        return _layer(
            op, "Rescaling", {"scale": -1.0, "offset": 0.0}, [_tensor_input(op)]
        )
    if f == "math.add_n":
        op.check_no_other_arguments()
        if op.first[0] != "tensors":
            op.refuse("takes no list of tensors")
        return _layer(op, "Add", {}, op.first[1])
    y = op.argument("y", required=True)
    op.check_no_other_arguments()
    kind, x = op.first
    if kind == "tensor" and op.is_ref(y):
        if f in DIVIDE:
            op.refuse("divides a tensor by a tensor (not affine)")
        name = "Add" if f in ADD else "Subtract" if f in SUBTRACT else "Multiply"
        return _layer(op, name, {}, [x, y])
    if kind == "tensor":  # x op c
        c = op.scalar(y)
        if f in DIVIDE:
            if c == 0:
                op.refuse("divides by the constant 0")
            scale, offset = 1.0 / c, 0.0
        else:
            scale, offset = {
                "add": (1.0, c),
                "sub": (1.0, -c),
                "mul": (c, 0.0),
            }[_kind(f)]
        inputs = [x]
    elif kind == "constant" and op.is_ref(y):  # c op y
        c = op.scalar(x)
        if f in DIVIDE:
            op.refuse("divides a constant by a tensor (not affine)")
        scale, offset = {"add": (1.0, c), "sub": (-1.0, c), "mul": (c, 0.0)}[_kind(f)]
        inputs = [y]
    else:
        op.refuse("combines arguments rateconv does not recognise")
    return _layer(op, "Rescaling", {"scale": scale, "offset": offset}, inputs)


def _kind(function):
    if function in ADD:
        return "add"
    if function in SUBTRACT:
        return "sub"
    return "mul"


def _window(op, value, n, what):
    """A pooling window or stride: int, n ints, or n + 2 ints with 1 at the ends."""
    values = [value] * n if isinstance(value, int) else list(value or [])
    if len(values) == n + 2 and values[0] == values[-1] == 1:
        values = values[1:-1]
    if len(values) == 1:
        values = values * n
    if len(values) != n or not all(isinstance(v, int) for v in values):
        op.refuse(f"has {what}={value!r}, not {n} window sizes")
    return values


def _pool(op):
    class_name, n = POOLS[op.function]
    ksize = _window(op, op.argument("ksize", required=True), n, "ksize")
    strides = _window(op, op.argument("strides", ksize), n, "strides")
    padding = str(op.argument("padding", "VALID")).lower()
    data_format = op.argument("data_format")
    op.check_no_other_arguments()
    if data_format not in CHANNELS_LAST or padding not in ("valid", "same"):
        op.refuse(
            f"has data_format={data_format!r}, padding={padding!r}; rateconv "
            "rebuilds channels-last pooling with VALID or SAME padding"
        )
    config = {"pool_size": ksize, "strides": strides, "padding": padding}
    return _layer(op, class_name, config, [_tensor_input(op)])


def _reshape(op):
    shape = op.argument("shape", required=True)
    op.check_no_other_arguments()
    if (
        not isinstance(shape, list)
        or not shape
        or not all(isinstance(s, int) for s in shape)
        or shape[0] != -1
    ):
        op.refuse(
            f"reshapes to {shape!r}; rateconv rebuilds a reshape to a constant "
            "shape whose first (batch) entry is -1"
        )
    return _layer(op, "Reshape", {"target_shape": shape[1:]}, [_tensor_input(op)])


def _concat(op):
    axis = op.argument("axis", required=True)
    op.check_no_other_arguments()
    if op.first[0] != "tensors":
        op.refuse("takes no list of tensors")
    if not isinstance(axis, int) or axis == 0:
        op.refuse(f"concatenates along axis {axis!r} (the batch axis or not an int)")
    return _layer(op, "Concatenate", {"axis": axis}, op.first[1])


def _activation(op):
    f = op.function
    x = _tensor_input(op)
    if f == "nn.relu6":
        op.check_no_other_arguments()
        return _layer(op, "ReLU", {"max_value": 6.0}, [x])
    if f == "nn.leaky_relu":
        alpha = op.scalar(op.argument("alpha", 0.2))
        op.check_no_other_arguments()
        return _layer(op, "LeakyReLU", {"negative_slope": alpha}, [x])
    if f in ("nn.softmax", "math.softmax"):
        axis = op.argument("axis", -1)
        op.check_no_other_arguments()
        return _layer(op, "Softmax", {"axis": axis}, [x])
    if f == "identity":
        op.check_no_other_arguments()
        return _layer(op, "Identity", {}, [x])
    op.check_no_other_arguments()
    return _layer(op, "Activation", {"activation": ACTIVATIONS[f]}, [x])


def _rebuild(op):
    f = op.function
    if f in (*ADD, *SUBTRACT, *MULTIPLY, *DIVIDE, *NEGATE):
        return _arithmetic(op)
    if f in POOLS:
        return _pool(op)
    if f == "reshape":
        return _reshape(op)
    if f == "concat":
        return _concat(op)
    if f in ACTIVATIONS or f in (
        "nn.relu6",
        "nn.leaky_relu",
        "nn.softmax",
        "math.softmax",
        "identity",
    ):
        return _activation(op)
    if op.layer["class_name"] == "SlicingOpLambda":
        op.refuse("slices a tensor (x[...]), which rateconv does not rebuild")
    op.refuse("has no Keras layer that rateconv rebuilds it as")


def rewrite_tf_ops(model_config, source):
    """`model_config` with every ``TFOpLambda`` replaced by a Keras layer.

    Parameters
    ----------
    model_config : dict
        A Keras 2 model config (``{"class_name": ..., "config": ...}``); nested
        functional models are rewritten too.  Not modified.
    source : str
        The file the config came from, for error messages.

    Returns
    -------
    dict
        The rewritten config.

    Raises
    ------
    LegacyModelError
        A TensorFlow op rateconv does not rebuild; the message names the op
        and the layer.

    Example
    -------
    >>> config = {"class_name": "Functional", "config": {"layers": [
    ...     {"class_name": "InputLayer", "name": "in", "inbound_nodes": [],
    ...      "config": {"name": "in", "batch_input_shape": [None, 3]}},
    ...     {"class_name": "TFOpLambda", "name": "tf.nn.relu",
    ...      "config": {"name": "tf.nn.relu", "function": "nn.relu"},
    ...      "inbound_nodes": [["in", 0, 0, {"name": None}]]}]}}
    >>> rewrite_tf_ops(config, "m.h5")["config"]["layers"][1]["class_name"]
    'Activation'
    """
    if not isinstance(model_config, dict):
        return model_config
    config = model_config.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        return model_config
    names = {
        layer.get("name") or layer.get("config", {}).get("name")
        for layer in config["layers"]
    }
    layers = []
    for layer in config["layers"]:
        if layer.get("class_name") in TF_OP_CLASSES:
            layer = _rebuild(_Op(layer, names, source))
        elif isinstance(layer.get("config"), dict) and "layers" in layer["config"]:
            layer = rewrite_tf_ops(layer, source)
        layers.append(layer)
    return {**model_config, "config": {**config, "layers": layers}}
