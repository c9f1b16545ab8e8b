"""LIF neurons: the rate curve, the soft-LIF curve, the spiking step, types.

Equations follow Nengo's LIF model and Hunsberger & Eliasmith (2015), "Spiking
deep networks with LIF neurons", arXiv:1510.08829 (soft-LIF).  The math is
pure functions of tensors written with ``keras.ops``, so the Keras layers, the
simulator's engines and the tests evaluate the same equations.
"""

from __future__ import annotations

import dataclasses
import math

from keras import ops

from rateconv._checks import check_non_negative, check_positive, check_range
from rateconv.neurons._base import DT, TAU_RC, TAU_REF, NeuronType, check_reset

# Smallest p used inside log1p(1 / p): keeps the soft-LIF rate and its gradient
# finite in float32 where softplus underflows to 0 for very negative currents.
_P_MIN = 1e-30


def _check_lif_params(tau_rc, tau_ref, amplitude):
    check_positive("tau_rc", tau_rc, unit="in seconds")
    check_non_negative("tau_ref", tau_ref, unit="in seconds")
    check_positive("amplitude", amplitude)


# ---------------------------------------------------------------------------
# Pure tensor math
# ---------------------------------------------------------------------------


def lif_rate(j, *, tau_rc=TAU_RC, tau_ref=TAU_REF, amplitude=1.0):
    """Steady-state firing rate of a LIF neuron driven by current ``j``.

    .. math:: r(J) = \\frac{a}{\\tau_{ref} + \\tau_{rc} \\log(1 + 1 / (J - 1))}
              \\quad (J > 1), \\qquad 0 \\text{ otherwise}

    Parameters
    ----------
    j : tensor
        Input current (dimensionless; the firing threshold is 1).
    tau_rc, tau_ref : float
        Membrane time constant and refractory period, in seconds.
    amplitude : float
        Scale of the output: the rate in Hz times ``amplitude``.

    Returns
    -------
    tensor, same shape as ``j``
        Firing rate in Hz times ``amplitude``.
    """
    j = ops.convert_to_tensor(j)
    above = j > 1
    # substitute a safe value below threshold so the unused branch has no inf/NaN
    p = ops.where(above, j - 1, ops.ones_like(j))
    rate = amplitude / (tau_ref + tau_rc * ops.log1p(1 / p))
    return ops.where(above, rate, ops.zeros_like(rate))


def soft_lif_rate(j, *, sigma, tau_rc=TAU_RC, tau_ref=TAU_REF, amplitude=1.0):
    """Soft-LIF rate: a smooth, differentiable approximation of ``lif_rate``.

    ``J - 1`` is replaced by ``p = sigma * softplus((J - 1) / sigma)``
    (Hunsberger & Eliasmith, 2015); as ``sigma -> 0`` it tends to the LIF rate.
    Finite values and gradients for every finite ``j``.

    Parameters
    ----------
    j : tensor
        Input current.
    sigma : float
        Smoothing, in units of current (e.g. 0.02 to 1).
    tau_rc, tau_ref, amplitude : float
        As in `lif_rate`.

    Returns
    -------
    tensor, same shape as ``j``
    """
    return _soft_lif(ops.convert_to_tensor(j), sigma, tau_rc, tau_ref, amplitude)[0]


def soft_lif_rate_and_slope(j, *, sigma, tau_rc=TAU_RC, tau_ref=TAU_REF, amplitude=1.0):
    """`soft_lif_rate` and its derivative with respect to ``j``, together.

    The slope is written analytically (``d rate / d j = rate**2 tau_rc /
    amplitude * sigmoid(z) / (p (1 + p))`` with ``z = (j - 1) / sigma``), so
    a fused kernel (`rateconv.SoftLIF` on TensorFlow) gets both in one pass
    instead of differentiating a dozen elementwise ops.

    Returns
    -------
    rate, slope : tensor, same shape as ``j``
    """
    j = ops.convert_to_tensor(j)
    rate, z, p = _soft_lif(j, sigma, tau_rc, tau_ref, amplitude)
    slope = rate * rate * (tau_rc / amplitude) * ops.sigmoid(z) / (p * (1 + p))
    return rate, slope


def _soft_lif(j, sigma, tau_rc, tau_ref, amplitude):
    """The soft-LIF formula: ``(rate, z, p)`` with ``p = sigma softplus(z)``."""
    z = (j - 1) / sigma
    # keras' softplus is the overflow-safe log1p(exp(-|x|)) + max(x, 0) form;
    # keep p away from 0: softplus underflows to 0 for very negative currents
    p = ops.maximum(sigma * ops.softplus(z), _P_MIN)
    # log(1 + 1/p) in two forms: for small p as log1p(p) - log(p), whose
    # gradient 1/(1+p) - 1/p stays finite (1/p**2 would overflow float32); for
    # p >= 1 as log1p(1/p), which avoids cancellation.  Each branch gets a safe
    # value where it is not used, so neither yields inf/NaN gradients.
    small = p < 1
    p_lo = ops.where(small, p, ops.ones_like(p))
    p_hi = ops.where(small, ops.ones_like(p), p)
    log_term = ops.where(small, ops.log1p(p_lo) - ops.log(p_lo), ops.log1p(1 / p_hi))
    return amplitude / (tau_ref + tau_rc * log_term), z, p


def lif_step(
    j,
    voltage,
    refractory,
    *,
    dt=DT,
    tau_rc=TAU_RC,
    tau_ref=TAU_REF,
    amplitude=1.0,
    reset="zero",
    min_voltage=0.0,
):
    """Advance LIF neurons by one step of length ``dt``.

    The membrane update is exact for ``j`` constant over the step, and the
    refractory period starts at the sub-step time of the threshold crossing, so
    the mean output over many steps equals `lif_rate` of ``j``.

    Parameters
    ----------
    j : tensor
        Input current during this step.
    voltage, refractory : tensor, same shape as ``j``
        Membrane voltage (threshold 1) and refractory time left, in seconds.
    dt : float
        Step length, in seconds.
    tau_rc, tau_ref, amplitude : float
        As in `lif_rate`.
    reset : {"zero", "subtract"}
        After a spike the voltage goes to 0, or has 1 subtracted (keeping the
        overshoot).
    min_voltage : float
        Floor of the voltage (Nengo's ``min_voltage``); ``-inf`` for none.

    Returns
    -------
    output, voltage, refractory : tensor
        ``output`` is ``amplitude / dt`` where a neuron spiked, else 0.
    """
    refractory = refractory - dt
    delta_t = ops.clip(dt - refractory, 0.0, dt)
    # exact solution of tau_rc dv/dt = J - v over delta_t
    voltage = voltage - (j - voltage) * ops.expm1(-delta_t / tau_rc)
    spiked = voltage > 1
    # time of the threshold crossing within the step; guard J - 1 for the
    # neurons that did not spike (their value is discarded by the where)
    j_safe = ops.where(spiked, j - 1, ops.ones_like(j))
    overshoot = ops.where(spiked, (voltage - 1) / j_safe, ops.zeros_like(j))
    t_spike = dt + tau_rc * ops.log1p(-ops.minimum(overshoot, 1.0 - 1e-7))
    refractory = ops.where(spiked, tau_ref + t_spike, refractory)
    if reset == "zero":
        reset_voltage = ops.zeros_like(voltage)
    else:
        reset_voltage = voltage - 1
    voltage = ops.where(spiked, reset_voltage, ops.maximum(voltage, min_voltage))
    output = ops.cast(spiked, j.dtype) * (amplitude / dt)
    return output, voltage, refractory


# ---------------------------------------------------------------------------
# Neuron types
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LIFRate(NeuronType):
    """Rate LIF neuron (see `lif_rate`).

    Parameters
    ----------
    tau_rc, tau_ref : float
        Membrane time constant and refractory period, in seconds.

    Examples
    --------
    >>> import numpy as np, rateconv
    >>> neuron = rateconv.LIFRate.from_max_rate(100.0, intercept=0.0)
    >>> round(float(neuron.rate(np.float32(1.0))), 3)   # max_rate at input 1
    100.0
    >>> float(neuron.rate(np.float32(0.0)))             # silent at the intercept
    0.0
    """

    tau_rc: float = TAU_RC
    tau_ref: float = TAU_REF

    def __post_init__(self):
        super().__post_init__()
        _check_lif_params(self.tau_rc, self.tau_ref, self.amplitude)

    @classmethod
    def from_max_rate(
        cls, max_rate, intercept=0.0, *, tau_rc=TAU_RC, tau_ref=TAU_REF, **kwargs
    ):
        """Neurons whose rate is 0 at ``x = intercept`` and ``max_rate`` at 1.

        ``gain, bias = lif_gain_bias(max_rate, intercept, ...)``, as Nengo's
        ``max_rates`` / ``intercepts``.
        """
        gain, bias = lif_gain_bias(max_rate, intercept, tau_rc=tau_rc, tau_ref=tau_ref)
        return cls(gain=gain, bias=bias, tau_rc=tau_rc, tau_ref=tau_ref, **kwargs)

    def rate(self, x):
        return lif_rate(
            self.current(x),
            tau_rc=self.tau_rc,
            tau_ref=self.tau_ref,
            amplitude=self.amplitude,
        )

    def scaled(self, k):
        """Copy that fires ``k`` times faster with ``1 / k`` the amplitude.

        Dividing ``tau_rc`` and ``tau_ref`` by ``k`` multiplies the LIF rate
        curve by exactly ``k`` for every input, so with the amplitude divided
        by ``k`` the rate-mode output is unchanged (scaling the input instead,
        as NengoDL does, would bend the curve).  In spiking mode the neurons
        run ``k`` times faster, as if ``dt`` were ``k`` times longer: ``k``
        times more spikes per step, each ``k`` times smaller, up to one spike
        per step.
        """
        check_positive("scale_firing_rates", k)
        return dataclasses.replace(
            self,
            tau_rc=self.tau_rc / k,
            tau_ref=self.tau_ref / k,
            amplitude=self.amplitude / k,
        )

    @property
    def is_linear_in_scale(self):
        return True


@dataclasses.dataclass(frozen=True)
class LIF(LIFRate):
    """Spiking LIF neuron (see `lif_step`); its rate counterpart is `LIFRate`.

    Parameters
    ----------
    reset : {"zero", "subtract"}
        Voltage after a spike.

    Examples
    --------
    >>> import numpy as np, rateconv
    >>> lif = rateconv.LIF(tau_rc=0.02, tau_ref=0.002)
    >>> lif.as_rate()                                   # its rate twin
    LIFRate(amplitude=1.0, gain=1.0, bias=0.0, tau_rc=0.02, tau_ref=0.002)
    >>> round(float(lif.rate(np.float32(2.0))), 1)      # Hz at input 2
    63.0
    """

    reset: str = "zero"
    min_voltage: float = 0.0

    spiking = True
    state_names = ("voltage", "refractory")

    max_spikes_per_step = 1  # a spike per step at most: binary

    def __post_init__(self):
        super().__post_init__()
        check_reset(self.reset)

    def step(self, x, state, dt=DT):
        """One step: returns ``(output, new_state)``; state is a tuple."""
        voltage, refractory = state
        out, voltage, refractory = lif_step(
            self.current(x),
            voltage,
            refractory,
            dt=dt,
            tau_rc=self.tau_rc,
            tau_ref=self.tau_ref,
            amplitude=self.amplitude,
            reset=self.reset,
            min_voltage=self.min_voltage,
        )
        return out, (voltage, refractory)


@dataclasses.dataclass(frozen=True)
class SoftLIFRate(LIFRate):
    """Soft-LIF rate neuron for training (see `soft_lif_rate`).

    Its spiking counterpart is `LIF` with the same parameters; its exact rate
    counterpart is `LIFRate` (the limit ``sigma -> 0``).

    Parameters
    ----------
    sigma : float
        Smoothing of the rate curve near threshold, in units of current.

    Examples
    --------
    >>> import numpy as np, rateconv
    >>> soft, hard = rateconv.SoftLIFRate(sigma=0.02), rateconv.LIFRate()
    >>> x = np.float32([0.5, 1.0, 1.5])
    >>> [round(float(v), 1) for v in soft.rate(x)]    # Hz: smooth near the threshold
    [1.7, 11.4, 41.7]
    >>> [round(float(v), 1) for v in hard.rate(x)]
    [0.0, 0.0, 41.7]
    """

    sigma: float = 0.02

    def __post_init__(self):
        super().__post_init__()
        check_positive("sigma", self.sigma)

    def rate(self, x):
        return soft_lif_rate(
            self.current(x),
            sigma=self.sigma,
            tau_rc=self.tau_rc,
            tau_ref=self.tau_ref,
            amplitude=self.amplitude,
        )


def lif_gain_bias(max_rate, intercept=0.0, *, tau_rc=TAU_RC, tau_ref=TAU_REF):
    """Gain and bias giving a LIF neuron a ``max_rate`` and an ``intercept``.

    With ``J = gain * x + bias`` the neuron starts firing at ``x = intercept``
    and fires at ``max_rate`` (Hz) at ``x = 1``.

    Parameters
    ----------
    max_rate : float
        Firing rate at ``x = 1``, in Hz; below ``1 / tau_ref``.
    intercept : float
        Value of ``x`` where firing starts; below 1.
    tau_rc, tau_ref : float
        In seconds.

    Returns
    -------
    gain, bias : float
        For 100 Hz and intercept 0 with the defaults, about 2.033 and 1.

    Examples
    --------
    >>> import rateconv
    >>> gain, bias = rateconv.lif_gain_bias(100.0, intercept=0.0)
    >>> round(float(gain), 3), round(float(bias), 3)
    (2.033, 1.0)
    """
    _check_lif_params(tau_rc, tau_ref, 1.0)
    check_positive("max_rate", max_rate, unit="in Hz")
    if tau_ref > 0 and max_rate >= 1 / tau_ref:
        raise ValueError(
            f"max_rate must be below 1 / tau_ref = {1 / tau_ref:g} Hz (a LIF neuron "
            f"cannot fire faster than its refractory period allows). "
            f"Received: max_rate={max_rate!r}"
        )
    check_range("intercept", intercept, -math.inf, 1, low_open=True, high_open=True)
    j_max = 1 / (1 - math.exp((tau_ref - 1 / max_rate) / tau_rc))
    gain = (j_max - 1) / (1 - intercept)
    bias = 1 - gain * intercept
    return gain, bias
