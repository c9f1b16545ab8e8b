"""Make the Keras 2 model files that tests/test_loading.py loads and converts.

The files are what a NengoDL-era user brings: models built, trained for one
epoch and saved by TensorFlow 2.12 / Keras 2.12 (the last environment NengoDL
runs in).  They are committed, so the test suite needs no TensorFlow 2.12; run
this script only to make them again, in its own virtual environment:

    python3.11 -m venv /work/venvs/tf212
    /work/venvs/tf212/bin/pip install "tensorflow-cpu==2.12.*"
    /work/venvs/tf212/bin/python tests/data/keras2/make_fixtures.py

(TensorFlow 2.12.1 with Keras 2.12.0 made the committed files.)  Each model
gets a ``<name>.npz`` beside its files: ``x`` (an input batch), ``y`` (random
labels, so that ``rateconv evaluate FILE --data <name>.npz`` runs) and
``predict`` (Keras 2's ``predict`` of ``x``).

Files
-----
seq.h5, seq.keras, seq_savedmodel/
    A Sequential conv / pooling / dense network compiled with a loss, saved
    as ``.h5``, as ``.keras`` (Keras 2.12 writes HDF5 under that name too:
    the script checks it) and as a SavedModel directory
    (``save_format="tf"``).
tfops.h5, tfops_savedmodel/
    A functional network whose graph holds TensorFlow ops (``TFOpLambda``):
    relu, relu6, leaky_relu, add / subtract / multiply by constants and of two
    tensors (also as ``+``, ``-``, ``*``), reshape, concat, avg_pool2d,
    max_pool2d, identity, and ``activation=tf.nn.relu`` in Conv2D and Dense.
nested.h5, nested_savedmodel/
    A functional network calling a nested Sequential (Dense, batch norm),
    with Dropout and a Concatenate on axis 1 (Keras 2 numbers a nested
    model's calls from 1, and Keras before 3.4 drops an integer axis of a
    Keras 2 config: both are handled by the loader).
sigmoid.h5
    A functional network with ``tf.nn.sigmoid`` (loads; the converter
    refuses the sigmoid).
product.h5
    ``tf.math.multiply`` of two tensors (loads; not affine, so the converter
    refuses it).
cumsum.h5
    ``tf.math.cumsum``: an op rateconv does not rebuild (loading fails
    naming it).
"""

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

HERE = Path(__file__).resolve().parent
keras = tf.keras
layers = tf.keras.layers


def train(model, x, n_classes=10):
    """Compile with a loss and train one epoch on random labels."""
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    labels = np.random.default_rng(1).integers(0, n_classes, len(x))
    model.fit(x, labels, epochs=1, batch_size=16, verbose=0)
    return model


def sequential():
    return keras.Sequential(
        [
            keras.Input((12, 12, 2)),
            layers.Conv2D(4, 3, activation="relu", name="conv_a"),
            layers.AveragePooling2D(2),
            layers.Conv2D(6, 3, padding="same", activation=tf.nn.relu),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(16, activation="relu"),
            layers.Dense(10),
        ],
        name="seq",
    )


def tfops():
    inp = keras.Input((8, 8, 3))
    a = layers.Conv2D(4, 3, padding="same")(inp)
    a = tf.nn.relu(a)
    b = tf.nn.relu6(layers.Conv2D(4, 1)(inp) * 4.0)
    c = tf.nn.leaky_relu(layers.Conv2D(4, 1)(inp), alpha=0.1)
    s = tf.math.add(a, b)
    s = tf.math.subtract(s, c)
    s = tf.math.multiply(s, 0.5)
    s = tf.math.add(s, 0.25)
    s = tf.math.subtract(s, 0.125)
    s = tf.math.multiply(2.0, s)
    s = s + 1.0
    s = 1.0 - s
    s = s - a
    s = a + s
    d = layers.Conv2D(4, 3, padding="same", activation=tf.nn.relu)(inp)
    cat = tf.concat([s, d], axis=-1)
    p1 = tf.nn.avg_pool2d(cat, ksize=2, strides=2, padding="VALID")
    p2 = tf.nn.max_pool2d(cat, ksize=[2, 2], strides=[2, 2], padding="SAME")
    p = tf.identity(layers.Add()([p1, p2]))
    flat = tf.reshape(p, (-1, 4 * 4 * 8))
    h = layers.Dense(16, activation=tf.nn.relu)(flat)
    out = layers.Dense(10)(h)
    return keras.Model(inp, out, name="tfops")


def nested():
    inner = keras.Sequential(
        [keras.Input((6,)), layers.Dense(5), layers.BatchNormalization()],
        name="inner",
    )
    inp = keras.Input((6,))
    a = layers.Dropout(0.2)(inner(inp))
    b = layers.Dense(3, activation="relu")(inp)
    h = layers.Concatenate(axis=1)([a, b])
    return keras.Model(inp, layers.Dense(10)(h), name="nested")


def small(op, name):
    inp = keras.Input((6,))
    h = layers.Dense(8)(inp)
    h = op(h)
    return keras.Model(inp, layers.Dense(10)(h), name=name)


def save_npz(name, model, x):
    y = model.predict(x, verbose=0)
    labels = np.random.default_rng(2).integers(0, 10, len(x))
    np.savez_compressed(
        HERE / f"{name}.npz", x=x.astype(np.float32), y=labels, predict=y
    )


def fresh(path):
    path = HERE / path
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    return str(path)


def main():
    tf.keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    print("TensorFlow", tf.__version__, "Keras", keras.__version__, file=sys.stderr)

    x = rng.uniform(0, 1, (64, 12, 12, 2)).astype(np.float32)
    model = train(sequential(), x)
    model.save(fresh("seq.h5"))
    model.save(fresh("seq.keras"))
    with open(HERE / "seq.keras", "rb") as f:
        assert f.read(8) == b"\x89HDF\r\n\x1a\n", "seq.keras is not HDF5"
    model.save(fresh("seq_savedmodel"), save_format="tf")
    save_npz("seq", model, x[:8])

    x = rng.uniform(0, 1, (64, 8, 8, 3)).astype(np.float32)
    model = train(tfops(), x)
    model.save(fresh("tfops.h5"))
    model.save(fresh("tfops_savedmodel"), save_format="tf")
    save_npz("tfops", model, x[:8])

    x = rng.uniform(-1, 1, (64, 6)).astype(np.float32)
    model = train(nested(), x)
    model.save(fresh("nested.h5"))
    model.save(fresh("nested_savedmodel"), save_format="tf")
    save_npz("nested", model, x[:8])

    for name, op in [
        ("sigmoid", tf.nn.sigmoid),
        ("product", lambda h: tf.math.multiply(h, tf.nn.relu(h))),
        ("cumsum", lambda h: tf.math.cumsum(h, axis=-1)),
    ]:
        model = train(small(op, name), x)
        model.save(fresh(f"{name}.h5"))
        save_npz(name, model, x[:8])

    for path in sorted(HERE.iterdir()):
        size = sum(
            p.stat().st_size for p in ([path] if path.is_file() else path.rglob("*"))
        )
        print(f"{size:8d}  {path.name}", file=sys.stderr)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
