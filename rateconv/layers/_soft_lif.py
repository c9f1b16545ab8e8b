"""`SoftLIF` (Hunsberger & Eliasmith 2015) and its converter to `LIF` neurons."""

from __future__ import annotations

import keras

from rateconv import neurons
from rateconv.registry import neuron_fields, register_converter


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

    Examples
    --------
    >>> import keras, rateconv
    >>> model = keras.Sequential([
    ...     keras.Input((28, 28, 1)),
    ...     keras.layers.Conv2D(8, 3),
    ...     rateconv.SoftLIF(amplitude=0.01, max_rate=100, intercept=0, name="lif"),
    ...     keras.layers.Flatten(), keras.layers.Dense(10)])
    >>> net = rateconv.convert(model)         # the SoftLIF becomes spiking LIF
    >>> type(net.by_name["lif"].spiking_neuron).__name__
    'LIF'
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
        config = {
            **super().get_config(),
            "sigma": self.sigma,
            "tau_rc": self.tau_rc,
            "tau_ref": self.tau_ref,
            "amplitude": self.amplitude,
            "max_rate": self.max_rate,
            "intercept": self.intercept,
        }
        # Keras before 3.4 leaves it out of Layer.get_config; a
        # FiringRateRegularizer on the neurons must survive saving
        if self.activity_regularizer is not None:
            config.setdefault(
                "activity_regularizer",
                keras.regularizers.serialize(self.activity_regularizer),
            )
        return config


@register_converter(SoftLIF)
def _convert_softlif(layer, ctx):
    """SoftLIF -> LIF with the same parameters (rate mode: the soft curve)."""
    neuron = ctx.swapped(layer, "softlif") or layer.neuron
    return neuron_fields(neuron, op=None)
