"""Time the step-budget search on a bigger model: MobileNetV2 (alpha 0.5).

``rateconv.convert(MobileNetV2(alpha=0.5, input 96x96, weights=None),
calibration_data=300 images, n_steps=10)``, the case issue 26 timed at 315 s
with no output.  Random weights and random inputs (no download): the search
runs the same candidates whatever the weights.  Prints the seconds, the
candidates run and the CPU::

    python examples/benchmarks/tune_time.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import keras
import numpy as np

import rateconv

# what makes one simulated candidate run (the readouts share its run)
CONFIG = ("percentile", "target", "initial_state", "reset", "synapse", "n_samples")


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-calibration", type=int, default=300)
    parser.add_argument("--n-steps", type=int, default=10)
    parser.add_argument("--max-spikes-per-step", default="default")
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(
        alpha=0.5, input_shape=(96, 96, 3), weights=None, classes=10
    )
    x = np.random.default_rng(0).uniform(-1, 1, (args.n_calibration, 96, 96, 3))
    options = {}
    if args.max_spikes_per_step != "default":
        m = args.max_spikes_per_step
        options["max_spikes_per_step"] = None if m == "none" else int(m)
    start = time.perf_counter()
    result = rateconv.tune(model, x.astype("float32"), n_steps=args.n_steps, **options)
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "seconds": round(seconds, 1),
                "candidate_runs": len(
                    {tuple(c[k] for k in CONFIG) for c in result.candidates}
                ),
                "agreement": result.agreement,
                "chosen": {
                    k: v
                    for k, v in result.options.items()
                    if k not in ("scales", "probe_synapse")
                },
                "cpu": cpu_name(),
                "cores": os.cpu_count(),
                "load_average": os.getloadavg(),
            }
        )
    )


if __name__ == "__main__":
    main()
