"""Peak resident memory of a spiking evaluation, as ``n_steps`` grows.

Each setting runs in a fresh process (peak RSS only ever grows within one), which
evaluates the pretrained reference network spiking on Fashion-MNIST test images
and reports its peak resident memory.  `Simulator.evaluate` scores errors
minibatch by minibatch and the time-batched engine works in chunks of time, so
the peak should not grow with ``n_steps`` or with the number of images.

Run::

    python examples/benchmarks/memory_vs_steps.py --n-images 1000 --n-steps 30 300

"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

WORKER = """
import json, resource, sys, time
import rateconv
import rateconv.zoo.pretrained
from rateconv import datasets
from rateconv.zoo.models import prepare_images
n_images, n_steps, name = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
try:
    _, (x, y) = datasets.load_fashion_mnist()
except FileNotFoundError:
    x, y = datasets.load_fashion_mnist_sample()
x, y = prepare_images(x[:n_images]), y[:n_images]
# converted with the options the network ships with (as `rateconv evaluate`)
net = rateconv.convert(rateconv.load_pretrained(name),
                       **rateconv.zoo.pretrained.conversion_options(name))
sim = rateconv.Simulator(net, progress=False)
start = time.perf_counter()
res = sim.evaluate(x, y, n_steps=n_steps, probe_synapse=0.1)
print(json.dumps({
    "n_images": len(x), "n_steps": n_steps, "error": res.error,
    "seconds": time.perf_counter() - start,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def measure(n_images, n_steps, name):
    """Run one evaluation in a fresh interpreter; its JSON report as a dict."""
    proc = subprocess.run(
        [sys.executable, "-c", WORKER, str(n_images), str(n_steps), name],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(f"worker failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-images", type=int, nargs="+", default=[1000])
    parser.add_argument("--n-steps", type=int, nargs="+", default=[30, 300])
    parser.add_argument("--name", default="fashion_mnist_softlif")
    args = parser.parse_args(argv)
    print(f"{'images':>7} {'steps':>6} {'peak RSS (MiB)':>15} {'seconds':>8} error")
    for n_images in args.n_images:
        for n_steps in args.n_steps:
            r = measure(n_images, n_steps, args.name)
            print(
                f"{r['n_images']:>7} {r['n_steps']:>6} {r['peak_rss_mb']:>15.0f} "
                f"{r['seconds']:>8.1f} {100 * r['error']:.2f}%",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
