"""``rateconv bench [MODEL]``: spiking throughput, dense ratio, roofline fraction."""

from __future__ import annotations

import json
import sys

import numpy as np

from rateconv import benchmark, datasets
from rateconv.cli._common import conversion, load_model
from rateconv.cli._options import (
    CONVERT_OPTIONS,
    add_option,
    add_options,
    given,
    positive_float,
    positive_int,
)
from rateconv.tuning import convert
from rateconv.zoo.models import prepare_images


def add_parser(subparsers):
    p = subparsers.add_parser(
        "bench",
        help="measure spiking throughput, dense ratio and roofline fraction",
        description="Time the spiking simulation of MODEL (default: the pretrained "
        "reference network) against a ReLU forward pass of the same network and a "
        "large matrix product, all in this process and run.",
    )
    p.add_argument("model", nargs="?", default="fashion_mnist_softlif")
    p.add_argument("--batch-sizes", type=positive_int, nargs="+", default=[1, 32, 200])
    add_option(p, "n_steps", nargs="+", default=[10, 30, 100])
    add_options(p, ("synapse", "precision"))
    add_option(p, "probe_synapse", default=0.1, help="lowpass on the output probe, s")
    p.add_argument(
        "--min-seconds",
        type=positive_float,
        default=2.0,
        help="repeat each timing for at least this long (median of repeats)",
    )
    add_option(p, "json")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_bench)
    return p


def _inputs(net, n):
    """`n` inputs for `net`: shipped test images if it reads 28x28, else random."""
    x, _ = datasets.load_fashion_mnist_sample()
    shape = tuple(net.input_shapes[0])
    if prepare_images(x[:1]).shape[1:] == shape:
        return prepare_images(x[:n])
    # not an MNIST-shaped model: random inputs in [0, 1]
    return np.random.default_rng(0).random((n,) + shape)


def cmd_bench(args):
    model = load_model(args.model)
    options = conversion(args.model, given(args, CONVERT_OPTIONS))
    net = convert(model, **options)
    x = _inputs(net, max(args.batch_sizes))
    log = (lambda line: print(line, file=sys.stderr)) if args.json else print
    result = benchmark.run_benchmark(
        net,
        x,
        batch_sizes=args.batch_sizes,
        n_steps=args.n_steps,
        probe_synapse=args.probe_synapse,
        precision=args.precision,
        min_seconds=args.min_seconds,
        log=None if args.quiet else log,
    )
    result["model"] = args.model
    result["convert"] = options
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print()
        print(benchmark.format_table(result))
