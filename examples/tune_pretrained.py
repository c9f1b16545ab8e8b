"""Tune a shipped network's conversion for a step budget and record it.

The manifest's ``convert`` options of a shipped network are what
``rateconv.convert(model, calibration_data=x, n_steps=N)`` chose on ``x``,
1,000 Fashion-MNIST *training* images (the CLI's ``--tune`` picks the same
ones), stored so that loading the network needs no data.  This script makes
that choice, measures the result on the test set and writes both into
``pretrained/manifest.json``::

    python examples/tune_pretrained.py fashion_mnist_softlif --n-steps 30
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import rateconv
from rateconv import datasets
from rateconv.synapses import Lowpass
from rateconv.zoo import pretrained
from rateconv.zoo.models import prepare_images


def _seconds(synapse):
    return synapse.tau if isinstance(synapse, Lowpass) else synapse


def calibration_images(x_train, n):
    """The CLI's ``--tune`` choice: ``n`` training images, seed 0, in order."""
    pick = np.random.default_rng(0).choice(len(x_train), n, replace=False)
    return prepare_images(x_train[np.sort(pick)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="+", help="shipped network names")
    parser.add_argument("--n-steps", type=int, default=30)
    parser.add_argument("--calibration-images", type=int, default=1000)
    parser.add_argument("--n-test", type=int, default=10000)
    parser.add_argument("--dry-run", action="store_true", help="do not write")
    args = parser.parse_args(argv)
    (x_train, _), (x_test, y_test) = datasets.load_fashion_mnist(download=False)
    x_cal = calibration_images(x_train, args.calibration_images)
    x, y = prepare_images(x_test[: args.n_test]), y_test[: args.n_test]
    path = pretrained.pretrained_dir() / pretrained.MANIFEST
    manifest = json.loads(path.read_text())
    for name in args.names:
        model = rateconv.load_pretrained(name)
        start = time.perf_counter()
        result = rateconv.tune(model, x_cal, n_steps=args.n_steps)
        seconds = time.perf_counter() - start
        options = result.convert_options
        options["probe_synapse"] = _seconds(options["probe_synapse"])
        options["synapse"] = _seconds(options.get("synapse"))
        if options["synapse"] is None:
            del options["synapse"]
        net = rateconv.convert(model, **options)
        ev = rateconv.Simulator(net, progress=False).evaluate(
            x, y, n_steps=args.n_steps
        )
        entry = manifest["models"][name]
        entry["convert"] = options
        entry["tuned"] = {
            "n_steps": args.n_steps,
            "calibration_images": args.calibration_images,
            "agreement_with_keras": result.agreement,
            "tune_seconds": round(seconds, 1),
            "command": f"python examples/tune_pretrained.py {name} "
            f"--n-steps {args.n_steps}",
        }
        entry["spiking"] = {
            "probe_synapse": options["probe_synapse"],
            "readout": options["readout"],
            "dt": rateconv.DT,
            "n_test_images": len(x),
            f"error_at_{args.n_steps}_steps": float(ev.error),
            "errors_by_n_steps": {
                str(i + 1): round(float(e), 4) for i, e in enumerate(ev.errors)
            },
        }
        entry.pop("spiking_error_30_steps", None)
        entry[f"spiking_error_{args.n_steps}_steps"] = round(float(ev.error), 4)
        print(
            json.dumps(
                {
                    "name": name,
                    "convert": options,
                    "agreement": result.agreement,
                    "error": ev.error,
                    "error_at_10": float(ev.errors[min(9, len(ev.errors) - 1)]),
                    "tune_seconds": round(seconds, 1),
                }
            ),
            flush=True,
        )
    if not args.dry_run:
        path.write_text(json.dumps(manifest, indent=2) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
