"""`rateconv.load_model`: Keras 3 archives and tf.keras 2.x files.

The Keras 2 files under tests/data/keras2/ were written by TensorFlow 2.12 /
Keras 2.12 (tests/data/keras2/make_fixtures.py makes them again); each
``<name>.npz`` holds an input batch ``x``, labels ``y`` and Keras 2's
``predict`` of ``x``, against which the loaded model and its conversion are
checked.
"""

import json
import shutil
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

import rateconv
from rateconv.cli import main
from rateconv.loading import (
    LegacyModelError,
    model_from_legacy_config,
    read_model,
    rewrite_tf_ops,
    supported_tf_ops,
)
from tests.helpers import tiny_model

DATA = Path(__file__).resolve().parent / "data" / "keras2"

# (file or directory, its batch): the rows of issue 24's table
ROWS = [
    ("seq.h5", "seq"),
    ("seq.keras", "seq"),  # Keras 2.12 writes HDF5 under a .keras name
    ("seq_savedmodel", "seq"),
    ("tfops.h5", "tfops"),
    ("tfops_savedmodel", "tfops"),
    # a nested Sequential with batch norm, Dropout, Concatenate(axis=1)
    ("nested.h5", "nested"),
    ("nested_savedmodel", "nested"),
]


def batch(name):
    with np.load(DATA / f"{name}.npz") as npz:
        return npz["x"], npz["y"], npz["predict"]


def rate_outputs(model, x):
    net = rateconv.convert(model)
    return rateconv.Simulator(net, precision="float32").predict(x, mode="rate")


@pytest.mark.parametrize("path, name", ROWS)
def test_keras2_file_converts_to_keras2_predictions(path, name):
    x, _, expected = batch(name)
    model = rateconv.load_model(DATA / path)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-6)
    np.testing.assert_allclose(rate_outputs(model, x), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "path, kind",
    [("seq.h5", "hdf5"), ("seq.keras", "hdf5"), ("seq_savedmodel", "savedmodel")],
)
def test_read_model_says_what_it_read_and_dropped(path, kind):
    loaded = read_model(DATA / path)
    assert loaded.format == kind
    assert loaded.keras_version == "2.12.0"
    assert loaded.compile_state_dropped
    assert "compile state" in loaded.describe()
    assert getattr(loaded.model, "optimizer", None) is None  # not compiled


def test_tf_ops_become_keras_layers():
    model = rateconv.load_model(DATA / "tfops.h5")
    kinds = {layer.name: type(layer).__name__ for layer in model.layers}
    assert kinds["tf.nn.relu"] == "Activation"
    assert (
        kinds["tf.nn.relu6"] == "ReLU" and model.get_layer("tf.nn.relu6").max_value == 6
    )
    leaky = model.get_layer("tf.nn.leaky_relu")
    assert type(
        leaky
    ).__name__ == "LeakyReLU" and leaky.negative_slope == pytest.approx(0.1)
    assert kinds["tf.math.add"] == "Add" and kinds["tf.math.subtract"] == "Subtract"
    assert kinds["tf.math.multiply_2"] == "Rescaling"  # 2.0 * s
    assert kinds["tf.concat"] == "Concatenate"
    assert kinds["tf.nn.avg_pool2d"] == "AveragePooling2D"
    assert kinds["tf.nn.max_pool2d"] == "MaxPooling2D"
    assert kinds["tf.identity"] == "Identity" and kinds["tf.reshape"] == "Reshape"
    assert not any("Lambda" in kind for kind in kinds.values())


def test_sigmoid_loads_and_the_converter_refuses_it():
    x, _, expected = batch("sigmoid")
    model = rateconv.load_model(DATA / "sigmoid.h5")
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-6)
    with pytest.raises(ValueError, match="sigmoid.*no spiking equivalent"):
        rateconv.convert(model)


def test_product_of_tensors_loads_and_the_converter_refuses_it():
    x, _, expected = batch("product")
    model = rateconv.load_model(DATA / "product.h5")
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-6)
    with pytest.raises(TypeError, match="Multiply"):
        rateconv.convert(model)


def test_unsupported_tf_op_is_one_line_naming_op_and_layer():
    with pytest.raises(ValueError) as info:
        rateconv.load_model(DATA / "cumsum.h5")
    message = str(info.value)
    assert "\n" not in message
    assert "tf.math.cumsum" in message and "layer 'tf.math.cumsum'" in message
    assert "cumsum.h5" in message


def test_savedmodel_without_keras_metadata_gives_the_resave_command(tmp_path):
    directory = tmp_path / "exported"
    shutil.copytree(DATA / "seq_savedmodel", directory)
    (directory / "keras_metadata.pb").unlink()
    with pytest.raises(ValueError) as info:
        rateconv.load_model(directory)
    message = str(info.value)
    assert "\n" not in message and "SavedModel" in message
    assert f"tf.keras.models.load_model('{directory}', compile=False)" in message
    assert ".save('model.h5')" in message


def test_keras3_archive_under_any_name(tmp_path):
    model = tiny_model()
    x = np.random.default_rng(0).uniform(0, 1, (4, 28, 28, 1)).astype("float32")
    model.save(tmp_path / "tiny.keras")
    shutil.copy(tmp_path / "tiny.keras", tmp_path / "tiny.zip")
    for name in ("tiny.keras", "tiny.zip"):
        loaded = read_model(tmp_path / name)
        assert loaded.format == "keras" and not loaded.compile_state_dropped
        assert isinstance(loaded.model.get_layer("lif"), rateconv.SoftLIF)
        np.testing.assert_allclose(
            loaded.model.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
        )


def test_keras3_hdf5_file(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(4, activation="relu"),
            keras.layers.Dense(3),
        ]
    )
    model.compile(loss="mse")
    model.save(tmp_path / "m.h5")
    x = np.random.default_rng(0).normal(size=(6, 5)).astype("float32")
    loaded = rateconv.load_model(tmp_path / "m.h5")
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
    )


@pytest.mark.parametrize(
    "make, fragments",
    [
        (lambda p: p, ["model file not found"]),
        (
            lambda p: (p.write_text("hello"), p)[1],
            ["not a Keras model file", "corrupt"],
        ),
        (lambda p: (p.write_bytes(b""), p)[1], ["an empty file"]),
        (lambda p: p.mkdir() or p, ["directory without saved_model.pb"]),
    ],
)
def test_what_is_not_a_model_is_a_clear_error(tmp_path, make, fragments):
    path = make(tmp_path / "model.h5")
    with pytest.raises((FileNotFoundError, ValueError)) as info:
        rateconv.load_model(path)
    assert "\n" not in str(info.value)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_hdf5_weights_only_is_a_clear_error(tmp_path):
    path = tmp_path / "w.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("kernel", data=np.zeros(3))
    with pytest.raises(ValueError, match="without a Keras model config"):
        rateconv.load_model(path)


# --- TensorFlow ops the fixtures do not hold, rebuilt from configs ---


def _op_model(function, inbound, n_inputs=1, shape=(2, 3, 4)):
    """A Keras 2 functional config: inputs, one TFOpLambda op, the output."""
    inputs = [
        {
            "class_name": "InputLayer",
            "name": f"in{i}",
            "inbound_nodes": [],
            "config": {
                "name": f"in{i}",
                "batch_input_shape": [None, *shape],
                "dtype": "float32",
            },
        }
        for i in range(n_inputs)
    ]
    op = {
        "class_name": "TFOpLambda",
        "name": "op",
        "config": {
            "name": "op",
            "trainable": True,
            "dtype": "float32",
            "function": function,
        },
        "inbound_nodes": [inbound],
    }
    return {
        "class_name": "Functional",
        "config": {
            "name": "m",
            "layers": [*inputs, op],
            "input_layers": [[f"in{i}", 0, 0] for i in range(n_inputs)],
            "output_layers": [["op", 0, 0]],
        },
    }


def _run(config, *xs):
    model = model_from_legacy_config(config, "test.h5")
    return np.asarray(model(list(xs)))


X = np.random.default_rng(0).normal(size=(2, 2, 3, 4)).astype("float32")
Z = np.random.default_rng(1).normal(size=(2, 2, 3, 4)).astype("float32")


@pytest.mark.parametrize(
    "function, kwargs, expected",
    [
        ("math.truediv", {"y": 4.0}, X / 4),
        ("__operators__.truediv", {"y": -2.0}, X / -2),
        ("math.negative", {}, -X),
        ("__operators__.sub", {"y": 3.0}, X - 3),
        ("math.multiply", {"y": 0.5, "name": None}, X * 0.5),
        ("nn.leaky_relu", {}, np.where(X > 0, X, 0.2 * X)),
        ("nn.relu6", {}, np.clip(X * 1, 0, 6)),
        ("math.tanh", {}, np.tanh(X)),
        ("nn.softmax", {"axis": -1}, np.exp(X) / np.exp(X).sum(-1, keepdims=True)),
        ("reshape", {"shape": [-1, 6, 4]}, X.reshape(2, 6, 4)),
        ("identity", {}, X),
    ],
)
def test_tf_op_with_one_tensor(function, kwargs, expected):
    config = _op_model(function, ["in0", 0, 0, kwargs])
    np.testing.assert_allclose(_run(config, X), expected, rtol=1e-5, atol=1e-6)


def test_constant_first_and_tensor_pairs():
    config = _op_model(
        "math.subtract", ["_CONSTANT_VALUE", -1, 2.0, {"y": ["in0", 0, 0]}]
    )
    np.testing.assert_allclose(_run(config, X), 2 - X, rtol=1e-6)
    config = _op_model("math.multiply", ["in0", 0, 0, {"y": ["in1", 0, 0]}], 2)
    np.testing.assert_allclose(_run(config, X, Z), X * Z, rtol=1e-6)
    config = _op_model("math.add_n", [["in0", 0, 0, {}], ["in1", 0, 0, {}]], 2)
    np.testing.assert_allclose(_run(config, X, Z), X + Z, rtol=1e-6)
    config = _op_model(
        "concat", [["in0", 0, 0, {"axis": 1}], ["in1", 0, 0, {"axis": 1}]], 2
    )
    np.testing.assert_allclose(_run(config, X, Z), np.concatenate([X, Z], 1))


def test_pooling_ops_match_tensorflow():
    import tensorflow as tf

    x = np.random.default_rng(2).normal(size=(2, 7, 7, 3)).astype("float32")
    for function, tf_op in [
        ("nn.avg_pool2d", tf.nn.avg_pool2d),
        ("nn.max_pool2d", tf.nn.max_pool2d),
    ]:
        for padding in ("VALID", "SAME"):
            kwargs = {"ksize": [1, 3, 3, 1], "strides": 2, "padding": padding}
            config = _op_model(function, ["in0", 0, 0, dict(kwargs)], shape=(7, 7, 3))
            expected = tf_op(x, ksize=3, strides=2, padding=padding).numpy()
            np.testing.assert_allclose(_run(config, x), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "function, inbound, fragment",
    [
        ("math.cumsum", ["in0", 0, 0, {"axis": -1}], "tf.math.cumsum"),
        (
            "math.truediv",
            ["_CONSTANT_VALUE", -1, 1.0, {"y": ["in0", 0, 0]}],
            "not affine",
        ),
        ("math.add", ["in0", 0, 0, {"y": [1.0, 2.0, 3.0, 4.0]}], "scalar constant"),
        ("reshape", ["in0", 0, 0, {"shape": [2, 24]}], "first (batch) entry is -1"),
        ("concat", [["in0", 0, 0, {"axis": 0}]], "batch axis"),
        ("nn.relu", ["in0", 0, 0, {"features2": 1}], "features2"),
        ("nn.avg_pool2d", ["in0", 0, 0, {"ksize": 2, "data_format": "NCHW"}], "NCHW"),
    ],
)
def test_tf_ops_not_rebuilt_are_one_line_errors(function, inbound, fragment):
    with pytest.raises(LegacyModelError) as info:
        rewrite_tf_ops(_op_model(function, inbound), "m.h5")
    message = str(info.value)
    assert "\n" not in message and "layer 'op'" in message and fragment in message


def test_supported_tf_ops_lists_the_rebuilt_functions():
    ops = supported_tf_ops()
    for name in (
        "nn.relu",
        "nn.relu6",
        "nn.leaky_relu",
        "math.add",
        "concat",
        "reshape",
    ):
        assert name in ops
    assert "math.cumsum" not in ops


# --- the command line ---

# 3 steps of an untuned network: silent layers are expected, not checked here
quiet = pytest.mark.filterwarnings("ignore::rateconv.ActivityWarning")


@quiet
@pytest.mark.parametrize("path, name", ROWS)
def test_cli_evaluates_keras2_files(path, name, capsys):
    status = main(
        [
            "evaluate",
            str(DATA / path),
            "--data",
            str(DATA / f"{name}.npz"),
            "--n-steps",
            "3",
            "--json",
        ]
    )
    out, err = capsys.readouterr()
    assert status == 0, err
    report = json.loads(out)
    _, labels, expected = batch(name)
    assert report["rate_error"] == pytest.approx(np.mean(expected.argmax(-1) != labels))
    assert "compile state" in report["loaded"]


@quiet
def test_cli_report_says_the_compile_state_was_dropped(capsys):
    status = main(
        [
            "evaluate",
            str(DATA / "seq.h5"),
            "--data",
            str(DATA / "seq.npz"),
            "--n-steps",
            "3",
        ]
    )
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "compile state (loss, optimizer, metrics) was dropped" in out


def test_cli_unsupported_op_is_one_line(capsys):
    status = main(
        ["evaluate", str(DATA / "cumsum.h5"), "--data", str(DATA / "cumsum.npz")]
    )
    _, err = capsys.readouterr()
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and "tf.math.cumsum" in err


# --- Keras 3 archives written by a newer Keras ---


def _rewrite_archive(source, target, edit):
    """Copy the archive `source` to `target` with ``edit(config)`` applied."""
    import zipfile

    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as out:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            out.writestr(item, data)


def _functional_model():
    inp = keras.Input((5,), name="x")
    out = keras.layers.Dense(3, name="d")(keras.layers.Dense(4, name="h")(inp))
    return keras.Model(inp, out)


def test_archive_from_a_newer_keras_loads(tmp_path):
    model = _functional_model()
    model.save(tmp_path / "m.keras")

    def newer(config):
        layers = config["config"]["layers"]
        dense = next(layer for layer in layers if layer["config"]["name"] == "h")
        dense["config"]["kernel_initializer"]["config"]["new_axes"] = [0, 1]
        dense["config"]["new_feature"] = None
        layers[0]["config"]["new_switch"] = False

    _rewrite_archive(tmp_path / "m.keras", tmp_path / "newer.keras", newer)
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    loaded = rateconv.load_model(tmp_path / "newer.keras")
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
    )


def test_archive_with_an_unknown_setting_in_use_is_refused(tmp_path):
    _functional_model().save(tmp_path / "m.keras")

    def newer(config):
        dense = config["config"]["layers"][1]["config"]
        dense["new_feature"] = "on"  # a setting in use: never silently dropped

    _rewrite_archive(tmp_path / "m.keras", tmp_path / "newer.keras", newer)
    with pytest.raises(ValueError, match="newer.keras"):
        rateconv.load_model(tmp_path / "newer.keras")
