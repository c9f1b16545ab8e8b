"""Train a soft-LIF network on Fashion-MNIST, convert it to spiking LIF neurons.

The whole rateconv workflow, as in NengoDL's spiking-MNIST example:

1. train `rateconv.zoo.models.reference_network` in rate mode, with soft-LIF
   neurons (smooth, so gradients flow);
2. `rateconv.convert` it: each `SoftLIF` layer becomes spiking LIF neurons;
3. simulate it with `rateconv.Simulator`: rate mode (equals the Keras model),
   then spiking over ``--n-steps`` timesteps of 1 ms, reading the output
   through a lowpass probe;
4. report the error after every step, the firing rate of every layer, and
   save figures (error vs steps, output probes, firing-rate histograms) and the
   trained model in ``--output-dir``.

Full run (the settings of the shipped network: tens of minutes on a CPU)::

    python examples/spiking_fashion_mnist.py --epochs 18

A quick look (a minute or so)::

    python examples/spiking_fashion_mnist.py --epochs 1 --n-train 5000 --n-test 500

Without the Fashion-MNIST files, ``--dataset fashion_mnist_sample`` uses the
2,000 test images shipped with rateconv, split into disjoint training and test
images (a smoke test, not a benchmark).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import rateconv
from rateconv import datasets, plots
from rateconv.zoo.models import prepare_images, reference_network, train_classifier

# steps at which the error table is printed (and always the last one)
REPORT_STEPS = (1, 2, 3, 5, 10, 15, 20, 30, 50, 100, 200, 300)
SAMPLE_TEST_IMAGES = 500
"""Images the sample keeps for testing when it is also the training data."""


def load_split(dataset, n_train=None, n_test=None, data_dir=None):
    """Training and test images and labels, limited to the first images.

    Parameters
    ----------
    dataset : {"fashion_mnist", "fashion_mnist_sample", "mnist"}
        ``"fashion_mnist_sample"`` has no training split: its first ``n_test``
        images (default 500) are the test set and the following ones (at most
        ``n_train``) the training set.
    n_train, n_test : int or None
        Number of images to keep (default: all).
    data_dir : str or None
        Directory holding the dataset files (see `rateconv.datasets`).

    Returns
    -------
    (x_train, y_train), (x_test, y_test) : tuple of numpy.ndarray
        ``uint8`` images of shape (n, 28, 28) and their labels.
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
    return (x_train[:n_train], y_train[:n_train]), (x_test[:n_test], y_test[:n_test])


def error_table(errors):
    """Lines of a table of the error after selected steps."""
    n_steps = len(errors)
    steps = sorted({n for n in REPORT_STEPS if n < n_steps} | {n_steps})
    lines = ["  steps  error"]
    lines += [f"  {n:5d}  {100 * errors[n - 1]:5.1f}%" for n in steps]
    return lines


def save_figures(output_dir, x, y, rate, spiking, dt, class_names):
    """Save the error curve, output probes and firing-rate histograms.

    Returns
    -------
    list of Path
        The files written.
    """
    n_probes = min(4, len(x))
    figures = {
        "error_vs_steps.png": plots.plot_error_vs_steps(
            spiking.errors,
            rate_error=rate.error,
            title="Spiking error vs timesteps",
        ),
        "output_probes.png": plots.plot_output_probes(
            x[:n_probes],
            spiking.outputs[:n_probes],
            labels=y[:n_probes],
            class_names=class_names,
            dt=dt,
        ),
        "firing_rates.png": plots.plot_rate_histogram(
            {name: a.rates for name, a in spiking.activity.items()},
            title=f"Firing rates over {spiking.n_steps} steps",
        ),
    }
    paths = []
    for filename, fig in figures.items():
        path = Path(output_dir) / filename
        fig.savefig(path, dpi=100, bbox_inches="tight")
        paths.append(path)
    return paths


def build_parser():
    """The command-line options."""
    parser = argparse.ArgumentParser(
        description="Train a soft-LIF network, convert it to spiking LIF neurons "
        "and evaluate it.",
    )
    parser.add_argument(
        "--dataset",
        choices=["fashion_mnist", "fashion_mnist_sample", "mnist"],
        default="fashion_mnist",
    )
    parser.add_argument("--data-dir", default=None, help="dataset files directory")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--n-train", type=int, default=None, help="training images (default all)"
    )
    parser.add_argument(
        "--n-test", type=int, default=None, help="test images (default all)"
    )
    parser.add_argument("--n-steps", type=int, default=30, help="timesteps of 1 ms")
    parser.add_argument(
        "--probe-synapse",
        type=float,
        default=0.1,
        help="lowpass time constant of the output probe, s",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default="out/spiking_fashion_mnist")
    return parser


def main(argv=None):
    """Run the example; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for option in ("epochs", "batch_size", "n_train", "n_test", "n_steps"):
        value = getattr(args, option)
        if value is not None and value < 1:
            parser.error(f"--{option.replace('_', '-')} must be >= 1, got {value}")

    try:
        (x_train, y_train), (x_test, y_test) = load_split(
            args.dataset, args.n_train, args.n_test, args.data_dir
        )
    except (FileNotFoundError, ValueError) as e:
        # no data (the message says where it looked) or an impossible split
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"training on {len(x_train)} images, testing on {len(x_test)}")

    # 1. train in rate mode, with soft-LIF neurons
    model = reference_network(input_shape=x_train.shape[1:] + (1,))
    train_classifier(
        model,
        x_train,
        y_train,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        verbose=2,
    )
    x_test = prepare_images(x_test)
    keras_logits = model.predict(x_test, verbose=0)
    keras_error = float(np.mean(np.argmax(keras_logits, axis=1) != y_test))

    # 2. convert: SoftLIF -> spiking LIF with the same parameters
    net = rateconv.convert(model)
    print(net.summary())

    # 3. simulate: rate mode computes what Keras computes ...
    sim = rateconv.Simulator(net)
    rate = sim.evaluate(x_test, y_test, mode="rate")
    rate_logits = sim.predict(x_test, mode="rate")
    # ... and spiking mode, where one run of n_steps gives the error after
    # every shorter run too
    spiking = sim.evaluate(
        x_test,
        y_test,
        n_steps=args.n_steps,
        probe_synapse=args.probe_synapse,
        return_outputs=True,
    )

    # 4. report
    print(f"Keras model error:   {100 * keras_error:5.1f}%")
    print(
        f"rate-mode error:     {100 * rate.error:5.1f}%  (max |logit difference| "
        f"from Keras {np.max(np.abs(rate_logits - keras_logits)):.1e})"
    )
    print(
        f"spiking error after {args.n_steps} steps (probe lowpass "
        f"{args.probe_synapse} s):"
    )
    print("\n".join(error_table(spiking.errors)))
    print("firing rates (Hz, mean over neurons and images):")
    for name, activity in spiking.activity.items():
        print(
            f"  {name:8s} {activity.mean_rate:7.2f}  "
            f"({100 * activity.silent_fraction:.0f}% of {activity.n_neurons} "
            "neurons silent)"
        )

    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model_path = output_dir / "model.keras"
    model.save(model_path)
    print(f"wrote {model_path} (try: rateconv evaluate {model_path})")
    names = datasets.FASHION_MNIST_CLASSES if "fashion" in args.dataset else None
    for path in save_figures(output_dir, x_test, y_test, rate, spiking, sim.dt, names):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
