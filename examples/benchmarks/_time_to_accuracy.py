"""The race users care about: time to evaluate the test images at a spiking
accuracy within ``margin`` (1 point) of each tool's own rate-mode accuracy,
each tool at its best settings.  Used by ``race_nengodl.py``.

- rateconv: the one-call conversion for the step budget
  (``rateconv.convert(model, calibration_data=..., n_steps=n)``) at each
  budget of the grid, smallest first; the first that reaches the target is
  timed (the best of ``repeats`` warm ``predict`` runs); the tuning time is
  reported beside it.
- NengoDL: every (synapse, n_steps) run the worker made; the fastest of
  those that reach the target (time = images * n_steps / its warm
  image-steps/s).
"""

from __future__ import annotations

import time

import numpy as np

import rateconv
from rateconv import metrics


def rateconv_rate_accuracy(model, x, y, batch):
    """Accuracy of rateconv's rate mode of the default conversion."""
    sim = rateconv.Simulator(
        rateconv.convert(model), minibatch_size=batch, progress=False
    )
    return float(np.mean(sim.predict(x, mode="rate").argmax(-1) == y))


def rateconv_time_to_accuracy(
    model, x, y, calibration, *, steps, batch, probe, repeats, margin=0.01
):
    """The fastest rateconv run within ``margin`` of its rate accuracy.

    Returns a dict: ``rate_accuracy``, ``target``, ``tried`` (accuracy per
    budget tried) and, if a budget reached the target, ``n_steps``,
    ``accuracy``, ``seconds`` (evaluating ``x``) and ``tune_seconds``.
    """
    rate = rateconv_rate_accuracy(model, x, y, batch)
    result = {"rate_accuracy": rate, "target": rate - margin, "tried": {}}
    for n_steps in sorted(steps):
        t0 = time.perf_counter()
        net = rateconv.convert(model, calibration_data=calibration, n_steps=n_steps)
        tune_s = time.perf_counter() - t0
        sim = rateconv.Simulator(net, minibatch_size=batch, progress=False)
        sim.predict(x[:batch], n_steps=n_steps, probe_synapse=probe)  # warm up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = sim.predict(x, n_steps=n_steps, probe_synapse=probe)
            times.append(time.perf_counter() - t0)
        acc = float(1 - metrics.classification_errors(out, y)[-1])
        result["tried"][n_steps] = acc
        print(
            f"  rateconv tuned for {n_steps} steps: accuracy {acc:.4f} "
            f"(target {result['target']:.4f}), {min(times):.2f} s",
            flush=True,
        )
        if acc >= result["target"]:
            result.update(
                n_steps=n_steps, accuracy=acc, seconds=min(times), tune_seconds=tune_s
            )
            break
    return result


def nengodl_time_to_accuracy(nengodl, n_images, margin=0.01):
    """The fastest of NengoDL's runs within ``margin`` of its rate accuracy."""
    rate = nengodl["rate_accuracy"]
    result = {"rate_accuracy": rate, "target": rate - margin}
    best = None
    for run in nengodl["runs"]:
        if run["accuracy"] >= result["target"]:
            seconds = n_images * run["n_steps"] / run["image_steps_per_s"]
            if best is None or seconds < best["seconds"]:
                best = {**run, "seconds": seconds}
    if best is not None:
        result.update(
            n_steps=best["n_steps"],
            synapse=best["synapse"],
            accuracy=best["accuracy"],
            seconds=best["seconds"],
        )
    return result


def table(ours, theirs, n_images):
    """Text lines: each tool's rate accuracy, the run that reached it, the time."""

    def row(tool, r):
        if "seconds" not in r:
            return (
                f"{tool:<12} rate {100 * r['rate_accuracy']:.2f}%: no run reached "
                f"{100 * r['target']:.2f}%"
            )
        return (
            f"{tool:<12} rate {100 * r['rate_accuracy']:.2f}%, "
            f"{r['n_steps']} steps: {100 * r['accuracy']:.2f}% in {r['seconds']:.1f} s"
        )

    lines = [
        f"Time to evaluate {n_images} images within 1 point of each tool's rate "
        "accuracy (each at its best settings):",
        row("rateconv", ours),
        row("NengoDL 3.6", theirs),
    ]
    if "seconds" in ours and "seconds" in theirs:
        lines.append(f"rateconv {theirs['seconds'] / ours['seconds']:.1f}x faster")
    return lines
