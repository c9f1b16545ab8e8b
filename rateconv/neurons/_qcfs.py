"""QCFS: the quantization-clip-floor-shift activation and its spiking neuron.

Bu et al. (2022), "Optimal ANN-SNN conversion for high-accuracy and
ultra-low-latency spiking neural networks" (ICLR), train with

.. math:: h(x) = \\lambda \\, \\mathrm{clip}\\left(\\frac{1}{L}
          \\left\\lfloor \\frac{x L}{\\lambda} + \\frac{1}{2} \\right\\rfloor,
          0, 1\\right)

with ``L`` quantization levels and a trainable threshold ``lambda``.  An
integrate-and-fire neuron with threshold ``lambda``, reset by subtraction and a
membrane that starts at half threshold fires exactly
``floor(x L / lambda + 1/2)`` (clipped to ``[0, L]``) spikes in ``L`` steps for a
constant input ``x``: the spiking network reproduces the trained one after
``L`` steps, up to the errors that time-varying inputs bring in deeper layers.

This module holds the pure math (`qcfs`, `qcfs_step`) and the neuron types
(`QuantizedReLURate`, `SpikingQuantizedReLU`); the Keras layer
(`rateconv.QuantizedReLU`) and its converter live in `rateconv.layers`.
"""

from __future__ import annotations

import dataclasses

from keras import ops

from rateconv._checks import check_int, check_positive
from rateconv.neurons._base import DT, NeuronType, VoltageSpiking


def check_levels(levels):
    """``levels`` is an int >= 1; returns it."""
    return check_int(
        "levels", levels, hint="It counts quantization steps (one spike per step)"
    )


# ---------------------------------------------------------------------------
# Pure tensor math
# ---------------------------------------------------------------------------


def qcfs(x, *, levels, threshold):
    """QCFS activation with a straight-through gradient.

    Forward: ``threshold * floor(clip(x / threshold, 0, 1) * levels + 1/2) /
    levels``, which equals ``lambda * clip(floor(x L / lambda + 1/2) / L, 0, 1)``.
    Backward: the floor is treated as the identity (straight-through), so the
    gradient with respect to ``x`` is 1 for ``0 < x < threshold`` and 0
    elsewhere, and with respect to ``threshold`` it is ``h / threshold -
    x / threshold`` inside the range (the quantization residual), 1 above it
    and 0 below, as in Bu et al.'s reference implementation.

    Parameters
    ----------
    x : tensor
        Pre-activation.
    levels : int
        Number of quantization steps ``L``.
    threshold : float or tensor
        Clipping threshold ``lambda`` (positive), in units of ``x``.

    Returns
    -------
    tensor, same shape as ``x``
        Values in ``{0, lambda / L, ..., lambda}``.
    """
    x = ops.convert_to_tensor(x)
    threshold = ops.cast(threshold, x.dtype)
    u = ops.clip(x / threshold, 0.0, 1.0) * levels + 0.5
    # straight-through floor.  The forward value is exactly floor(u): u >= 0.5,
    # so floor(u) - u is exact (Sterbenz) and adding it back to u rounds to
    # the representable floor(u).  The layer and the rate neuron both call
    # this function, so rate mode reproduces model.predict bit for bit.
    n = u + ops.stop_gradient(ops.floor(u) - u)
    return threshold * n / levels


def qcfs_step(j, voltage, *, threshold=1.0, dt=DT, amplitude=None, reset="subtract"):
    """Advance QCFS integrate-and-fire neurons by one step of length ``dt``.

    The membrane (threshold 1) integrates ``j / threshold`` per step of `DT`
    (``j * dt / (threshold * DT)`` in general), fires at most one spike per
    step when it reaches 1, and is reset by subtracting 1 (or to 0).  Started
    at 0.5 with a constant ``j``, the spike count after ``L`` steps of `DT` is
    ``clip(floor(j L / threshold + 1/2), 0, L)``, the QCFS level.

    Parameters
    ----------
    j : tensor
        Input current, in units of ``threshold``.
    voltage : tensor, same shape as ``j``
        Membrane voltage, as a fraction of threshold.
    threshold : float or tensor
        Firing threshold ``lambda``.
    dt : float
        Step length, in seconds.
    amplitude : float, tensor or None
        A spike is ``amplitude / dt``; None means ``threshold * DT``, so that
        a spike at ``dt = DT`` outputs ``threshold``.
    reset : {"subtract", "zero"}
        Voltage after a spike: the residue above threshold, or 0.

    Returns
    -------
    output, voltage : tensor
        ``output`` is ``amplitude / dt`` where a neuron spiked, else 0.
    """
    if amplitude is None:
        amplitude = threshold * DT
    drive = j / threshold
    if dt != DT:  # keep rates in Hz whatever the simulation step
        drive = drive * (dt / DT)
    voltage = voltage + drive
    spiked = voltage >= 1
    spikes = ops.cast(spiked, voltage.dtype)
    if reset == "zero":
        voltage = ops.where(spiked, ops.zeros_like(voltage), voltage)
    else:
        # no clipping: a neuron driven above threshold keeps its excess, as
        # in Bu et al.'s IF neuron; the one-spike cap is the clip at lambda
        voltage = voltage - spikes
    return spikes * (amplitude / dt), voltage


# ---------------------------------------------------------------------------
# Neuron types
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class QuantizedReLURate(NeuronType):
    """Rate QCFS neuron: the quantized, clipped ReLU of `qcfs`.

    Its rate in Hz is ``qcfs(J) / (threshold * DT)``: at most one spike per
    step of `DT` (1000 Hz), reached at ``J = threshold``.  The output is
    ``amplitude`` times that rate, so the default ``amplitude = threshold *
    DT`` outputs ``qcfs(J)`` itself, the `QuantizedReLU` layer's value.

    Parameters
    ----------
    levels : int
        Quantization steps ``L`` (spikes in ``L`` steps at full rate).
    threshold : float
        Clipping threshold ``lambda``, in units of the current ``J``.
    amplitude : float or None
        Output per Hz; None means ``threshold * DT``.
    gain, bias : float
        ``J = gain * x + bias``.

    Examples
    --------
    >>> import numpy as np, rateconv
    >>> q = rateconv.QuantizedReLURate(levels=4, threshold=1.0)
    >>> np.asarray(q.rate(np.float32([0.0, 0.3, 0.6, 2.0]))).tolist()
    [0.0, 0.25, 0.5, 1.0]
    """

    amplitude: float | None = None
    levels: int = 8
    threshold: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "levels", check_levels(self.levels))
        check_positive("threshold", self.threshold)
        if self.amplitude is None:
            object.__setattr__(self, "amplitude", self.threshold * DT)
        super().__post_init__()

    @property
    def _output_scale(self):
        # exactly 1.0 for the default amplitude (the same double expression)
        return self.amplitude / (self.threshold * DT)

    def rate(self, x):
        y = qcfs(self.current(x), levels=self.levels, threshold=self.threshold)
        scale = self._output_scale
        return y if scale == 1.0 else y * scale


@dataclasses.dataclass(frozen=True)
class SpikingQuantizedReLU(VoltageSpiking, QuantizedReLURate):
    """Integrate-and-fire neuron with threshold ``lambda``, one spike per step.

    See `qcfs_step`.  Converted from `QuantizedReLU` with the membrane
    starting at half threshold, its mean output over ``levels`` steps of `DT`
    equals the rate-mode (QCFS) output for a constant input.  State:
    ``voltage``.

    Parameters
    ----------
    reset : {"subtract", "zero"}
        Voltage after a spike (subtraction keeps the residue: unbiased).

    Examples
    --------
    >>> import rateconv
    >>> q = rateconv.SpikingQuantizedReLU(levels=8)
    >>> q.as_rate()
    QuantizedReLURate(amplitude=0.001, gain=1.0, bias=0.0, levels=8, threshold=1.0)
    """

    reset: str = "subtract"

    max_spikes_per_step = 1  # binary by construction (see qcfs_step)

    def _advance(self, j, voltage, dt):
        threshold = self.threshold
        return qcfs_step(j, voltage, threshold=threshold, **self._step_options(dt))
