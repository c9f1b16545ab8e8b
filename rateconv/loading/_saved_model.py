"""tf.keras 2.x SavedModel directories rebuilt in Keras 3.

``model.save("dir", save_format="tf")`` in TensorFlow 2.x writes, besides the
TensorFlow graph (``saved_model.pb``), a ``keras_metadata.pb``: one record per
tracked object, whose ``metadata`` JSON holds, for the root, the model's
config (the same Keras 2 config an HDF5 file holds) and for each layer with
weights (``root.layer_with_weights-3``) its name.  The variables are in the
TensorFlow checkpoint ``variables/variables`` under keys such as
``layer_with_weights-3/kernel/.ATTRIBUTES/VARIABLE_VALUE``.  `read_saved_model`
joins the two: the model from the config (`model_from_legacy_config`), each
weight from the checkpoint key of its layer.

``keras_metadata.pb`` is a small protocol buffer (``SavedMetadata { repeated
SavedObject nodes = 1; }``, ``SavedObject { string node_path = 3; string
identifier = 4; string metadata = 5; }``), decoded here from its wire format,
so no Keras 2 protobuf classes are needed.
"""

from __future__ import annotations

import re
from pathlib import Path

from rateconv.loading._legacy import (
    assign_weights,
    decode_config,
    model_from_legacy_config,
)
from rateconv.loading._tf_ops import LegacyModelError

VARIABLE_KEY = re.compile(r"^layer_with_weights-\d+/.*/\.ATTRIBUTES/VARIABLE_VALUE$")
LAYER_EDGE = re.compile(r"^layer(?:_with_weights)?-\d+$")


def resave_command(directory):
    """The shell command that re-saves a SavedModel as HDF5 in TF 2.x.

    Example
    -------
    >>> print(resave_command("exported"))  # doctest: +ELLIPSIS
    python -c "import tensorflow as tf; tf.keras.models.load_model('exported', ...
    """
    return (
        'python -c "import tensorflow as tf; tf.keras.models.load_model('
        f"'{directory}', compile=False).save('model.h5')\""
    )


def _varint(buf, i):
    shift = result = 0
    while True:
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, i
        shift += 7


def _fields(buf):
    """``(field number, value)`` of a protocol buffer message's wire bytes."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            size, i = _varint(buf, i)
            value = buf[i : i + size]
            i += size
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported protocol buffer wire type {wire}")
        yield number, value


def read_keras_metadata(path):
    """``{node_path: metadata dict}`` of a ``keras_metadata.pb`` file.

    Example
    -------
    >>> nodes = read_keras_metadata("dir/keras_metadata.pb")  # doctest: +SKIP
    >>> nodes["root"]["class_name"]  # doctest: +SKIP
    'Sequential'
    """
    nodes = {}
    for number, node in _fields(Path(path).read_bytes()):
        if number != 1:
            continue
        fields = dict(_fields(node))
        node_path = bytes(fields.get(3, b"")).decode("utf-8")
        metadata = bytes(fields.get(5, b"")).decode("utf-8")
        nodes[node_path] = decode_config(metadata) if metadata else {}
    return nodes


def read_object_graph(data):
    """The checkpoint's object graph: ``[(children, variables)]`` per node.

    ``children`` maps a child's local name to its node id; ``variables`` maps
    an attribute name (``"VARIABLE_VALUE"``) to its checkpoint key.  Decoded
    from the wire format of TensorFlow's ``TrackableObjectGraph`` (``nodes =
    1``; a node's ``children = 1`` of ``{node_id = 1, local_name = 2}`` and
    ``attributes = 2`` of ``{name = 1, checkpoint_key = 3}``).
    """
    graph = []
    for number, node in _fields(bytes(data)):
        if number != 1:
            continue
        children, variables = {}, {}
        for field, value in _fields(node):
            entry = dict(_fields(value)) if field in (1, 2) else {}
            if field == 1:
                children[bytes(entry.get(2, b"")).decode("utf-8")] = entry.get(1, 0)
            elif field == 2:
                name = bytes(entry.get(1, b"")).decode("utf-8")
                variables[name] = bytes(entry.get(3, b"")).decode("utf-8")
        graph.append((children, variables))
    return graph


def _checkpoint_weights(prefix, nodes, source):
    """``{layer name: [(weight name, array)]}`` from the checkpoint at `prefix`.

    Walks the checkpoint's object graph from the root along the layer edges
    (``layer_with_weights-K``, ``layer-K``, as in ``keras_metadata.pb``'s
    node paths); each layer's variables are its children holding a value.
    A nested model's weights are named ``"<inner layer>/<variable>"``.
    """
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(prefix))
    graph = read_object_graph(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    weights = {}

    def walk(node_id, path, owner, inner):
        children, _ = graph[node_id]
        for local, child in children.items():
            if LAYER_EDGE.match(local):
                child_path = f"{path}.{local}"
                name = nodes.get(child_path, {}).get("name")
                if name is None:
                    continue  # not a layer Keras recorded
                if owner is None:
                    walk(child, child_path, name, [])
                else:
                    walk(child, child_path, owner, [*inner, name])
            elif owner is not None and "VARIABLE_VALUE" in graph[child][1]:
                key = graph[child][1]["VARIABLE_VALUE"]
                weight = "/".join([*inner, local])
                weights.setdefault(owner, []).append((weight, reader.get_tensor(key)))

    walk(0, "root", None, [])
    if not weights and any(
        VARIABLE_KEY.match(k) for k in reader.get_variable_to_shape_map()
    ):
        raise LegacyModelError(
            f"{source}: no layer variables found along keras_metadata.pb's layer "
            f"paths; re-save the model as HDF5 in TF 2.x: {resave_command(source)}"
        )
    return weights


def read_saved_model(directory, source):
    """A Keras 3 model from a tf.keras 2.x SavedModel directory.

    Returns
    -------
    tuple
        ``(model, keras_version, compiled)`` as `read_h5` returns them.

    Raises
    ------
    LegacyModelError
        No Keras metadata (a SavedModel not written by tf.keras, or by
        Keras 3's ``model.export``) or a model that cannot be rebuilt; the
        message gives the command that re-saves it as HDF5.
    """
    directory = Path(directory)
    metadata = directory / "keras_metadata.pb"
    if not metadata.is_file():
        raise LegacyModelError(
            f"{source} is a TensorFlow SavedModel without Keras metadata "
            "(keras_metadata.pb), so its layers cannot be read; in the TF 2.x "
            "environment that wrote it, save the Keras model as HDF5 instead: "
            f"{resave_command(source)}"
        )
    nodes = read_keras_metadata(metadata)
    root = nodes.get("root", {})
    config = {"class_name": root.get("class_name"), "config": root.get("config")}
    if root.get("config") is None or not root.get("is_graph_network", True):
        raise LegacyModelError(
            f"{source} is a SavedModel of a subclassed Keras model "
            f"({root.get('class_name')}), whose layer graph is Python code; "
            "rebuild it as a Sequential or functional model, or re-save it as "
            f"HDF5 in TF 2.x: {resave_command(source)}"
        )
    model = model_from_legacy_config(config, source)
    weights = _checkpoint_weights(directory / "variables" / "variables", nodes, source)
    assign_weights(model, weights, source)
    return model, root.get("keras_version"), bool(root.get("training_config"))
