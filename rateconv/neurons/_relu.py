"""Rectified-linear neurons and their integrate-and-fire twins.

- `RectifiedLinear` / `SpikingRectifiedLinear`: ReLU and the IF neuron;
- `ClippedRectifiedLinear` / `SpikingClippedRectifiedLinear`: ReLU clipped at
  ``max_value`` (``relu6``) and an IF neuron with a rate cap;
- `LeakyRectifiedLinear` / `SpikingLeakyRectifiedLinear`: leaky ReLU and an IF
  neuron firing signed spikes.

The clipped and leaky rates subclass `RectifiedLinear`: like it they are
positively homogeneous in the current, so rescaling (``scale_firing_rates``,
normalization) is exact in rate mode.  Their spiking types are not
`SpikingRectifiedLinear`s: their step differs from `if_step`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers

from keras import ops

from rateconv._checks import check_positive, check_range
from rateconv.neurons._base import DT, NeuronType, VoltageSpiking, check_reset


def relu_rate(j, *, amplitude=1.0):
    """Rectified-linear rate ``max(j, 0) * amplitude``."""
    return ops.relu(j) * amplitude


def if_step(j, voltage, *, dt=DT, amplitude=1.0, reset="subtract", max_spikes=None):
    """Advance integrate-and-fire (spiking ReLU) neurons by one step.

    ``voltage += j * dt``; every whole unit of voltage is a spike.  With
    ``reset="subtract"`` the spikes are subtracted (the residue is kept, so the
    mean output equals ``max(j, 0) * amplitude`` and several spikes per step are
    possible when ``j * dt > 1``); with ``reset="zero"`` a neuron that spiked
    restarts from 0, losing the residue (a rate below ``max(j, 0)``, as in
    Rueckauer et al. 2017).  The voltage is not clipped at 0, so a time-varying
    input is integrated without rectifying each step.  ``max_spikes`` caps
    the spikes of one step (1: binary spikes); the charge above the cap stays
    in the voltage for later steps.

    Returns
    -------
    output, voltage : tensor
        ``output`` is ``n_spikes * amplitude / dt``.
    """
    voltage = voltage + j * dt
    n_spikes = _capped(ops.maximum(ops.floor(voltage), 0.0), max_spikes)
    if reset == "zero":
        voltage = ops.where(n_spikes > 0, ops.zeros_like(voltage), voltage)
    else:
        voltage = voltage - n_spikes
    return n_spikes * (amplitude / dt), voltage


def _capped(n_spikes, max_spikes):
    """``n_spikes`` limited to ``max_spikes`` per step (None: no limit)."""
    if max_spikes is None:
        return n_spikes
    return ops.minimum(n_spikes, float(max_spikes))


def check_max_spikes(max_spikes_per_step):
    """``max_spikes_per_step`` is None or a positive integer; returns it."""
    m = max_spikes_per_step
    if m is None:
        return None
    is_number = isinstance(m, numbers.Real) and not isinstance(m, bool)
    if not is_number or not float(m).is_integer() or m < 1:
        raise ValueError(
            "max_spikes_per_step must be a positive integer (1: binary spikes, "
            "one per neuron per step, what neuromorphic chips take) or None (no "
            f"limit: graded spikes). Received: max_spikes_per_step={m!r}"
        )
    return int(m)


class _SpikeCap:
    """Mixin of the integrate-and-fire types: the ``max_spikes_per_step`` check.

    The field itself is declared on each dataclass (after ``reset``).
    """

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(
            self, "max_spikes_per_step", check_max_spikes(self.max_spikes_per_step)
        )


@dataclasses.dataclass(frozen=True)
class RectifiedLinear(NeuronType):
    """Rate ReLU: ``max(J, 0) * amplitude``.

    Examples
    --------
    >>> import numpy as np, rateconv
    >>> relu = rateconv.RectifiedLinear()
    >>> np.asarray(relu.rate(np.float32([-1.0, 2.5]))).tolist()
    [0.0, 2.5]
    >>> type(relu.as_spiking()).__name__            # what it converts to
    'SpikingRectifiedLinear'
    """

    def rate(self, x):
        return relu_rate(self.current(x), amplitude=self.amplitude)

    @property
    def is_linear_in_scale(self):
        return self.bias == 0.0


@dataclasses.dataclass(frozen=True)
class SpikingRectifiedLinear(_SpikeCap, VoltageSpiking, RectifiedLinear):
    """Integrate-and-fire neuron whose mean rate is ``max(J, 0) * amplitude``.

    State: ``voltage``.

    Parameters
    ----------
    reset : {"subtract", "zero"}
        Voltage after a spike: the residue above threshold (default, unbiased)
        or 0 (see `if_step`).
    max_spikes_per_step : int or None
        At most this many spikes per neuron per step: 1 is binary spikes (what
        neuromorphic chips take), more is graded spikes, None no limit.  The
        mean rate is ``max(J, 0) * amplitude`` up to ``max_spikes_per_step /
        dt`` Hz times ``amplitude``, and saturates there.

    Examples
    --------
    >>> import numpy as np
    >>> from rateconv import SpikingRectifiedLinear
    >>> n = SpikingRectifiedLinear(max_spikes_per_step=1)
    >>> out, state = n.step(np.float32([2500.0]), (np.float32([0.0]),))
    >>> float(out[0]) * 0.001  # 2.5 spikes' charge, one spike fired
    1.0
    """

    reset: str = "subtract"
    max_spikes_per_step: int | None = None

    def _advance(self, j, voltage, dt):
        return if_step(
            j,
            voltage,
            max_spikes=self.max_spikes_per_step,
            **self._step_options(dt),
        )


# ---------------------------------------------------------------------------
# Clipped ReLU (ReLU(max_value=m), relu6): integrate-and-fire with a rate cap
# ---------------------------------------------------------------------------


def clipped_relu_rate(j, *, max_value, amplitude=1.0):
    """Clipped rectified-linear rate ``min(max(j, 0), max_value) * amplitude``."""
    return ops.minimum(ops.relu(j), max_value) * amplitude


def clipped_if_step(
    j,
    voltage,
    debt,
    *,
    max_value,
    dt=DT,
    amplitude=1.0,
    reset="subtract",
    max_spikes=None,
):
    """Advance rate-capped integrate-and-fire neurons by one step.

    The voltage integrates ``j * dt`` as in `if_step` (no clipping, spikes
    subtracted), but the spikes are rationed: the cap ``max_value * dt`` is
    what ``max_value`` maps to in spikes per step, and the neuron fires at most
    ``cap`` spikes per step on average (a token bucket: ``debt`` counts the
    spikes fired that the cap has not yet paid back; a step may fire up to
    ``floor(cap + 1 - debt)``).  For a constant ``j`` the mean output over many
    steps is exactly ``min(max(j, 0), max_value) * amplitude``: below the cap
    the voltage limits the spikes, above it the budget does (and the voltage
    keeps the excess, so a fluctuating input saturates at its mean).

    Returns
    -------
    output, voltage, debt : tensor
        ``output`` is ``n_spikes * amplitude / dt``.
    """
    cap = max_value * dt
    voltage = voltage + j * dt
    debt = ops.maximum(debt - cap, 0.0)  # the budget refills by `cap` a step
    allowed = ops.floor(cap + 1.0 - debt)
    n_spikes = ops.minimum(ops.maximum(ops.floor(voltage), 0.0), allowed)
    n_spikes = _capped(n_spikes, max_spikes)
    if reset == "zero":
        voltage = ops.where(n_spikes > 0, ops.zeros_like(voltage), voltage)
    else:
        voltage = voltage - n_spikes
    return n_spikes * (amplitude / dt), voltage, debt + n_spikes


@dataclasses.dataclass(frozen=True)
class ClippedRectifiedLinear(RectifiedLinear):
    """Rate clipped ReLU: ``min(max(J, 0), max_value) * amplitude``.

    Keras' ``ReLU(max_value=m)`` and ``relu6`` (``max_value=6``).  A
    `RectifiedLinear` whose rate saturates at ``max_value`` (in units of the
    current ``J``, i.e. Hz): `scaled` multiplies ``max_value`` by the same
    factor as the current, so ``scale_firing_rates`` stays exact in rate
    mode, and ``max_value * dt`` is the spiking neuron's cap in spikes per
    step (one spike per step once scaled by ``1 / (max_value * dt)``).

    Parameters
    ----------
    max_value : float
        The clipping level, in units of ``J`` (positive).

    Examples
    --------
    >>> import numpy as np, rateconv
    >>> relu6 = rateconv.ClippedRectifiedLinear(max_value=6.0)
    >>> np.asarray(relu6.rate(np.float32([-1.0, 3.0, 9.0]))).tolist()
    [0.0, 3.0, 6.0]
    """

    max_value: float = 6.0

    def __post_init__(self):
        super().__post_init__()
        check_positive("max_value", self.max_value)

    def rate(self, x):
        return clipped_relu_rate(
            self.current(x), max_value=self.max_value, amplitude=self.amplitude
        )

    def scaled(self, k):
        """As `NeuronType.scaled`, with ``max_value`` scaled by ``k`` too."""
        scaled = super().scaled(k)
        return dataclasses.replace(scaled, max_value=self.max_value * k)


@dataclasses.dataclass(frozen=True)
class SpikingClippedRectifiedLinear(_SpikeCap, ClippedRectifiedLinear):
    """Integrate-and-fire neuron saturating at ``max_value``: `clipped_if_step`.

    Fires at most ``max_value * dt`` spikes per step on average; for a
    constant current its mean output is ``min(max(J, 0), max_value) *
    amplitude``.  State: ``voltage`` and ``debt`` (spikes not yet paid back
    by the per-step cap).

    Parameters
    ----------
    reset : {"subtract", "zero"}
        Voltage after a spike, as for `SpikingRectifiedLinear`.
    max_spikes_per_step : int or None
        At most this many spikes per step, as for `SpikingRectifiedLinear`.

    Examples
    --------
    >>> import rateconv
    >>> n = rateconv.SpikingClippedRectifiedLinear(max_value=6.0)
    >>> n.as_rate()                          # what it averages to
    ClippedRectifiedLinear(amplitude=1.0, gain=1.0, bias=0.0, max_value=6.0)
    """

    reset: str = "subtract"
    max_spikes_per_step: int | None = None

    spiking = True
    state_names = ("voltage", "debt")

    def __post_init__(self):
        super().__post_init__()
        check_reset(self.reset)

    def step(self, x, state, dt=DT):
        """One step: returns ``(output, new_state)``; state is a tuple."""
        voltage, debt = state
        out, voltage, debt = clipped_if_step(
            self.current(x),
            voltage,
            debt,
            max_value=self.max_value,
            dt=dt,
            amplitude=self.amplitude,
            reset=self.reset,
            max_spikes=self.max_spikes_per_step,
        )
        return out, (voltage, debt)


# ---------------------------------------------------------------------------
# Leaky ReLU: signed spikes
# ---------------------------------------------------------------------------


def leaky_relu_rate(j, *, negative_slope, amplitude=1.0):
    """Leaky rectified-linear rate: ``j`` above 0, ``negative_slope * j`` below."""
    return ops.leaky_relu(j, negative_slope=negative_slope) * amplitude


def leaky_if_step(
    j,
    voltage,
    *,
    negative_slope,
    dt=DT,
    amplitude=1.0,
    reset="subtract",
    max_spikes=None,
):
    """Advance leaky-ReLU neurons, which fire signed spikes, by one step.

    As NengoDL's ``SpikingLeakyReLU``, the neuron fires a +1 spike for each
    whole unit of ``leaky(voltage)`` above +1 and a -1 spike for each whole
    unit below -1, and subtracts them; unlike it, the voltage integrates
    ``j * dt`` itself rather than ``leaky(j) * dt``, as `if_step` does, so a
    fluctuating input (spikes from the layer below) is not rectified step by
    step and the mean output converges to ``leaky(mean j)``.  In units of
    ``j``: a +1 spike at each whole unit of voltage above 1, a -1 spike at
    each ``1 / negative_slope`` below ``-1 / negative_slope``.  For a constant
    ``j`` the mean output is exactly ``leaky(j) * amplitude``.

    Returns
    -------
    output, voltage : tensor
        ``output`` is ``(n_up - n_down) * amplitude / dt``.
    """
    voltage = voltage + j * dt
    up = _capped(ops.maximum(ops.floor(voltage), 0.0), max_spikes)
    if negative_slope > 0:
        down = _capped(
            ops.maximum(ops.floor(-voltage * negative_slope), 0.0), max_spikes
        )
        n_spikes = up - down
        charge = up - down / negative_slope
    else:  # a plain ReLU: no negative spikes
        n_spikes = charge = up
    if reset == "zero":
        voltage = ops.where(n_spikes != 0, ops.zeros_like(voltage), voltage)
    else:
        voltage = voltage - charge
    return n_spikes * (amplitude / dt), voltage


@dataclasses.dataclass(frozen=True)
class LeakyRectifiedLinear(RectifiedLinear):
    """Rate leaky ReLU: ``J`` above 0, ``negative_slope * J`` below (times amplitude).

    Keras' ``LeakyReLU``, ``leaky_relu`` and ``ReLU(negative_slope=s)``.
    Positively homogeneous, so `scaled` (``scale_firing_rates``) is exact in
    rate mode.

    Parameters
    ----------
    negative_slope : float
        Slope below 0 (>= 0; Keras' ``LeakyReLU`` default is 0.3, the
        ``leaky_relu`` activation's 0.2).

    Examples
    --------
    >>> import numpy as np, rateconv
    >>> leaky = rateconv.LeakyRectifiedLinear(negative_slope=0.1)
    >>> [round(float(v), 3) for v in leaky.rate(np.float32([-2.0, 3.0]))]
    [-0.2, 3.0]
    """

    negative_slope: float = 0.3

    def __post_init__(self):
        super().__post_init__()
        check_range("negative_slope", self.negative_slope, 0.0, math.inf)

    def rate(self, x):
        return leaky_relu_rate(
            self.current(x),
            negative_slope=self.negative_slope,
            amplitude=self.amplitude,
        )


@dataclasses.dataclass(frozen=True)
class SpikingLeakyRectifiedLinear(_SpikeCap, VoltageSpiking, LeakyRectifiedLinear):
    """Leaky integrate-and-fire with signed spikes: see `leaky_if_step`.

    For a constant current the mean output is ``leaky(J) * amplitude``.
    State: ``voltage``.

    Parameters
    ----------
    reset : {"subtract", "zero"}
        Voltage after a spike of either sign.
    max_spikes_per_step : int or None
        At most this many spikes of each sign per step, as for
        `SpikingRectifiedLinear`.

    Examples
    --------
    >>> import rateconv
    >>> n = rateconv.SpikingLeakyRectifiedLinear(negative_slope=0.1)
    >>> n.as_rate()                          # what it averages to
    LeakyRectifiedLinear(amplitude=1.0, gain=1.0, bias=0.0, negative_slope=0.1)
    """

    reset: str = "subtract"
    max_spikes_per_step: int | None = None

    def _advance(self, j, voltage, dt):
        return leaky_if_step(
            j,
            voltage,
            negative_slope=self.negative_slope,
            max_spikes=self.max_spikes_per_step,
            **self._step_options(dt),
        )
