"""Keras layers users put in their models, each followed by its converter.

`SoftLIF` (Hunsberger & Eliasmith 2015) trains networks to be run with `LIF`
neurons; `QuantizedReLU` (QCFS, Bu et al. 2022) trains networks to be run in
few steps with `SpikingQuantizedReLU` neurons.  Each registers its converter
with `rateconv.converter.register_converter` right after its class.
"""

from __future__ import annotations

import keras
from keras import ops

from rateconv import neurons
from rateconv._checks import check_int, check_positive
from rateconv.converter import neuron_fields, register_converter
from rateconv.neurons._qcfs import check_levels

# Lower bound kept on a trained QuantizedReLU threshold: the layer divides by it.
_MIN_THRESHOLD = 1e-4


def _fused_soft_lif(neuron):
    """Soft-LIF rate with its derivative from one XLA-fused TensorFlow kernel.

    Autodiff of `neurons.soft_lif_rate` chains a dozen elementwise ops forward
    and more backward, each a pass over memory; here the forward pass compiles
    `neurons.soft_lif_rate_and_slope` (the same formula, with its slope
    written analytically) into one fused loop, and the backward pass is one
    multiply.  Same values as `neurons.soft_lif_rate` up to float rounding.
    """
    import tensorflow as tf

    params = dict(
        sigma=neuron.sigma,
        tau_rc=neuron.tau_rc,
        tau_ref=neuron.tau_ref,
        amplitude=neuron.amplitude,
    )

    @tf.function(jit_compile=True)
    def rate_and_slope(j):
        return neurons.soft_lif_rate_and_slope(j, **params)

    @tf.custom_gradient
    def soft_lif(j):
        rate, slope = rate_and_slope(j)
        return rate, lambda upstream: upstream * slope

    return soft_lif


@keras.saving.register_keras_serializable(package="rateconv")
class SoftLIF(keras.layers.Layer):
    """Differentiable soft-LIF activation for training networks to be spiked.

    Computes ``soft_lif_rate(gain * x + bias)`` (Hunsberger & Eliasmith, 2015,
    arXiv:1510.08829): a smoothed LIF rate curve whose gradient exists
    everywhere.  `rateconv.convert` turns it into spiking `rateconv.LIF`
    neurons with the same ``tau_rc``, ``tau_ref``, ``amplitude``, gain and bias.

    Parameters
    ----------
    sigma : float
        Smoothing of the rate curve near threshold, in units of current; the
        curve tends to the LIF rate as ``sigma -> 0``.
    tau_rc : float
        Membrane time constant, in seconds.
    tau_ref : float
        Refractory period, in seconds.
    amplitude : float
        Output scale: the layer outputs the firing rate in Hz times
        ``amplitude`` (0.01 with 100 Hz neurons gives outputs in [0, 1]).
    max_rate : float or None
        If given, gain and bias are chosen so that the rate is ``max_rate`` (Hz)
        at ``x = 1`` and 0 at ``x = intercept`` (Nengo's ``max_rates`` and
        ``intercepts``).  If None, ``gain = 1`` and ``bias = 0``: the input is the
        current itself.
    intercept : float or None
        See ``max_rate``; defaults to 0 when ``max_rate`` is given.
    **kwargs
        Standard `keras.layers.Layer` arguments (``name``, ``dtype`` ...).
    """

    def __init__(
        self,
        sigma=0.02,
        tau_rc=neurons.TAU_RC,
        tau_ref=neurons.TAU_REF,
        amplitude=1.0,
        max_rate=None,
        intercept=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if max_rate is None:
            if intercept is not None:
                raise ValueError(
                    "intercept needs max_rate: give both (e.g. max_rate=100, "
                    f"intercept=0) or neither. Received: intercept={intercept!r}, "
                    "max_rate=None"
                )
            gain, bias = 1.0, 0.0
        else:
            gain, bias = neurons.lif_gain_bias(
                max_rate,
                0.0 if intercept is None else intercept,
                tau_rc=tau_rc,
                tau_ref=tau_ref,
            )
        # validates sigma, tau_rc, tau_ref and amplitude
        self.neuron = neurons.SoftLIFRate(
            sigma=sigma,
            tau_rc=tau_rc,
            tau_ref=tau_ref,
            amplitude=amplitude,
            gain=gain,
            bias=bias,
        )
        self.sigma = sigma
        self.tau_rc = tau_rc
        self.tau_ref = tau_ref
        self.amplitude = amplitude
        self.max_rate = max_rate
        self.intercept = intercept
        self.supports_masking = True
        self._fused = (
            _fused_soft_lif(self.neuron)
            if keras.backend.backend() == "tensorflow"
            else None
        )

    def call(self, inputs):
        if self._fused is None:
            return self.neuron.rate(inputs)
        return self._fused(self.neuron.current(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "sigma": self.sigma,
            "tau_rc": self.tau_rc,
            "tau_ref": self.tau_ref,
            "amplitude": self.amplitude,
            "max_rate": self.max_rate,
            "intercept": self.intercept,
        }


@register_converter(SoftLIF)
def _convert_softlif(layer, ctx):
    """SoftLIF -> LIF with the same parameters (rate mode: the soft curve)."""
    neuron = ctx.swapped(layer, "softlif") or layer.neuron
    return neuron_fields(neuron, op=None)


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
    (Bu et al. 2022; see `rateconv.neurons.qcfs`).  `rateconv.convert` turns
    it into `rateconv.SpikingQuantizedReLU` neurons (integrate-and-fire,
    threshold ``lambda``, reset by subtraction, membrane starting at half
    threshold): after
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
        self.levels = check_levels(levels)
        check_positive("threshold", threshold)
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
        return neurons.qcfs(inputs, levels=self.levels, threshold=self.threshold)

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
        return neurons.QuantizedReLURate(levels=self.levels, threshold=threshold)

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
    swapped = ctx.swapped(layer, "quantized_relu")
    if swapped is not None:
        return neuron_fields(swapped, op=None)
    return neuron_fields(layer.neuron, op=None, initial_state="half")


@keras.saving.register_keras_serializable(package="rateconv")
class PopulationPooling(keras.layers.Layer):
    """Sum each class's population of output neurons into one class score.

    Population coding (snnTorch's ``population_code=True``): the last layer has
    ``population_size`` neurons per class, in contiguous groups (class ``c``
    owns outputs ``c * K .. (c + 1) * K - 1``), and a class's score is its
    group's total activity.  Put this layer after the population's activation
    and train on the class scores (e.g. cross-entropy on them as logits); the
    score is exactly what `rateconv.Simulator.evaluate` reads from the
    population with ``population_size=K`` (`rateconv.metrics.class_scores`).

    It converts to a linear stage (the same sum, over spikes), so the
    converted network outputs class scores and is evaluated with
    ``population_size=1``; or convert the model without it
    (``keras.Model(model.input, model.layers[-2].output)``) and evaluate with
    ``population_size=K``: the classes are the same.

    Parameters
    ----------
    population_size : int
        Neurons per class, ``K``; the input's last axis must be a multiple.
    **kwargs
        Standard `keras.layers.Layer` arguments.
    """

    def __init__(self, population_size, **kwargs):
        super().__init__(**kwargs)
        self.population_size = check_int("population_size", population_size)

    def build(self, input_shape):
        n = input_shape[-1]
        if n is None or n % self.population_size:
            raise ValueError(
                f"Layer '{self.name}' (PopulationPooling): the input's last axis "
                f"must be a multiple of population_size={self.population_size}. "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def call(self, inputs):
        k = self.population_size
        n_classes = inputs.shape[-1] // k
        grouped = ops.reshape(inputs, (-1, n_classes, k))
        scores = ops.sum(grouped, axis=-1)
        return ops.reshape(scores, ops.shape(inputs)[:-1] + (n_classes,))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] // self.population_size,)

    def get_config(self):
        return {**super().get_config(), "population_size": self.population_size}


@register_converter(PopulationPooling)
def _convert_population_pooling(layer, ctx):
    """PopulationPooling -> the same sum, a linear stage over spikes."""
    return {"op": layer}
