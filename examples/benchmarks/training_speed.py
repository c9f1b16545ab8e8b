"""Training cost of soft-LIF against ReLU: the reference network, one process.

Times ``train_on_batch`` of the reference network with `rateconv.SoftLIF` and
with ReLU, interleaved over several rounds (this machine is noisy), and prints
the median step times and their ratio.  An epoch of Fashion-MNIST is 469 such
steps at batch 128.

Run::

    python examples/benchmarks/training_speed.py --rounds 3

"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import keras
import numpy as np

from rateconv.zoo.models import compile_classifier, reference_network


def step_seconds(activation, x, y, n_steps):
    keras.utils.set_random_seed(0)
    model = reference_network(activation=activation)
    compile_classifier(model)
    model.train_on_batch(x, y)  # trace and warm up
    start = time.perf_counter()
    for _ in range(n_steps):
        model.train_on_batch(x, y)
    return (time.perf_counter() - start) / n_steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    x = rng.random((args.batch_size, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, args.batch_size)
    times = {"relu": [], "softlif": []}
    for _ in range(args.rounds):
        for activation in times:
            times[activation].append(step_seconds(activation, x, y, args.steps))
    relu = statistics.median(times["relu"])
    softlif = statistics.median(times["softlif"])
    print(f"batch {args.batch_size}, median of {args.rounds} rounds")
    print(f"  ReLU     {1e3 * relu:7.1f} ms/step")
    print(f"  soft-LIF {1e3 * softlif:7.1f} ms/step")
    print(f"  soft-LIF / ReLU: {softlif / relu:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
