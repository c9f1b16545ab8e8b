"""Keras 2 models (tf.keras 2.x HDF5 files) rebuilt in Keras 3.

A tf.keras 2.x HDF5 file holds the model's config as JSON (the root attribute
``model_config``), its compile state (``training_config``: loss, optimizer,
metrics) and its weights (``model_weights/<layer>/``, listed in each group's
``weight_names`` attribute).  `model_from_legacy_config` rebuilds the model
from the config with Keras' own readers of Keras 2 configs
(``keras.Sequential.from_config`` / ``keras.Model.from_config``), after
`rewrite_tf_ops` has replaced the TensorFlow ops Keras 3 cannot read;
`assign_weights` then sets every weight by layer name.  The compile state is
not read: conversion does not use it (and Keras 3 cannot read Keras 2's).
"""

from __future__ import annotations

import copy
import json

import keras
import numpy as np

from rateconv.loading._tf_ops import LegacyModelError, rewrite_tf_ops

FUNCTIONAL = ("Functional", "Model")


def decode_config(value):
    """A config JSON string (or bytes) as Python, Keras 2's tuples as lists."""
    if isinstance(value, bytes):
        value = value.decode("utf-8")

    def tuples(obj):
        # Keras 2 SavedModel metadata writes tuples as {"class_name":
        # "__tuple__", "items": [...]}
        if obj.get("class_name") == "__tuple__" and set(obj) == {"class_name", "items"}:
            return list(obj["items"])
        return obj

    return json.loads(value, object_hook=tuples)


def _axis_as_list(model_config):
    """Every layer's integer ``axis`` as ``[axis]``, in place.

    Keras 3's reader of Keras 2 layer configs keeps an ``axis`` given as a
    one-element list; before Keras 3.4 it drops an integer one (a
    ``Concatenate(axis=1)`` came back with ``axis=-1``).
    """
    for layer in model_config.get("config", {}).get("layers", []):
        config = layer.get("config")
        if not isinstance(config, dict):
            continue
        if isinstance(config.get("axis"), int) and not isinstance(config["axis"], bool):
            config["axis"] = [config["axis"]]
        if "layers" in config:
            _axis_as_list(layer)


def _has_own_node(layer):
    """Whether Keras 2 gave this nested model a node of its own at creation.

    A nested functional model (or Sequential built from an ``Input``) had an
    inbound node from its construction in Keras 2, so the calls of it in the
    outer graph are its nodes 1, 2, ...; Keras 3 rebuilds it without that
    node (Keras 2's ``_should_skip_first_node``).
    """
    config = layer.get("config")
    if layer.get("class_name") not in ("Sequential", *FUNCTIONAL):
        return False
    inner = config.get("layers") if isinstance(config, dict) else None
    return bool(inner) and inner[0].get("class_name") == "InputLayer"


def _renumber_nested_nodes(model_config):
    """References to nested models' calls renumbered from 0, in place."""
    config = model_config.get("config", {})
    layers = config.get("layers", [])
    shifted = {layer.get("name") for layer in layers if _has_own_node(layer)}
    for layer in layers:
        if layer.get("class_name") in ("Sequential", *FUNCTIONAL):
            _renumber_nested_nodes(layer)
    if not shifted:
        return

    def shift(ref):
        if isinstance(ref, list) and len(ref) >= 3 and ref[0] in shifted:
            if isinstance(ref[1], int) and ref[1] >= 1:
                ref[1] -= 1

    for layer in layers:
        for node in layer.get("inbound_nodes") or []:
            for ref in node if isinstance(node, list) else []:
                shift(ref)
    for key in ("output_layers", "input_layers"):
        refs = config.get(key) or []
        for ref in refs if refs and isinstance(refs[0], list) else [refs]:
            shift(ref)


def model_from_legacy_config(model_config, source):
    """A Keras 3 model (weights not set) from a Keras 2 model config.

    Parameters
    ----------
    model_config : dict
        ``{"class_name": "Sequential" | "Functional" | "Model", "config": ...}``.
    source : str
        The file, for error messages.

    Returns
    -------
    keras.Model

    Raises
    ------
    LegacyModelError
        A subclassed model (no layer graph in the file), or a TensorFlow op
        or layer that Keras 3 cannot rebuild.

    Example
    -------
    >>> config = {"class_name": "Sequential", "config": {"name": "m", "layers": [
    ...     {"class_name": "InputLayer",
    ...      "config": {"batch_input_shape": [None, 3], "dtype": "float32",
    ...                 "name": "x"}},
    ...     {"class_name": "Dense", "config": {"name": "d", "units": 2}}]}}
    >>> tuple(model_from_legacy_config(config, "m.h5").get_layer("d").kernel.shape)
    (3, 2)
    """
    if not isinstance(model_config, dict) or "class_name" not in model_config:
        raise LegacyModelError(
            f"{source} holds no Keras model config; if it holds weights only "
            "(model.save_weights), build the model in Keras 3 and call "
            "model.load_weights on it."
        )
    class_name = model_config["class_name"]
    if class_name == "Sequential":
        cls = keras.Sequential
    elif class_name in FUNCTIONAL:
        cls = keras.Model
    else:
        raise LegacyModelError(
            f"{source} holds a subclassed Keras 2 model ({class_name}), whose "
            "layer graph is Python code, not part of the file; rebuild it as a "
            "Sequential or functional model, copy the weights and save it again."
        )
    model_config = copy.deepcopy(rewrite_tf_ops(model_config, source))
    _axis_as_list(model_config)
    if class_name in FUNCTIONAL:
        _renumber_nested_nodes(model_config)
    config = model_config["config"]
    try:
        return cls.from_config(config)
    except LegacyModelError:
        raise
    except Exception as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        why = (lines[0] if lines else type(e).__name__)[:300]
        raise LegacyModelError(
            f"{source}: Keras {keras.__version__} cannot rebuild this Keras 2 "
            f"model from its config ({type(e).__name__}: {why}); if it uses a "
            "custom layer, import the module defining it (registered with "
            "@keras.saving.register_keras_serializable) before loading."
        ) from e


def _short(name):
    """``"dense/kernel:0"`` -> ``"dense/kernel"``."""
    name = name.decode("utf-8") if isinstance(name, bytes) else str(name)
    return name[:-2] if name.endswith(":0") else name


def _match(layer, saved, source):
    """``[(variable, value)]``: `saved` (``[(name, array)]``) onto `layer`.

    By name: a saved ``"dense/kernel"`` goes to the variable whose path ends
    with it (or whose own name is its last part); failing that, in Keras'
    legacy order (trainable, then non-trainable) with the shapes checked.
    """
    variables = list(layer.trainable_weights) + list(layer.non_trainable_weights)
    if len(variables) != len(saved):
        raise LegacyModelError(
            f"{source}: layer '{layer.name}' has {len(variables)} weights in "
            f"Keras {keras.__version__} but {len(saved)} in the file "
            f"({[name for name, _ in saved]}); the file does not match its config."
        )
    pairs = []
    for name, value in saved:
        last = name.split("/")[-1]
        found = [v for v in variables if v.path == name or v.path.endswith("/" + name)]
        if len(found) != 1:
            found = [v for v in variables if v.name == last]
        if len(found) != 1:
            pairs = None
            break
        pairs.append((found[0], value))
    if pairs is None or len({id(v) for v, _ in pairs}) != len(variables):
        pairs = list(zip(variables, (value for _, value in saved)))
    for variable, value in pairs:
        if tuple(variable.shape) != tuple(value.shape):
            raise LegacyModelError(
                f"{source}: weight {variable.path} of layer '{layer.name}' has "
                f"shape {tuple(variable.shape)} but the file holds "
                f"{tuple(value.shape)}; the file does not match its config."
            )
    return pairs


def assign_weights(model, weights, source):
    """Set `model`'s weights from ``{layer name: [(name, array), ...]}``.

    Every layer with weights must be in `weights` and every saved layer in
    the model, so a file that does not match its config is an error.
    """
    layers = {layer.name: layer for layer in model.layers}
    for name in weights:
        if weights[name] and name not in layers:
            raise LegacyModelError(
                f"{source} holds weights for layer '{name}', which its model "
                "config does not have."
            )
    pairs = []
    for name, layer in layers.items():
        saved = weights.get(name, [])
        if layer.weights or saved:
            pairs += _match(layer, saved, source)
    for variable, value in pairs:
        variable.assign(np.asarray(value, dtype=variable.dtype))


def h5_weights(group):
    """``{layer name: [(weight name, array), ...]}`` of a Keras 2 HDF5 group."""
    out = {}
    for layer_name in group.attrs.get("layer_names", list(group)):
        layer_name = _short(layer_name)
        layer_group = group[layer_name]
        names = [_short(n) for n in layer_group.attrs.get("weight_names", [])]
        out[layer_name] = [
            (
                n,
                np.asarray(
                    layer_group[n + ":0"] if n + ":0" in layer_group else layer_group[n]
                ),
            )
            for n in names
        ]
    return out


def read_h5(path, source):
    """A Keras 3 model from a Keras 2 HDF5 file, and whether it was compiled.

    Returns
    -------
    tuple
        ``(model, keras_version, compiled)``: ``keras_version`` as written in
        the file (None if absent), ``compiled`` whether the file held a
        compile state (which is not read).
    """
    import h5py

    with h5py.File(path, "r") as f:
        if "model_config" not in f.attrs:
            raise LegacyModelError(
                f"{source} is an HDF5 file without a Keras model config (weights "
                "only, from model.save_weights, or not from Keras); build the "
                "model in Keras 3 and call model.load_weights, or save the whole "
                "model with model.save."
            )
        config = decode_config(f.attrs["model_config"])
        version = f.attrs.get("keras_version")
        if isinstance(version, bytes):
            version = version.decode("utf-8")
        compiled = "training_config" in f.attrs
        model = model_from_legacy_config(config, source)
        group = f["model_weights"] if "model_weights" in f else f
        assign_weights(model, h5_weights(group), source)
    return model, version, compiled
