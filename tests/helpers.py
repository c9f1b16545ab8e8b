"""Builders shared by several test modules (import them from here, never from
another test module).

Each returns fresh objects; seeds make them reproducible.
"""

import keras
import numpy as np

import rateconv

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def conv_net(activation="relu", pool="avg", seed=0):
    """A small conv net whose neurons fire at moderate rates."""
    keras.utils.set_random_seed(seed)
    if activation == "relu":
        act = lambda name: keras.layers.ReLU(name=name)  # noqa: E731
    else:
        act = lambda name: rateconv.SoftLIF(  # noqa: E731
            sigma=0.002, amplitude=0.01, max_rate=200, name=name
        )
    pool_layer = (
        keras.layers.AveragePooling2D(2)
        if pool == "avg"
        else keras.layers.MaxPooling2D(2)
    )
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(
                4, 3, bias_initializer=keras.initializers.Constant(0.3)
            ),
            act("a1"),
            pool_layer,
            keras.layers.Flatten(),
            keras.layers.Dense(12, bias_initializer=keras.initializers.Constant(0.2)),
            act("a2"),
            keras.layers.Dense(5),
        ]
    )
    return model


def images(n=6, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, 8, 8, 1)).astype(np.float32)


def tiny_model(seed=0):
    """A small soft-LIF classifier of 28x28 images, with random weights."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.AveragePooling2D(4),
            keras.layers.Flatten(),
            keras.layers.Dense(16, bias_initializer="ones"),
            rateconv.SoftLIF(amplitude=0.01, max_rate=400, intercept=0, name="lif"),
            keras.layers.Dense(10),
        ]
    )


# --- converter test builders ---

L = keras.layers


def randomize(model, seed=0):
    """Give every weight a random value, batch-norm statistics included.

    Keras initializes biases and beta to 0, gamma and the moving variance to 1
    and the moving mean to 0: folding such a batch norm would be a no-op, so a
    bug in it could not show.
    """
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = []
        for w in layer.weights:
            shape = tuple(w.shape)
            if w.name == "moving_variance":
                weights.append(rng.uniform(0.3, 2.0, shape))
            elif w.name == "gamma":
                weights.append(rng.uniform(0.5, 1.5, shape))
            elif w.name == "threshold":  # QuantizedReLU's positive threshold
                weights.append(rng.uniform(0.5, 2.0, shape))
            elif w.name == "moving_mean":
                weights.append(rng.normal(0.0, 0.5, shape))
            else:
                fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 4
                weights.append(rng.normal(0.0, 1.0 / np.sqrt(fan_in), shape))
        if weights:
            layer.set_weights([w.astype(np.float32) for w in weights])
    return model


def inputs_for(model, n=4, seed=1):
    rng = np.random.default_rng(seed)
    xs = [
        rng.uniform(-1.0, 1.0, (n,) + tuple(t.shape[1:])).astype(np.float32)
        for t in model.inputs
    ]
    return xs[0] if len(xs) == 1 else xs


def assert_rate_equals_predict(model, net=None, x=None):
    """Rate mode of the converted ``model`` equals ``model.predict``."""
    net = rateconv.convert(model) if net is None else net
    x = inputs_for(model) if x is None else x
    expected = model.predict(x, verbose=0)
    actual = rateconv.Simulator(net, progress=False).predict(x, mode="rate")
    if isinstance(expected, (list, tuple)):
        assert isinstance(actual, list) and len(actual) == len(expected)
    else:
        expected, actual = [expected], [actual]
    for a, e in zip(actual, expected):
        scale = np.abs(e).max()
        assert scale > 0  # a network that outputs only zeros would prove nothing
        assert a.shape == e.shape
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-5 * scale)
    return net


def relu_mlp():
    return randomize(
        keras.Sequential(
            [
                keras.Input((5,)),
                L.Dense(6, activation="relu", name="d1"),
                L.Dense(6, name="d2"),
                L.ReLU(name="r2"),
                L.Dense(6, name="d3"),
                L.Activation("relu", name="a3"),
                L.Dense(3, name="out"),
            ]
        )
    )


def softlif_mlp():
    return randomize(
        keras.Sequential(
            [
                keras.Input((5,)),
                L.Dense(6, name="d1"),
                rateconv.SoftLIF(
                    sigma=0.1,
                    tau_rc=0.03,
                    tau_ref=0.003,
                    amplitude=0.01,
                    max_rate=120,
                    intercept=-0.3,
                    name="s1",
                ),
                L.Dense(3, name="out"),
            ]
        )
    )
