"""Evaluate a shipped pretrained network, in rate mode and spiking.

`rateconv.load_pretrained` returns the Keras model listed under ``--name`` in
``pretrained/manifest.json`` after checking its sha256 and architecture
against the manifest, so a corrupt or swapped file is an error, not a silently
different network.  The model is converted to spiking LIF neurons and run for
``--n-steps`` steps of 1 ms with a lowpass output probe; the error after each
step is printed, with the rate-mode error for comparison.

Run it on the 2,000 Fashion-MNIST test images shipped with rateconv::

    python examples/pretrained.py

or on the full test set (``apt-get install dataset-fashion-mnist``)::

    python examples/pretrained.py --dataset fashion_mnist

Networks are looked up in ``$RATECONV_PRETRAINED_DIR`` if set (or
``--pretrained-dir``), else in ``pretrained/`` of the source checkout.
"""

from __future__ import annotations

import argparse
import sys

import rateconv
from rateconv import datasets
from rateconv.zoo.models import prepare_images
from rateconv.zoo.pretrained import DEFAULT_NAME, read_manifest

REPORT_STEPS = (1, 2, 3, 5, 10, 15, 20, 30, 50, 100, 200, 300)


def load_test_images(dataset, n_images=None):
    """The test images (float32 in [0, 1], with a channel axis) and labels."""
    if dataset == "fashion_mnist_sample":
        x, y = datasets.load_fashion_mnist_sample()
    else:
        _, (x, y) = datasets.load_dataset(dataset, download=False)
    return prepare_images(x[:n_images]), y[:n_images]


def build_parser():
    """The command-line options."""
    parser = argparse.ArgumentParser(
        description="Evaluate a pretrained rateconv network, rate and spiking."
    )
    parser.add_argument(
        "--name", default=DEFAULT_NAME, help=f"network name (default {DEFAULT_NAME})"
    )
    parser.add_argument(
        "--pretrained-dir",
        default=None,
        help="directory holding manifest.json (default: $RATECONV_PRETRAINED_DIR "
        "or pretrained/ of the checkout)",
    )
    parser.add_argument(
        "--dataset",
        choices=["fashion_mnist_sample", "fashion_mnist"],
        default="fashion_mnist_sample",
        help="the shipped 2,000-image test sample (default) or the full test set",
    )
    parser.add_argument(
        "--n-images", type=int, default=None, help="test images (default all)"
    )
    parser.add_argument("--n-steps", type=int, default=30, help="timesteps of 1 ms")
    parser.add_argument(
        "--probe-synapse",
        type=float,
        default=0.1,
        help="lowpass time constant of the output probe, s (default 0.1)",
    )
    return parser


def main(argv=None):
    """Run the example; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for option in ("n_images", "n_steps"):
        value = getattr(args, option)
        if value is not None and value < 1:
            parser.error(f"--{option.replace('_', '-')} must be >= 1, got {value}")

    try:
        model = rateconv.load_pretrained(args.name, directory=args.pretrained_dir)
        x, y = load_test_images(args.dataset, args.n_images)
    except (FileNotFoundError, ValueError) as e:
        # missing, corrupt or unknown network, or no test set: the message
        # says what to do
        print(f"error: {e}", file=sys.stderr)
        return 1
    entry = read_manifest(args.pretrained_dir)[args.name]
    print(f"pretrained '{args.name}': {entry.get('description', model.name)}")
    print(f"  {model.count_params()} parameters, file {entry['file']}")
    # errors measured when the network was registered, for comparison
    for key, value in entry.items():
        if "error" in key and isinstance(value, (int, float)):
            print(f"  manifest {key}: {100 * value:.2f}%")
    print(f"evaluating on {len(x)} images of {args.dataset}")

    # the conversion options the network was measured with (manifest "convert")
    options = entry.get("convert", {})
    print(f"convert options: {options or 'defaults'}")
    sim = rateconv.Simulator(rateconv.convert(model, **options))
    rate = sim.evaluate(x, y, mode="rate")
    spiking = sim.evaluate(x, y, n_steps=args.n_steps, probe_synapse=args.probe_synapse)

    print(f"rate-mode error: {100 * rate.error:5.2f}%")
    print(f"spiking error vs steps (1 ms steps, probe lowpass {args.probe_synapse} s):")
    steps = sorted({n for n in REPORT_STEPS if n < args.n_steps} | {args.n_steps})
    for n in steps:
        print(f"  {n:4d} steps  {100 * spiking.errors[n - 1]:5.2f}%")
    print("firing rates (Hz, mean over neurons and images):")
    for name, rate_hz in spiking.firing_rates.items():
        print(f"  {name:8s} {rate_hz:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
