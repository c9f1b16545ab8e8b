"""Bring your own model: Keras accuracy against spiking accuracy in one call.

For each model trained by `examples/byo_models.py` (plain Keras, 2 epochs on
20,000 Fashion-MNIST images), convert it with ``rateconv.convert(model,
calibration_data=x_cal, n_steps=N)`` on 1,000 *training* images, then
evaluate it with every `Simulator.evaluate` argument at its default on the
first 2,000 test images, and print a Markdown table::

    python examples/byo_models.py --output-dir byo_models
    python examples/bring_your_own.py --model-dir byo_models --output byo.md
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import rateconv
from rateconv import datasets

try:  # run as a script from the repository, or as a module
    from byo_models import BUILDERS, model_inputs
except ImportError:  # pragma: no cover
    from examples.byo_models import BUILDERS, model_inputs


def evaluate_model(model, name, data, n_steps_list, n_cal, n_test):
    (x_train, _), (x_test, y_test) = data
    x_cal = model_inputs(name, x_train[-n_cal:])  # never the test set
    x = model_inputs(name, x_test[:n_test])
    y = y_test[:n_test]
    keras_acc = float(np.mean(np.argmax(model.predict(x, verbose=0), -1) == y))
    row = {"model": name, "keras": keras_acc}
    for n_steps in n_steps_list:
        start = time.perf_counter()
        net = rateconv.convert(model, calibration_data=x_cal, n_steps=n_steps)
        tuned = time.perf_counter() - start
        ev = rateconv.Simulator(net, progress=False).evaluate(x, y, n_steps=n_steps)
        row[n_steps] = ev.accuracy
        row[f"tune_s_{n_steps}"] = round(tuned, 1)
        row[f"eval_s_{n_steps}"] = round(time.perf_counter() - start - tuned, 1)
    return row


def table(rows, n_steps_list):
    head = "| model | Keras | " + " | ".join(f"{n} steps" for n in n_steps_list)
    lines = [head + " |", "|---" * (2 + len(n_steps_list)) + "|"]
    for r in rows:
        cells = [f"{100 * r['keras']:.2f}%"] + [
            f"{100 * r[n]:.2f}% ({100 * (r[n] - r['keras']):+.2f})"
            for n in n_steps_list
        ]
        lines.append(f"| {r['model']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", default="byo_models")
    parser.add_argument("--models", nargs="+", default=list(BUILDERS))
    parser.add_argument("--n-steps", type=int, nargs="+", default=[10, 30])
    parser.add_argument("--n-calibration", type=int, default=1000)
    parser.add_argument("--n-test", type=int, default=2000)
    parser.add_argument("--output", default=None, help="write the table here")
    parser.add_argument("--json", default=None, help="write the rows here")
    args = parser.parse_args(argv)
    data = datasets.load_fashion_mnist(download=False)
    rows = []
    for name in args.models:
        model = rateconv.load_model(Path(args.model_dir) / f"{name}.keras")
        row = evaluate_model(
            model, name, data, args.n_steps, args.n_calibration, args.n_test
        )
        print(json.dumps(row), flush=True)
        rows.append(row)
    text = table(rows, args.n_steps)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
