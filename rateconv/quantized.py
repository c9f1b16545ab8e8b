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

This module holds the pure math (`qcfs`, `qcfs_step`), the neuron types
(`QuantizedReLURate`, `SpikingQuantizedReLU`), the Keras layer
(`QuantizedReLU`) and its converter.
"""

from __future__ import annotations

import dataclasses

import keras
from keras import ops

from rateconv.converter import register_converter
from rateconv.neurons import DT, NeuronType, _check_positive, _check_reset

# Lower bound kept on a trained threshold: the layer divides by it.
_MIN_THRESHOLD = 1e-4


def _check_levels(levels):
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise ValueError(
            f"levels must be an int >= 1 (quantization steps, one spike per "
            f"step at most). Received: levels={levels!r}"
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
    """

    amplitude: float | None = None
    levels: int = 8
    threshold: float = 1.0

    def __post_init__(self):
        _check_levels(self.levels)
        _check_positive("threshold", self.threshold)
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

    def as_spiking(self):
        return SpikingQuantizedReLU(**dataclasses.asdict(self))


@dataclasses.dataclass(frozen=True)
class SpikingQuantizedReLU(QuantizedReLURate):
    """Integrate-and-fire neuron with threshold ``lambda``, one spike per step.

    See `qcfs_step`.  Converted from `QuantizedReLU` with the membrane
    starting at half threshold, its mean output over ``levels`` steps of `DT`
    equals the rate-mode (QCFS) output for a constant input.  State:
    ``voltage``.

    Parameters
    ----------
    reset : {"subtract", "zero"}
        Voltage after a spike (subtraction keeps the residue: unbiased).
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
        return QuantizedReLURate(**params)

    def as_spiking(self):
        return self

    def step(self, x, state, dt=DT):
        """One step: returns ``(output, new_state)``; state is a tuple."""
        (voltage,) = state
        out, voltage = qcfs_step(
            self.current(x),
            voltage,
            threshold=self.threshold,
            dt=dt,
            amplitude=self.amplitude,
            reset=self.reset,
        )
        return out, (voltage,)


# ---------------------------------------------------------------------------
# Keras layer
# ---------------------------------------------------------------------------


class _AtLeast(keras.constraints.Constraint):
    """Keeps a weight at or above ``minimum`` (built by the layer, not saved)."""

    def __init__(self, minimum):
        self.minimum = minimum

    def __call__(self, w):
        return ops.maximum(w, self.minimum)


@keras.saving.register_keras_serializable(package="rateconv")
class QuantizedReLU(keras.layers.Layer):
    """QCFS activation for training networks to be spiked in few steps.

    Computes ``lambda * clip(floor(x * levels / lambda + 1/2) / levels, 0, 1)``
    with a trainable threshold ``lambda`` and a straight-through gradient
    (Bu et al. 2022; see `qcfs`).  `rateconv.convert` turns it into
    `SpikingQuantizedReLU` neurons (integrate-and-fire, threshold ``lambda``,
    reset by subtraction, membrane starting at half threshold): after
    ``levels`` steps their mean output equals this layer's for a constant
    input, so ``n_steps = levels`` is the natural simulation length.

    Parameters
    ----------
    levels : int
        Quantization steps ``L``.
    threshold : float
        Initial value of ``lambda`` (positive), in units of the input.
    trainable_threshold : bool
        Whether ``lambda`` is trained.
    **kwargs
        Standard `keras.layers.Layer` arguments (``name``, ``dtype``,
        ``activity_regularizer`` ...).
    """

    def __init__(self, levels=8, threshold=1.0, trainable_threshold=True, **kwargs):
        super().__init__(**kwargs)
        _check_levels(levels)
        _check_positive("threshold", threshold)
        self.levels = levels
        self.initial_threshold = threshold
        self.trainable_threshold = bool(trainable_threshold)
        self.supports_masking = True

    def build(self, input_shape):
        self.threshold = self.add_weight(
            name="threshold",
            shape=(),
            initializer=keras.initializers.Constant(self.initial_threshold),
            trainable=self.trainable_threshold,
            constraint=_AtLeast(_MIN_THRESHOLD),
        )

    def call(self, inputs):
        return qcfs(inputs, levels=self.levels, threshold=self.threshold)

    def compute_output_shape(self, input_shape):
        return input_shape

    @property
    def neuron(self):
        """The `QuantizedReLURate` with the current threshold (built layers)."""
        if not self.built:
            raise ValueError(
                f"Layer '{self.name}' (QuantizedReLU) is not built, so its "
                "threshold does not exist yet; call the model on data or give "
                "it an input shape first."
            )
        threshold = float(ops.convert_to_numpy(self.threshold))
        return QuantizedReLURate(levels=self.levels, threshold=threshold)

    def get_config(self):
        return {
            **super().get_config(),
            "levels": self.levels,
            "threshold": self.initial_threshold,
            "trainable_threshold": self.trainable_threshold,
        }


@register_converter(QuantizedReLU)
def _convert_quantized_relu(layer, ctx):
    """QCFS -> IF with threshold lambda, membrane starting at half threshold."""
    for key in (layer.name, "quantized_relu"):
        if key in ctx.swap_activations:
            neuron = ctx.swap_activations[key]
            if not isinstance(neuron, NeuronType):
                raise TypeError(
                    "swap_activations values must be rateconv neuron types. "
                    f"Received: {neuron!r} for layer '{layer.name}'"
                )
            return dict(
                op=None,
                rate_neuron=neuron.as_rate(),
                spiking_neuron=neuron.as_spiking(),
            )
    neuron = layer.neuron
    return dict(
        op=None,
        rate_neuron=neuron,
        spiking_neuron=neuron.as_spiking(),
        initial_state="half",
    )
