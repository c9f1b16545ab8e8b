"""Dense ratio of the shipped network, per precision, with a per-run profile.

Run from the repository root::

    .venv/bin/python examples/benchmarks/dense_ratio.py \
        --precisions int8 float32 bfloat16 --batch-sizes 32 200

For each batch size and precision: the time of a 30-step spiking run
(`Simulator.predict`, probe synapse 0.1 s, the network's own conversion
options) divided by 30 ReLU forward passes of the same network and batch (the
dense ratio), and how much of the run the fused neuron kernels and the moved
synapses took (timed around the numba calls).  Each time is the best of
``--repeats`` warm runs.  The CPU is named on every line.
"""

from __future__ import annotations

import argparse
import collections
import time
import warnings

import numpy as np
import tensorflow as tf

import rateconv
from rateconv import benchmark, datasets
from rateconv.cli._common import conversion, load_model
from rateconv.simulator import _fused_kernels as kernels
from rateconv.zoo.models import prepare_images

spent = collections.defaultdict(float)


def _timed(name):
    fn = getattr(kernels, name)

    def run(*args):
        t0 = time.perf_counter()
        out = fn(*args)
        spent[name] += time.perf_counter() - t0
        return out

    setattr(kernels, name, run)


def best(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="fashion_mnist_softlif")
    p.add_argument("--precisions", nargs="+", default=["int8", "float32", "bfloat16"])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 200])
    p.add_argument("--n-steps", type=int, default=30)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    warnings.simplefilter("ignore")
    _timed("kernel")
    _timed("moved_synapse_kernel")
    net = rateconv.convert(load_model(args.model), **conversion(args.model, {}))
    x, _ = datasets.load_fashion_mnist_sample()
    x = prepare_images(x[: max(args.batch_sizes)])
    forward = benchmark.relu_forward(net)
    cpu = benchmark.machine_description()
    for batch in args.batch_sizes:
        xb = x[:batch]
        xt = tf.constant(xb)
        fwd = best(lambda xt=xt: forward(xt)[0].numpy(), 5 * args.repeats)
        for precision in args.precisions:
            sim = rateconv.Simulator(
                net, minibatch_size=batch, progress=False, precision=precision
            )

            def run(sim=sim, xb=xb):
                sim.predict(xb, n_steps=args.n_steps, probe_synapse=0.1)

            seconds = best(run, args.repeats)
            spent.clear()
            run()
            neurons = spent["kernel"] / seconds
            moved = spent["moved_synapse_kernel"] / seconds
            print(
                f"batch {batch}, {args.n_steps} steps, {precision}: "
                f"{seconds * 1e3:.0f} ms, ReLU forward {fwd * 1e3:.1f} ms, dense "
                f"ratio {seconds / (args.n_steps * fwd):.2f}; neuron kernels "
                f"{100 * neurons:.0f}%, moved synapses {100 * moved:.0f}% "
                f"[{cpu}]",
                flush=True,
            )


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
