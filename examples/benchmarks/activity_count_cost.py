"""Cost of the spike counting behind the activity warnings, side by side.

`Simulator.predict` counts the spikes of the first `SAMPLED_ROWS` samples of
each minibatch so it can warn about silent or saturated layers.  This times
``predict`` on the reference network (random weights) with the count off
(``warn_activity=False``: the loop of the neuron update carries no count, as
before the warnings), on (the default), and counting every sample (what
`evaluate` does), interleaved in one process so that machine load hits all
three alike::

    python examples/benchmarks/activity_count_cost.py [--activation softlif]
        [--batch 200] [--n-steps 30] [--repeats 3]
"""

import argparse
import statistics
import time
import warnings

import numpy as np

import rateconv
from rateconv.zoo.models import reference_network


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activation", default="softlif")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--n-steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    net = rateconv.convert(reference_network(activation=args.activation))
    x = np.random.default_rng(0).uniform(size=(args.batch, 28, 28, 1))
    x = x.astype(np.float32)
    y = np.zeros(args.batch, dtype=np.int64)
    sims = {
        "off": rateconv.Simulator(net, progress=False, warn_activity=False),
        "sampled": rateconv.Simulator(net, progress=False),
    }
    runs = {
        name: (lambda s=s: s.predict(x, n_steps=args.n_steps))
        for name, s in sims.items()
    }
    # every sample counted: evaluate (which also scores the outputs)
    every = rateconv.Simulator(net, progress=False)
    runs["all"] = lambda: every.evaluate(x, y, n_steps=args.n_steps)
    times = {name: [] for name in runs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rateconv.ActivityWarning)
        for run in runs.values():
            run()  # compile
        for _ in range(args.repeats):
            for name, run in runs.items():
                t0 = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["off"])
    print(
        f"reference_network({args.activation!r}), random weights, batch "
        f"{args.batch} x {args.n_steps} steps, {args.repeats} repeats (seconds)"
    )
    for name, ts in times.items():
        med = statistics.median(ts)
        print(
            f"{name:8s} {' '.join(f'{t:.3f}' for t in ts)}  median {med:.3f}  "
            f"ratio to off {med / base:.3f} (min {min(ts) / min(times['off']):.3f})"
        )


if __name__ == "__main__":
    main()
