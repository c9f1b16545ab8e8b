"""Converting ``keras.ops`` calls recorded in a functional graph.

Arithmetic on Keras tensors in a functional model (``x * 0.5 + 1``,
``keras.ops.add(a, b)``, ``-x``) is recorded as *operation* nodes: they are
listed in ``model.get_config()["layers"]`` with their call arguments (tensors
and constants) but are not layers (``model.get_layer`` does not find them).
`read_graph` finds the operation objects in ``model.operations`` (public API);
this module identifies them by class name only (``type(op).__name__``: the
classes themselves live in the private ``keras.src.ops``) and converts the
affine ones: a stage whose ``op`` replays the recorded call with the stage's
tensors, so rate mode computes what Keras computes.

Affine, hence converted: ``add`` and ``subtract`` (of two tensors, or of a
tensor and a constant, either order), ``multiply`` of a tensor by a constant,
``divide`` / ``true_divide`` of a tensor by a constant, ``negative``.  Any
other operation raises a ``TypeError`` that names it and suggests a layer.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rateconv.converter._keras_graph import TensorSlot, fill_slots

AFFINE_OPERATIONS = ("Add", "Subtract", "Multiply", "Divide", "TrueDivide", "Negative")
"""Class names of the ``keras.ops`` operations converted (when affine)."""


@dataclasses.dataclass(frozen=True, eq=False)
class OperationCall:
    """A recorded ``keras.ops`` call, replayed on new tensors: ``op(*tensors)``."""

    operation: object
    args: tuple
    kwargs: dict

    def __call__(self, *tensors):
        return self.operation(
            *fill_slots(self.args, tensors), **fill_slots(self.kwargs, tensors)
        )


def _slots(obj):
    if isinstance(obj, TensorSlot):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _slots(v)]
    if isinstance(obj, (list, tuple)):
        return [s for v in obj for s in _slots(v)]
    return []


def _is_constant(value):
    if isinstance(value, (bool, int, float, np.number)):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "biuf"
    return False


def _refuse(node, model_name, why):
    op = node.layer
    kind = type(op).__name__
    raise TypeError(
        f"Operation '{node.name}' (keras.ops {kind}) in model '{model_name}' "
        f"{why}, so it has no spiking equivalent. rateconv converts keras.ops "
        "calls that are affine: add / subtract (tensors or constants), multiply "
        "or divide by a constant, negation. Replace it with a layer: "
        "keras.layers.Rescaling(scale, offset) for x * a + b, keras.layers.Add / "
        "Subtract / Concatenate to combine tensors, keras.layers.Reshape / "
        "Permute / Flatten for shapes, or a custom layer with "
        "@rateconv.register_converter."
    )


def operation_fields(node, model_name):
    """The stage fields of a ``keras.ops`` call `Node`: ``{"op": ...}``.

    Raises
    ------
    TypeError
        If the operation is not one of `AFFINE_OPERATIONS` or is called in a
        way that is not affine in its tensors (e.g. a product of two tensors,
        a constant divided by a tensor).
    """
    kind = type(node.layer).__name__
    if kind not in AFFINE_OPERATIONS:
        _refuse(node, model_name, "is not one of the affine operations")
    if _slots(node.kwargs):
        _refuse(node, model_name, "takes a tensor as a keyword argument")
    args = node.args
    tensor_at = [i for i, a in enumerate(args) if isinstance(a, TensorSlot)]
    constants = [a for i, a in enumerate(args) if i not in tensor_at]
    if len(_slots(args)) != len(tensor_at) or not all(map(_is_constant, constants)):
        _refuse(node, model_name, "has arguments that are neither tensors nor numbers")
    n_args = 1 if kind == "Negative" else 2
    if len(args) != n_args or not tensor_at:
        _refuse(node, model_name, f"is called with {len(args)} arguments")
    if kind == "Multiply" and len(tensor_at) > 1:
        _refuse(node, model_name, "multiplies two tensors (not affine)")
    if kind in ("Divide", "TrueDivide") and tensor_at != [0]:
        _refuse(node, model_name, "divides by a tensor (not affine)")
    for c in constants:
        if np.ndim(c) > len(node.output_shape) and np.shape(c)[0] != 1:
            _refuse(node, model_name, "uses a constant with a batch axis")
    return {"op": OperationCall(node.layer, args, dict(node.kwargs))}
