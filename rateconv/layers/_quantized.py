"""`QuantizedReLU` (QCFS, Bu et al. 2022) and its converter.

Trains networks to be run in few steps with `SpikingQuantizedReLU` neurons.
"""

from __future__ import annotations

import keras
from keras import ops

from rateconv import neurons
from rateconv._checks import check_positive
from rateconv.neurons import check_levels
from rateconv.registry import neuron_fields, register_converter

# Lower bound kept on a trained QuantizedReLU threshold: the layer divides by it.
_MIN_THRESHOLD = 1e-4


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

    Examples
    --------
    >>> import keras, rateconv
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8),
    ...                           rateconv.QuantizedReLU(levels=8),
    ...                           keras.layers.Dense(2)])
    >>> net = rateconv.convert(model)         # half-threshold IF neurons
    >>> type(net.by_name[model.layers[1].name].spiking_neuron).__name__
    'SpikingQuantizedReLU'
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
