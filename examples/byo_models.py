"""Models people write, built and trained in plain Keras, to test conversion.

Six kinds of network a Keras user brings (none uses anything from rateconv
except the soft-LIF one, which uses `rateconv.SoftLIF` as a NengoDL user
would):

- ``simple_convnet``: the Keras "simple MNIST convnet" example (ReLU, max
  pooling, dropout, softmax output);
- ``residual``: a small ResNet (batch norm, residual adds, strided
  convolution, global average pooling);
- ``mobilenet``: MobileNet-style (strided conv, depthwise conv, batch norm,
  ReLU6, global average pooling, softmax);
- ``leaky``: LeakyReLU activations;
- ``rescaling``: starts with ``Rescaling(1/255)`` and is fed raw 0-255 pixels;
- ``softlif``: a user's own soft-LIF network with NengoDL's neuron settings
  (amplitude 0.01, 100 Hz, intercept 0).

``python examples/byo_models.py --output-dir DIR`` trains each for
``--epochs`` (2) on the first ``--n-train`` (20,000) Fashion-MNIST training
images and saves ``DIR/NAME.keras`` (batch norm with momentum 0.9: with
Keras' default 0.99 the moving statistics of such a short run are still far
from the data's, and the trained network scores about 10% in inference);
`examples/bring_your_own.py` converts and evaluates them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import keras
import numpy as np

from rateconv import datasets
from rateconv.layers import SoftLIF

L = keras.layers


def simple_convnet():
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Conv2D(32, 3, activation="relu"),
            L.MaxPooling2D(2),
            L.Conv2D(64, 3, activation="relu"),
            L.MaxPooling2D(2),
            L.Flatten(),
            L.Dropout(0.5),
            L.Dense(10, activation="softmax"),
        ],
        name="simple_convnet",
    )


def residual():
    def block(x, filters, stride):
        h = L.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
        h = L.BatchNormalization(momentum=0.9)(h)
        h = L.ReLU()(h)
        h = L.Conv2D(filters, 3, padding="same", use_bias=False)(h)
        h = L.BatchNormalization(momentum=0.9)(h)
        if stride != 1 or x.shape[-1] != filters:
            x = L.Conv2D(filters, 1, strides=stride, use_bias=False)(x)
            x = L.BatchNormalization(momentum=0.9)(x)
        return L.ReLU()(L.Add()([h, x]))

    inputs = keras.Input((28, 28, 1))
    x = L.Conv2D(16, 3, padding="same", use_bias=False)(inputs)
    x = L.BatchNormalization(momentum=0.9)(x)
    x = L.ReLU()(x)
    x = block(x, 16, 1)
    x = block(x, 32, 2)
    x = block(x, 64, 2)
    x = L.GlobalAveragePooling2D()(x)
    outputs = L.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="residual")


def mobilenet():
    def separable(x, filters, stride):
        x = L.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
        x = L.BatchNormalization(momentum=0.9)(x)
        x = L.ReLU(max_value=6.0)(x)
        x = L.Conv2D(filters, 1, use_bias=False)(x)
        x = L.BatchNormalization(momentum=0.9)(x)
        return L.ReLU(max_value=6.0)(x)

    inputs = keras.Input((28, 28, 1))
    x = L.Conv2D(32, 3, strides=2, padding="same", use_bias=False)(inputs)
    x = L.BatchNormalization(momentum=0.9)(x)
    x = L.ReLU(max_value=6.0)(x)
    x = separable(x, 64, 1)
    x = separable(x, 128, 2)
    x = separable(x, 128, 1)
    x = L.GlobalAveragePooling2D()(x)
    outputs = L.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="mobilenet")


def leaky():
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Conv2D(32, 3),
            L.LeakyReLU(0.1),
            L.AveragePooling2D(2),
            L.Conv2D(64, 3),
            L.LeakyReLU(0.1),
            L.AveragePooling2D(2),
            L.Flatten(),
            L.Dense(128),
            L.LeakyReLU(0.1),
            L.Dense(10),
        ],
        name="leaky",
    )


def rescaling():
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Rescaling(1 / 255),
            L.Conv2D(32, 3, activation="relu"),
            L.AveragePooling2D(2),
            L.Conv2D(64, 3, activation="relu"),
            L.AveragePooling2D(2),
            L.Flatten(),
            L.Dense(128, activation="relu"),
            L.Dense(10, activation="softmax"),
        ],
        name="rescaling",
    )


def softlif():
    def neurons():
        return SoftLIF(sigma=0.02, amplitude=0.01, max_rate=100, intercept=0)

    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Conv2D(32, 3),
            neurons(),
            L.Conv2D(64, 3, strides=2),
            neurons(),
            L.Conv2D(128, 3, strides=2),
            neurons(),
            L.Flatten(),
            L.Dense(10),
        ],
        name="softlif",
    )


BUILDERS = {
    "simple_convnet": simple_convnet,
    "residual": residual,
    "mobilenet": mobilenet,
    "leaky": leaky,
    "rescaling": rescaling,
    "softlif": softlif,
}
RAW_PIXELS = {"rescaling"}  # models fed 0-255 pixels; the rest get [0, 1]


def model_inputs(name, images):
    """What model ``name`` is fed: uint8 images -> (n, 28, 28, 1) float32."""
    x = images.astype(np.float32)[..., None]
    return x if name in RAW_PIXELS else x / 255.0


def train(name, x_train, y_train, *, epochs, seed=0):
    keras.utils.set_random_seed(seed)
    model = BUILDERS[name]()
    softmax_out = model.layers[-1].get_config().get("activation") == "softmax"
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not softmax_out),
        metrics=["accuracy"],
    )
    model.fit(
        model_inputs(name, x_train),
        y_train,
        epochs=epochs,
        batch_size=128,
        verbose=2,
    )
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output-dir", default="byo_models")
    parser.add_argument("--models", nargs="+", default=list(BUILDERS))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--n-train", type=int, default=20000)
    args = parser.parse_args(argv)
    (x_train, y_train), _ = datasets.load_fashion_mnist(download=False)
    x_train, y_train = x_train[: args.n_train], y_train[: args.n_train]
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.models:
        start = time.perf_counter()
        model = train(name, x_train, y_train, epochs=args.epochs)
        model.save(out / f"{name}.keras")
        print(f"{name}: trained in {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
