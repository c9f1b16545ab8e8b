"""Neuron models: rate functions, spiking steps and their parameters.

The math lives in pure functions of tensors (``lif_rate``, ``soft_lif_rate``,
``lif_step``, ``if_step``) written with ``keras.ops``, so the Keras layers, the
simulator's engine and the tests all evaluate the same equations.  The neuron
*types* (``LIF``, ``LIFRate``, ``SoftLIFRate``, ``RectifiedLinear``,
``SpikingRectifiedLinear``) are small immutable parameter holders that apply
``J = gain * x + bias`` and call those functions; each knows its rate and spiking
counterpart so that the converter can swap one for the other.

Equations follow Nengo's LIF model and Hunsberger & Eliasmith (2015), "Spiking
deep networks with LIF neurons", arXiv:1510.08829 (soft-LIF).
"""

from __future__ import annotations

import dataclasses
import math

from keras import ops

DT = 0.001
"""Default simulation timestep, in seconds."""
TAU_RC = 0.02
"""Default LIF membrane time constant, in seconds."""
TAU_REF = 0.002
"""Default LIF refractory period, in seconds."""

# Smallest p used inside log1p(1 / p): keeps the soft-LIF rate and its gradient
# finite in float32 where softplus underflows to 0 for very negative currents.
_P_MIN = 1e-30


def _check_positive(name, value):
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(
            f"{name} must be a positive finite number (in seconds for time "
            f"constants). Received: {name}={value!r}"
        )


def _check_reset(reset):
    if reset not in ("zero", "subtract"):
        raise ValueError(
            f"reset must be 'zero' or 'subtract'. Received: reset={reset!r}"
        )


def _check_lif_params(tau_rc, tau_ref, amplitude):
    _check_positive("tau_rc", tau_rc)
    if not (isinstance(tau_ref, (int, float)) and 0 <= tau_ref < math.inf):
        raise ValueError(
            f"tau_ref must be a finite number >= 0, in seconds. "
            f"Received: tau_ref={tau_ref!r}"
        )
    _check_positive("amplitude", amplitude)


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
    j = ops.convert_to_tensor(j)
    # keras' softplus is the overflow-safe log1p(exp(-|x|)) + max(x, 0) form
    p = sigma * ops.softplus((j - 1) / sigma)
    # keep p away from 0: softplus underflows to 0 for very negative currents
    p = ops.maximum(p, _P_MIN)
    # log(1 + 1/p) in two forms: for small p as log1p(p) - log(p), whose
    # gradient 1/(1+p) - 1/p stays finite (1/p**2 would overflow float32); for
    # p >= 1 as log1p(1/p), which avoids cancellation.  Each branch gets a safe
    # value where it is not used, so neither yields inf/NaN gradients.
    small = p < 1
    p_lo = ops.where(small, p, ops.ones_like(p))
    p_hi = ops.where(small, ops.ones_like(p), p)
    log_term = ops.where(small, ops.log1p(p_lo) - ops.log(p_lo), ops.log1p(1 / p_hi))
    return amplitude / (tau_ref + tau_rc * log_term)


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


def relu_rate(j, *, amplitude=1.0):
    """Rectified-linear rate ``max(j, 0) * amplitude``."""
    return ops.relu(j) * amplitude


def if_step(j, voltage, *, dt=DT, amplitude=1.0, reset="subtract"):
    """Advance integrate-and-fire (spiking ReLU) neurons by one step.

    ``voltage += j * dt``; every whole unit of voltage is a spike.  With
    ``reset="subtract"`` the spikes are subtracted (the residue is kept, so the
    mean output equals ``max(j, 0) * amplitude`` and several spikes per step are
    possible when ``j * dt > 1``); with ``reset="zero"`` a neuron that spiked
    restarts from 0, losing the residue (a rate below ``max(j, 0)``, as in
    Rueckauer et al. 2017).  The voltage is not clipped at 0, so a time-varying
    input is integrated without rectifying each step.

    Returns
    -------
    output, voltage : tensor
        ``output`` is ``n_spikes * amplitude / dt``.
    """
    voltage = voltage + j * dt
    n_spikes = ops.maximum(ops.floor(voltage), 0.0)
    if reset == "zero":
        voltage = ops.where(n_spikes > 0, ops.zeros_like(voltage), voltage)
    else:
        voltage = voltage - n_spikes
    return n_spikes * (amplitude / dt), voltage


# ---------------------------------------------------------------------------
# Neuron types
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NeuronType:
    """Base class: a neuron nonlinearity applied to ``J = gain * x + bias``.

    Parameters
    ----------
    amplitude : float
        Output scale (rate in Hz times ``amplitude``; a spike is
        ``amplitude / dt``).
    gain, bias : float
        Map the layer's pre-activation ``x`` to the input current ``J``.
    """

    amplitude: float = 1.0
    gain: float = 1.0
    bias: float = 0.0

    spiking = False
    state_names = ()

    def __post_init__(self):
        _check_positive("amplitude", self.amplitude)
        for name in ("gain", "bias"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise ValueError(
                    f"{name} must be a finite number. Received: {name}={value!r}"
                )

    def current(self, x):
        """Input current ``gain * x + bias`` for pre-activation ``x``."""
        if self.gain == 1.0 and self.bias == 0.0:
            return x
        return x * self.gain + self.bias

    def rate(self, x):
        """Rate-mode output for pre-activation ``x`` (same shape)."""
        raise NotImplementedError

    def as_rate(self):
        """The rate-mode counterpart of this neuron type."""
        return self

    def as_spiking(self):
        """The spiking counterpart of this neuron type."""
        raise NotImplementedError

    def scaled(self, k):
        """Copy with input scaled by ``k`` and output amplitude divided by ``k``.

        This is ``scale_firing_rates``: exact in rate mode for ReLU, a change of
        the rate curve for LIF (``r(gain * k * x + bias) / k``).
        """
        _check_positive("scale_firing_rates", k)
        return dataclasses.replace(
            self, gain=self.gain * k, amplitude=self.amplitude / k
        )

    @property
    def is_linear_in_scale(self):
        """Whether `scaled` leaves the rate function unchanged."""
        return False


@dataclasses.dataclass(frozen=True)
class RectifiedLinear(NeuronType):
    """Rate ReLU: ``max(J, 0) * amplitude``."""

    def rate(self, x):
        return relu_rate(self.current(x), amplitude=self.amplitude)

    def as_spiking(self):
        return SpikingRectifiedLinear(**dataclasses.asdict(self))

    @property
    def is_linear_in_scale(self):
        return self.bias == 0.0


@dataclasses.dataclass(frozen=True)
class SpikingRectifiedLinear(RectifiedLinear):
    """Integrate-and-fire neuron whose mean rate is ``max(J, 0) * amplitude``.

    State: ``voltage``.

    Parameters
    ----------
    reset : {"subtract", "zero"}
        Voltage after a spike: the residue above threshold (default, unbiased)
        or 0 (see `if_step`).
    """

    reset: str = "subtract"

    spiking = True
    state_names = ("voltage",)

    def __post_init__(self):
        super().__post_init__()
        _check_reset(self.reset)

    def as_rate(self):
        params = dataclasses.asdict(self)
        params.pop("reset")
        return RectifiedLinear(**params)

    def as_spiking(self):
        return self

    def step(self, x, state, dt=DT):
        """One step: returns ``(output, new_state)``; state is a tuple."""
        (voltage,) = state
        out, voltage = if_step(
            self.current(x),
            voltage,
            dt=dt,
            amplitude=self.amplitude,
            reset=self.reset,
        )
        return out, (voltage,)


@dataclasses.dataclass(frozen=True)
class LIFRate(NeuronType):
    """Rate LIF neuron (see `lif_rate`).

    Parameters
    ----------
    tau_rc, tau_ref : float
        Membrane time constant and refractory period, in seconds.
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

    def as_spiking(self):
        return LIF(**dataclasses.asdict(self))

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
        _check_positive("scale_firing_rates", k)
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
    """

    reset: str = "zero"
    min_voltage: float = 0.0

    spiking = True
    state_names = ("voltage", "refractory")

    def __post_init__(self):
        super().__post_init__()
        _check_reset(self.reset)

    def as_rate(self):
        params = dataclasses.asdict(self)
        params.pop("reset")
        params.pop("min_voltage")
        return LIFRate(**params)

    def as_spiking(self):
        return self

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
    """

    sigma: float = 0.02

    def __post_init__(self):
        super().__post_init__()
        _check_positive("sigma", self.sigma)

    def rate(self, x):
        return soft_lif_rate(
            self.current(x),
            sigma=self.sigma,
            tau_rc=self.tau_rc,
            tau_ref=self.tau_ref,
            amplitude=self.amplitude,
        )

    def as_spiking(self):
        params = dataclasses.asdict(self)
        params.pop("sigma")
        return LIF(**params)


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
    """
    _check_lif_params(tau_rc, tau_ref, 1.0)
    _check_positive("max_rate", max_rate)
    if tau_ref > 0 and max_rate >= 1 / tau_ref:
        raise ValueError(
            f"max_rate must be below 1 / tau_ref = {1 / tau_ref:g} Hz (a LIF neuron "
            f"cannot fire faster than its refractory period allows). "
            f"Received: max_rate={max_rate!r}"
        )
    if not (isinstance(intercept, (int, float)) and -math.inf < intercept < 1):
        raise ValueError(
            f"intercept must be a number below 1. Received: intercept={intercept!r}"
        )
    j_max = 1 / (1 - math.exp((tau_ref - 1 / max_rate) / tau_rc))
    gain = (j_max - 1) / (1 - intercept)
    bias = 1 - gain * intercept
    return gain, bias
