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
