"""Synaptic filters over a time axis: `Lowpass` and `Alpha`.

A lowpass synapse with time constant ``tau`` is discretized exactly for a
piecewise-constant input (zero-order hold): with ``a = exp(-dt / tau)``,
``y[t] = a * y[t-1] + (1 - a) * x[t]``.  An alpha synapse is two such filters in
series.  ``None`` stands for "no filter" wherever a synapse is accepted.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from keras import ops

from rateconv._checks import check_positive
from rateconv.neurons import DT


@dataclasses.dataclass(frozen=True)
class Lowpass:
    """First-order lowpass filter.

    Parameters
    ----------
    tau : float
        Time constant, in seconds (> 0).

    Examples
    --------
    >>> import rateconv
    >>> syn = rateconv.Lowpass(0.005)
    >>> round(float(syn.decay(0.001)), 4)    # y[t] = a y[t-1] + (1 - a) x[t]
    0.8187
    >>> net = rateconv.convert(model, synapse=syn)     # doctest: +SKIP
    """

    tau: float

    n_stages = 1

    def __post_init__(self):
        check_positive(
            "tau", self.tau, unit="in seconds", hint="Use synapse=None for no filter"
        )

    def decay(self, dt=DT):
        """Per-step decay ``a = exp(-dt / tau)``."""
        return math.exp(-dt / self.tau)

    def initial_state(self, shape, dtype="float32"):
        """Zero state: a tuple with one tensor per first-order stage."""
        return tuple(ops.zeros(shape, dtype=dtype) for _ in range(self.n_stages))

    def step(self, x, state, dt=DT):
        """Filter one step of input ``x``; returns ``(y, new_state)``."""
        a = self.decay(dt)
        new_state = []
        y = x
        for s in state:
            y = a * s + (1 - a) * y
            new_state.append(y)
        return y, tuple(new_state)

    def filter(self, x, *, dt=DT, axis=1):
        """Filter ``x`` along its time ``axis`` starting from a zero state.

        Parameters
        ----------
        x : array
            E.g. shape ``(batch, n_steps, ...)`` with ``axis=1``.
        dt : float
            Step length, in seconds.

        Returns
        -------
        numpy.ndarray, same shape as ``x``
        """
        x = np.moveaxis(np.asarray(x, dtype=np.float32), axis, 0)
        a = np.float32(self.decay(dt))
        y = x
        for _ in range(self.n_stages):
            out = np.empty_like(y)
            s = np.zeros(y.shape[1:], dtype=np.float32)
            for t in range(y.shape[0]):
                s = a * s + (1 - a) * y[t]
                out[t] = s
            y = out
        return np.moveaxis(y, 0, axis)


@dataclasses.dataclass(frozen=True)
class Alpha(Lowpass):
    """Alpha filter: two `Lowpass` filters with the same ``tau`` in series.

    Examples
    --------
    >>> import rateconv
    >>> syn = rateconv.Alpha(0.005)          # two 5 ms lowpass stages in series
    >>> syn.n_stages, round(float(syn.decay(0.001)), 4)
    (2, 0.8187)
    """

    n_stages = 2


def as_synapse(synapse, name="synapse"):
    """Normalize a synapse argument: ``None``, a float ``tau`` or a synapse.

    A bare number means a `Lowpass` with that time constant, as in Nengo.
    """
    if synapse is None or isinstance(synapse, Lowpass):
        return synapse
    if isinstance(synapse, (int, float)) and not isinstance(synapse, bool):
        if synapse == 0:
            return None
        try:
            return Lowpass(float(synapse))
        except ValueError as e:
            raise ValueError(
                f"{name} must be None, a positive time constant in seconds, or a "
                f"rateconv.Lowpass / rateconv.Alpha. Received: {name}={synapse!r}"
            ) from e
    raise TypeError(
        f"{name} must be None, a positive time constant in seconds, or a "
        f"rateconv.Lowpass / rateconv.Alpha. Received: {name}={synapse!r} "
        f"of type {type(synapse).__name__}"
    )
