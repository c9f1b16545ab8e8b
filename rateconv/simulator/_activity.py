"""What a run's spike counts say: silent and saturated layers, as warnings.

A spiking run that cannot work should say so rather than return chance
accuracy.  From each spiking layer's spike counts (`RunResult.counts`), a run
warns (`ActivityWarning`, a ``UserWarning``) about layers that are

* **silent**: fewer than one spike per sample in the whole layer over the run.
  The layers reading it then get no input at all for most samples, so the
  output cannot depend on the input.  The line needs no tuning to argue that
  such a layer is broken, and a healthy sparse layer (a few neurons firing a
  few times each) stays far above it.
* **saturated**: most (more than half) of the layer's active neurons fire at
  one spike per step or more, on average over the samples and steps.  A
  neuron that fires at most one spike per step (LIF, QCFS) then clips its
  rate, so the layer computes a different function; an integrate-and-fire
  neuron fires several spikes per step, so it computes the right rate but
  is no longer sparse, which is the point of spiking.  Either way the scale is too
  large.  "Most" rather than "any": a few neurons at the top of a
  data-normalized layer fire one spike per step by design
  (`rateconv.normalize` puts the 99.9th percentile there).  Judged from
  `SATURATED_MIN_STEPS` steps on: in fewer, a spike count cannot tell one
  spike per step from less (in one step every neuron that spikes at all
  fires one spike per step, and a start at half threshold adds half a spike).
"""

from __future__ import annotations

import warnings

import numpy as np

from rateconv.simulator._run import SAMPLED_ROWS

SATURATED_RATE = 1.0
"""Spikes per step (per neuron, averaged over the run) at which a neuron is
saturated."""

SATURATED_FRACTION = 0.5
"""Fraction of a layer's active neurons that must be saturated to warn."""

SATURATED_MIN_STEPS = 10
"""Shortest run judged for saturation: a neuron firing at least once per step
over 10 steps fires at 0.9 spikes per step or more whatever its initial
voltage (under one threshold, so under one spike of head start)."""

OFF = "Simulator(..., warn_activity=False) turns these warnings off"


class ActivityWarning(UserWarning):
    """A spiking layer was silent or saturated over a run.

    Filter it like any warning, e.g.
    ``warnings.filterwarnings("ignore", category=rateconv.ActivityWarning)``,
    or build the simulator with ``warn_activity=False``.

    Examples
    --------
    >>> import warnings, rateconv
    >>> issubclass(rateconv.ActivityWarning, UserWarning)
    True
    >>> warnings.filterwarnings("ignore", category=rateconv.ActivityWarning)
    """


def layer_findings(counts, n_samples, n_steps):
    """``(silent, saturated)``: ``[(layer, figure)]`` from a run's counts.

    Parameters
    ----------
    counts : dict of str -> numpy.ndarray
        Spikes of each neuron of each spiking layer, summed over ``n_samples``
        samples and ``n_steps`` steps, in the network's order.
    n_samples, n_steps : int

    Returns
    -------
    silent : list of (str, float)
        Layers under one spike per sample, with their spikes per sample.
    saturated : list of (str, float)
        Saturated layers, with the fraction of their active neurons that fire
        at least `SATURATED_RATE` spikes per step (none under
        `SATURATED_MIN_STEPS` steps).
    """
    silent, saturated = [], []
    if not n_samples:
        return silent, saturated
    for name, c in counts.items():
        c = np.asarray(c, np.float64).reshape(-1)
        per_sample = float(c.sum()) / n_samples
        if per_sample < 1:
            silent.append((name, per_sample))
            continue
        if n_steps < SATURATED_MIN_STEPS:
            continue
        per_step = c / (n_samples * n_steps)
        active = np.count_nonzero(per_step > 0)
        # a little below 1: the float sums of amplitude / dt spikes round
        fast = np.count_nonzero(per_step >= SATURATED_RATE * (1 - 1e-4))
        if active and fast > SATURATED_FRACTION * active:
            saturated.append((name, fast / active))
    return silent, saturated


def _names(findings):
    names = [f"'{name}'" for name, _ in findings]
    if len(names) == 1:
        return "layer " + names[0] + " is"
    return "layers " + ", ".join(names[:-1]) + " and " + names[-1] + " are"


def _counted(n_counted, n_samples):
    if n_counted < n_samples:
        return (
            f"counted on {n_counted} of the {n_samples} samples, the first "
            f"{SAMPLED_ROWS} of each minibatch"
        )
    return f"counted on {n_counted} sample{'s' if n_counted != 1 else ''}"


def warn_activity(counts, n_counted, n_steps, *, n_samples=None, stacklevel=3):
    """Warn about the silent and saturated layers of a run (see the module).

    Parameters
    ----------
    counts : dict of str -> numpy.ndarray
        As in `layer_findings`.
    n_counted, n_steps : int
        The samples and steps the counts cover.
    n_samples : int or None
        The run's samples, if the counts cover only some (the message says
        so).
    stacklevel : int
        Of `warnings.warn`: the frame of the user's call.
    """
    n_samples = n_counted if n_samples is None else n_samples
    silent, saturated = layer_findings(counts, n_counted, n_steps)
    counted = _counted(n_counted, n_samples)
    steps = f"{n_steps} step{'s' if n_steps != 1 else ''}"
    if silent:
        figures = ", ".join(f"'{n}' {s:.2g}" for n, s in silent)
        them = "it" if len(silent) == 1 else "them"
        warnings.warn(
            f"Spiking {_names(silent)} silent: under one spike per sample in "
            f"the whole layer over {steps} ({figures} spikes per "
            f"sample, {counted}). The layers after {them} get no input, so the "
            "output does not depend on the input. Raise the firing rates for "
            f"{steps}: rateconv.convert(model, calibration_data="
            f"x_train[:1000], n_steps={n_steps}) chooses data-based scales for "
            f"the step budget, or raise convert's scale_firing_rates. {OFF}.",
            ActivityWarning,
            stacklevel=stacklevel,
        )
    if saturated:
        figures = ", ".join(f"'{n}' {f:.0%}" for n, f in saturated)
        warnings.warn(
            f"Spiking {_names(saturated)} saturated: most active neurons fire "
            f"one spike per step or more over {steps} ({figures} of "
            f"the active neurons, {counted}), so their rates are clipped or no "
            "longer sparse. Use a smaller scale: a smaller scale_firing_rates "
            "in rateconv.convert, or rateconv.normalize(net, x_train[:1000], "
            f"max_rate=...) with max_rate under 1 / dt. {OFF}.",
            ActivityWarning,
            stacklevel=stacklevel,
        )
