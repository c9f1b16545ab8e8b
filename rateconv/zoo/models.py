"""The reference network of NengoDL's spiking-MNIST example, and its training.

conv 32 (3x3) -> LIF -> conv 64 (3x3) -> LIF -> avg-pool 2 -> conv 128 (3x3)
-> LIF -> avg-pool 2 -> dense 10, with LIF amplitude 0.01, max rate 100 Hz and
intercept 0, trained in rate mode with `rateconv.SoftLIF`.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from rateconv._checks import check_choice, check_finite_array
from rateconv.layers import QuantizedReLU, SoftLIF


def prepare_images(x):
    """Scale ``uint8`` images to ``float32`` in [0, 1] with a channel axis.

    Parameters
    ----------
    x : array, shape (n, height, width) or (n, height, width, channels)

    Returns
    -------
    numpy.ndarray, shape (n, height, width, channels), float32
    """
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(
            "images must have shape (n, height, width) or (n, height, width, "
            f"channels). Received: shape={x.shape}"
        )
    if np.issubdtype(x.dtype, np.integer):
        return x.astype(np.float32) / 255.0
    return x.astype(np.float32)


def reference_network(
    input_shape=(28, 28, 1),
    n_classes=10,
    *,
    activation="softlif",
    sigma=0.02,
    amplitude=0.01,
    max_rate=100.0,
    intercept=0.0,
    levels=8,
    name=None,
):
    """Build the reference convolutional network (uncompiled Keras model).

    Parameters
    ----------
    input_shape : tuple of int
        Image shape ``(height, width, channels)``.
    n_classes : int
        Number of outputs of the final dense layer (linear).
    activation : {"softlif", "relu", "qcfs"}
        ``"softlif"``: `rateconv.SoftLIF` with the parameters below (the NengoDL
        example); ``"relu"``: the same network with ReLU, for ReLU -> IF
        conversion and as the dense-work yardstick; ``"qcfs"``:
        `rateconv.QuantizedReLU` with ``levels`` steps and a trainable
        threshold (Bu et al. 2022), for conversion in about ``levels`` steps.
    sigma, amplitude, max_rate, intercept : float
        `rateconv.SoftLIF` parameters.
    levels : int
        `rateconv.QuantizedReLU` quantization steps (``"qcfs"`` only).
    name : str or None
        Model name; defaults to ``"reference_<activation>"``.

    Returns
    -------
    keras.Model
    """
    check_choice("activation", activation, ("softlif", "relu", "qcfs"))

    def neuron(layer_name):
        if activation == "relu":
            return keras.layers.ReLU(name=layer_name)
        if activation == "qcfs":
            return QuantizedReLU(levels=levels, name=layer_name)
        return SoftLIF(
            sigma=sigma,
            amplitude=amplitude,
            max_rate=max_rate,
            intercept=intercept,
            name=layer_name,
        )

    layers = keras.layers
    inp = keras.Input(shape=tuple(input_shape), name="image")
    x = layers.Conv2D(32, 3, name="conv1")(inp)
    x = neuron("lif1")(x)
    x = layers.Conv2D(64, 3, name="conv2")(x)
    x = neuron("lif2")(x)
    x = layers.AveragePooling2D(2, name="pool2")(x)
    x = layers.Conv2D(128, 3, name="conv3")(x)
    x = neuron("lif3")(x)
    x = layers.AveragePooling2D(2, name="pool3")(x)
    x = layers.Flatten(name="flatten")(x)
    out = layers.Dense(n_classes, name="logits")(x)
    return keras.Model(inp, out, name=name or f"reference_{activation}")


def compile_classifier(model, *, learning_rate=1e-3, decay_steps=None):
    """Compile ``model`` for classification from logits with Adam.

    Parameters
    ----------
    learning_rate : float
        Initial Adam learning rate.
    decay_steps : int or None
        If given, the rate follows a cosine decay to 1% over this many steps.
    """
    if decay_steps:
        learning_rate = keras.optimizers.schedules.CosineDecay(
            learning_rate, decay_steps, alpha=0.01
        )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def train_classifier(
    model,
    x_train,
    y_train,
    *,
    epochs=10,
    batch_size=128,
    learning_rate=1e-3,
    validation_data=None,
    seed=0,
    verbose="auto",
):
    """Train ``model`` on images with Adam and a cosine learning-rate decay.

    Parameters
    ----------
    model : keras.Model
        A model with logits output, e.g. from `reference_network`.
    x_train : array, shape (n, height, width[, channels])
        ``uint8`` images (scaled by `prepare_images`) or float32 in [0, 1].
    y_train : array of int, shape (n,)
    epochs, batch_size : int
    learning_rate : float
    validation_data : tuple or None
        ``(x, y)`` evaluated after each epoch.
    seed : int
        Seeds Keras' random generators for reproducible training.

    Returns
    -------
    keras.callbacks.History
    """
    keras.utils.set_random_seed(seed)
    x_train = prepare_images(x_train)
    y_train = np.asarray(y_train)
    if len(x_train) != len(y_train):
        raise ValueError(
            "x_train and y_train must have the same length. Received: "
            f"len(x_train)={len(x_train)}, len(y_train)={len(y_train)}"
        )
    x_train = check_finite_array("x_train", x_train)
    steps = epochs * math.ceil(len(x_train) / batch_size)
    compile_classifier(model, learning_rate=learning_rate, decay_steps=steps)
    if validation_data is not None:
        validation_data = (prepare_images(validation_data[0]), validation_data[1])
    return model.fit(
        x_train,
        y_train,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=validation_data,
        verbose=verbose,
    )
