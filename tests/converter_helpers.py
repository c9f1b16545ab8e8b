"""Builders shared by the converter test modules (not a test module itself)."""

import keras
import numpy as np

import rateconv

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
