"""Accuracy at few timesteps: conversion technique x n_steps, for three networks.

The pretrained reference network in four versions (soft-LIF -> LIF, the same
fine-tuned with `rateconv.SpikingAware`, ReLU -> IF, quantized clip-floor-shift
ReLU -> IF) is converted with the options of
`rateconv.convert`, `rateconv.normalize` and `rateconv.calibrate`, and each
combination is run once for the largest ``n_steps``: one run contains every
shorter run as a prefix, so it gives the accuracy at every step count.
Calibration is specific to a step count, so it is redone for each.
Calibration and normalization use training images only; accuracy is measured on
the test set.

Run (about half an hour on 2 cores for the full test set)::

    python examples/low_latency.py --n-images 10000 --output low_latency.md

"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

import rateconv
from rateconv import datasets
from rateconv.zoo.models import prepare_images

STEPS = (1, 2, 4, 8, 16, 32, 64)

# technique name -> settings; "calibrate" reruns per step count
TECHNIQUES = {
    "softlif": [
        ("NengoDL defaults: start at 0, probe lowpass 0.1 s, last step", {}),
        ("start at random voltage (uniform)", {"initial_state": "uniform"}),
        (
            "start uniform, scale_firing_rates=6, synapse=0.005 (shipped)",
            {"initial_state": "uniform", "scale_firing_rates": 6, "synapse": 0.005},
        ),
    ],
    # the soft-LIF network fine-tuned with SpikingAware (10 steps from a random
    # start, scale 6): `rateconv train --init fashion_mnist_softlif
    # --spiking-aware 10 --scale-firing-rates 6 --epochs 3 --learning-rate 2e-4`
    "softlif_aware": [
        (
            "spiking-aware fine-tuned; start uniform, scale_firing_rates=6, "
            "synapse=0.005",
            {"initial_state": "uniform", "scale_firing_rates": 6, "synapse": 0.005},
        ),
    ],
    "relu": [
        ("normalize (p99.9), start at 0, probe lowpass 0.1 s", {"normalize": True}),
        (
            "normalize, start at half threshold, spike-count readout",
            {
                "normalize": True,
                "initial_state": "half",
                "probe_synapse": None,
                "readout": "mean",
            },
        ),
        (
            "+ calibrate to n_steps",
            {
                "normalize": True,
                "initial_state": "half",
                "probe_synapse": None,
                "readout": "mean",
                "calibrate": True,
            },
        ),
    ],
    "qcfs": [
        ("start at 0, probe lowpass 0.1 s", {"initial_state": "zero"}),
        (
            "start at half threshold (QCFS default), spike-count readout",
            {"probe_synapse": None, "readout": "mean"},
        ),
    ],
}


def build(model, settings, x_cal, n_steps=None):
    """Convert with ``settings`` (normalized/calibrated on ``x_cal``)."""
    net = rateconv.convert(
        model,
        reset=settings.get("reset"),
        initial_state=settings.get("initial_state"),
        scale_firing_rates=settings.get("scale_firing_rates", 1.0),
        synapse=settings.get("synapse"),
    )
    if settings.get("normalize"):
        net = rateconv.normalize(net, x_cal)
    if settings.get("calibrate"):
        net = rateconv.calibrate(net, x_cal, n_steps=n_steps)
    return net


def accuracy_at_steps(net, x, y, settings, steps, precision):
    sim = rateconv.Simulator(net, precision=precision)
    res = sim.evaluate(
        x,
        y,
        n_steps=max(steps),
        probe_synapse=settings.get("probe_synapse", 0.1),
        readout=settings.get("readout", "last"),
    )
    return {n: 1 - float(res.errors[n - 1]) for n in steps}


def run(args, log=print):
    (x_train, _), (x_test, y_test) = datasets.load_dataset(args.dataset)
    x = prepare_images(x_test[: args.n_images])
    y = y_test[: args.n_images]
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(x_train), args.calibration_images, replace=False))
    x_cal = prepare_images(x_train[pick])
    results = []
    for network in args.networks:
        model = rateconv.load_pretrained(f"{args.dataset}_{network}")
        base = rateconv.Simulator(rateconv.convert(model))
        rate_acc = 1 - base.evaluate(x, y, mode="rate").error
        log(f"{network}: rate-mode accuracy {100 * rate_acc:.2f}%")
        for name, settings in TECHNIQUES[network]:
            start = time.perf_counter()
            if settings.get("calibrate"):
                acc = {}
                for n in args.steps:
                    net = build(model, settings, x_cal, n_steps=n)
                    acc.update(
                        accuracy_at_steps(net, x, y, settings, [n], args.precision)
                    )
            else:
                net = build(model, settings, x_cal)
                acc = accuracy_at_steps(net, x, y, settings, args.steps, args.precision)
            row = {
                "network": network,
                "technique": name,
                "rate_accuracy": rate_acc,
                "accuracy": acc,
                "seconds": time.perf_counter() - start,
            }
            results.append(row)
            log(
                f"  {name}: "
                + ", ".join(f"{n}: {100 * a:.2f}" for n, a in acc.items())
                + f" ({row['seconds']:.0f} s)"
            )
    return results


def markdown(results, steps, n_images, dataset):
    lines = [
        f"Accuracy (%) on the first {n_images} {dataset} test images; 'rate' is "
        "the converted network in rate mode (equal to the Keras model).",
        "",
        "| network | technique | rate | "
        + " | ".join(f"{n} steps" for n in steps)
        + " |",
        "|---|---|---|" + "---|" * len(steps),
    ]
    for r in results:
        cells = [f"{100 * r['accuracy'][n]:.2f}" for n in steps]
        lines.append(
            f"| {r['network']} | {r['technique']} | {100 * r['rate_accuracy']:.2f} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--n-images", type=int, default=10000)
    parser.add_argument("--calibration-images", type=int, default=1000)
    parser.add_argument("--steps", type=int, nargs="+", default=list(STEPS))
    parser.add_argument(
        "--networks", nargs="+", default=list(TECHNIQUES), choices=list(TECHNIQUES)
    )
    parser.add_argument(
        "--precision", choices=["float32", "bfloat16"], default="float32"
    )
    parser.add_argument("--output", help="write the table (markdown) here")
    parser.add_argument("--json", help="write the results (JSON) here")
    args = parser.parse_args(argv)
    results = run(args)
    table = markdown(results, args.steps, args.n_images, args.dataset)
    print()
    print(table)
    if args.output:
        with open(args.output, "w") as f:
            f.write(table + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
