"""Convert a plain ReLU Keras model to a spiking network, in one call.

The network is an ordinary Keras ``Sequential`` conv net with ``relu``
activations, trained with ``compile``/``fit``; nothing about it is spiking.
`rateconv.convert` turns every ReLU into a spiking integrate-and-fire neuron
(`rateconv.SpikingRectifiedLinear`) firing at the ReLU's output value in Hz.

The one call: ``rateconv.convert(model, calibration_data=x_train[:1000],
n_steps=N)`` chooses, on those training images only, each layer's firing-rate
scale, the initial membrane state, reset, synapses and readout that spike best
in ``N`` steps; ``Simulator(net).evaluate(x, y, n_steps=N)`` with every other
argument at its default then reads the network as it was tuned.

Converted plainly (``rateconv.convert(model)``), with inputs in [0, 1] the
rates are a few Hz, so over ``--n-steps`` steps of 1 ms most neurons never
spike and the spiking network is at chance.  The table printed after the
one-call result shows NengoDL's two manual remedies (its keras-to-snn
example), alone and together:

* ``scale_firing_rates=k``: multiply each neuron's input by ``k`` and divide its
  output amplitude by ``k``: ``k`` times more spikes, the same rate-mode
  function (exact for ReLU);
* ``synapse=tau``: a lowpass filter on every connection leaving a spiking
  layer, so the next layer sees a smoothed rate instead of single spikes.

The output is read at the last step through ``--probe-synapse`` (default:
none, as in NengoDL's example, so the output layer sees the network's
spikes directly).

Run it (a few minutes on a CPU)::

    python examples/keras_to_snn.py

or on a tiny setting::

    python examples/keras_to_snn.py --epochs 1 --n-train 2000 --n-test 200
"""

from __future__ import annotations

import argparse
import sys

import keras
import numpy as np
import tensorflow as tf

import rateconv
from rateconv import datasets
from rateconv.zoo.models import prepare_images

SAMPLE_TEST_IMAGES = 500
"""Images the sample keeps for testing when it is also the training data."""


def load_split(dataset, n_train=None, n_test=None, data_dir=None):
    """Training and test images scaled to [0, 1], and their labels.

    ``"fashion_mnist_sample"`` has no training split: its first ``n_test``
    images (default 500) are the test set and the following ones (at most
    ``n_train``) the training set.
    """
    (x_train, y_train), (x_test, y_test) = datasets.load_dataset(
        dataset, path=data_dir, download=False
    )
    if x_train is None:
        n_test = SAMPLE_TEST_IMAGES if n_test is None else n_test
        if n_test >= len(x_test):
            raise ValueError(
                f"--n-test must be below {len(x_test)} with {dataset}, which also "
                f"provides the training images. Received: {n_test}"
            )
        x_train, y_train = x_test[n_test:], y_test[n_test:]
        print(
            f"{dataset} has no training split: testing on its first {n_test} "
            f"images, training on the following {len(x_train)}."
        )
    return (
        (prepare_images(x_train[:n_train]), y_train[:n_train]),
        (prepare_images(x_test[:n_test]), y_test[:n_test]),
    )


def relu_convnet(input_shape=(28, 28, 1), n_classes=10):
    """A small plain-Keras ReLU conv net with a linear (logits) output."""
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(input_shape),
            layers.Conv2D(16, 3, activation="relu"),
            layers.AveragePooling2D(2),
            layers.Conv2D(32, 3, activation="relu"),
            layers.AveragePooling2D(2),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(n_classes),
        ],
        name="relu_convnet",
    )


def sweep(model, x, y, synapses, scales, n_steps, probe_synapse):
    """Spiking accuracy and mean firing rate for every (synapse, scale) pair.

    Returns
    -------
    dict
        ``{(synapse, scale): (accuracy, mean rate in Hz over all neurons)}``.
    """
    results = {}
    for synapse in synapses:
        for scale in scales:
            net = rateconv.convert(model, synapse=synapse, scale_firing_rates=scale)
            evaluation = rateconv.Simulator(net).evaluate(
                x, y, n_steps=n_steps, probe_synapse=probe_synapse
            )
            counts = sum(a.spike_count for a in evaluation.activity.values())
            neurons = sum(a.n_neurons for a in evaluation.activity.values())
            # spikes per neuron per second; amplitude-free, unlike the counts
            rate = counts / (neurons * len(x) * n_steps * rateconv.DT)
            results[synapse, scale] = (evaluation.accuracy, rate)
    return results


def format_table(results, synapses, scales, column):
    """Lines of a synapse x scale table of ``results[...][column]``."""
    lines = [
        f"{'synapse':>9s} | "
        + " ".join(f"{'scale ' + format(s, 'g'):>11s}" for s in scales)
    ]
    lines.append("-" * len(lines[0]))
    for synapse in synapses:
        cells = []
        for scale in scales:
            value = results[synapse, scale][column]
            cells.append(f"{100 * value:10.1f}%" if column == 0 else f"{value:8.2f} Hz")
        label = "none" if synapse is None else format(synapse, "g")
        lines.append(f"{label:>9s} | " + " ".join(cells))
    return lines


def _synapse(text):
    return None if text.strip().lower() == "none" else float(text)


def build_parser():
    """The command-line options."""
    parser = argparse.ArgumentParser(
        description="Convert a ReLU Keras model to a spiking network and compare "
        "synapse and scale_firing_rates settings.",
    )
    parser.add_argument(
        "--dataset",
        choices=["fashion_mnist", "fashion_mnist_sample", "mnist"],
        default="fashion_mnist",
    )
    parser.add_argument("--data-dir", default=None, help="dataset files directory")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--n-train", type=int, default=None, help="training images (default all)"
    )
    parser.add_argument(
        "--n-test", type=int, default=1000, help="test images (default 1000)"
    )
    parser.add_argument("--n-steps", type=int, default=50, help="timesteps of 1 ms")
    parser.add_argument(
        "--synapses",
        type=lambda text: [_synapse(t) for t in text.split(",")],
        default=[None, 0.005, 0.01],
        help="comma-separated lowpass time constants in s, or none "
        "(default none,0.005,0.01)",
    )
    parser.add_argument(
        "--scales",
        type=lambda text: [float(t) for t in text.split(",")],
        default=[1.0, 10.0, 100.0],
        help="comma-separated scale_firing_rates values (default 1,10,100)",
    )
    parser.add_argument(
        "--probe-synapse",
        type=_synapse,
        default=None,
        help="lowpass on the output probe in s, or none (default none)",
    )
    parser.add_argument(
        "--n-calibration",
        type=int,
        default=1000,
        help="training images the one-call conversion is tuned on (default 1000)",
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv=None):
    """Run the example; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for option in (
        "epochs",
        "batch_size",
        "n_train",
        "n_test",
        "n_steps",
        "n_calibration",
    ):
        value = getattr(args, option)
        if value is not None and value < 1:
            parser.error(f"--{option.replace('_', '-')} must be >= 1, got {value}")
    if any(s is not None and not s > 0 for s in args.synapses) or not all(
        k > 0 for k in args.scales
    ):
        parser.error("synapses must be > 0 (or none) and scales > 0")

    try:
        (x_train, y_train), (x_test, y_test) = load_split(
            args.dataset, args.n_train, args.n_test, args.data_dir
        )
    except (FileNotFoundError, ValueError) as e:
        # no data (the message says where it looked) or an impossible split
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"training on {len(x_train)} images, testing on {len(x_test)}")

    # an ordinary Keras model, trained the ordinary way
    keras.utils.set_random_seed(args.seed)
    model = relu_convnet(x_train.shape[1:], n_classes=10)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(
        x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=2
    )
    ann_accuracy = float(
        np.mean(np.argmax(model.predict(x_test, verbose=0), 1) == y_test)
    )
    rate_accuracy = (
        rateconv.Simulator(rateconv.convert(model))
        .evaluate(x_test, y_test, mode="rate")
        .accuracy
    )

    # the one call: conversion tuned for n_steps on training images only
    tuned = rateconv.convert(
        model, calibration_data=x_train[: args.n_calibration], n_steps=args.n_steps
    )
    tuned_accuracy = (
        rateconv.Simulator(tuned).evaluate(x_test, y_test, n_steps=args.n_steps)
    ).accuracy

    # every configuration is a new network with its own compiled functions, so
    # TensorFlow's warning about retracing is expected here: silence it
    tf.get_logger().setLevel("ERROR")
    results = sweep(
        model,
        x_test,
        y_test,
        args.synapses,
        args.scales,
        args.n_steps,
        args.probe_synapse,
    )
    probe = "none" if args.probe_synapse is None else f"{args.probe_synapse:g} s"
    print(f"ANN (Keras) accuracy:         {100 * ann_accuracy:5.1f}%")
    print(f"converted, rate mode:         {100 * rate_accuracy:5.1f}%")
    print(
        f"one call, tuned on {min(args.n_calibration, len(x_train))} training "
        f"images: {100 * tuned_accuracy:5.1f}% after {args.n_steps} steps"
    )
    print(
        f"\nconverted plainly, by hand: spiking accuracy after {args.n_steps} "
        f"steps of 1 ms (probe synapse {probe}, {len(x_test)} images):"
    )
    print("\n".join(format_table(results, args.synapses, args.scales, 0)))
    print("\nmean firing rate over all spiking neurons:")
    print("\n".join(format_table(results, args.synapses, args.scales, 1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
