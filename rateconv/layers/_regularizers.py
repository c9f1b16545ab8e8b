"""Firing-rate regularization: keep neurons in a useful range of rates.

A spiking network simulated for a few steps transmits little from neurons that
fire slowly (they may not spike at all in a short run) and loses information
in neurons that saturate.  `FiringRateRegularizer` adds a training loss on the
firing rates (in Hz: a layer's output divided by its ``amplitude``) that fall
outside ``[min_rate, max_rate]``, as NengoDL's firing-rate regularization does.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from rateconv._checks import check_non_negative, check_positive, check_range


@keras.saving.register_keras_serializable(package="rateconv")
class FiringRateRegularizer(keras.regularizers.Regularizer):
    """Penalize firing rates outside a target range.

    For rates ``r`` in Hz (activity divided by ``amplitude``) the penalty is

    .. math:: w \\cdot \\mathrm{mean}_{\\mathrm{neurons}}
              \\left(\\max(r_{min} - r, 0) + \\max(r - r_{max}, 0)\\right)^2

    summed over the samples of a batch (``percentile=None``), or computed on
    each neuron's ``percentile``-th percentile rate over the batch and
    multiplied by the batch size (NengoDL's ``percentile_l2_loss_range``: a
    neuron must reach ``min_rate`` for some inputs and stay below
    ``max_rate`` for most).  Either way the value grows with the batch size,
    like Keras' own activity regularizers (which recent Keras versions divide
    by the batch size when used as ``activity_regularizer``).

    Use it as the ``activity_regularizer`` of a neuron layer, e.g.
    ``rateconv.SoftLIF(amplitude=0.01, activity_regularizer=
    FiringRateRegularizer((20, 100), amplitude=0.01))``, or call it on
    activities in a custom loss.

    Parameters
    ----------
    target : tuple of float
        ``(min_rate, max_rate)`` in Hz; ``max_rate`` may be None (no upper
        bound).
    weight : float
        Loss per squared Hz (rates of tens of Hz: around 1e-4).
    amplitude : float
        The layer's output per Hz (`rateconv.SoftLIF`'s ``amplitude``; 1 for
        ReLU, whose output is its rate).
    percentile : float or None
        None penalizes every sample's rates; a number in (0, 100] penalizes
        each neuron's percentile over the batch.

    Examples
    --------
    >>> import keras, rateconv
    >>> layer = keras.layers.Dense(
    ...     64, activation="relu",
    ...     activity_regularizer=rateconv.FiringRateRegularizer(target=(10, 100)))
    >>> layer.activity_regularizer.get_config()["target"]
    (10.0, 100.0)
    """

    def __init__(self, target=(0.0, None), weight=1e-4, amplitude=1.0, percentile=None):
        try:
            min_rate, max_rate = target
        except (TypeError, ValueError):
            raise ValueError(
                "target must be a pair (min_rate, max_rate) in Hz. "
                f"Received: target={target!r}"
            ) from None
        max_value = math.inf if max_rate is None else max_rate
        if not (
            isinstance(min_rate, (int, float))
            and isinstance(max_value, (int, float))
            and 0 <= min_rate <= max_value
            and math.isfinite(min_rate)
        ):
            raise ValueError(
                "target must be (min_rate, max_rate) with 0 <= min_rate <= "
                f"max_rate (Hz; max_rate may be None). Received: target={target!r}"
            )
        weight = check_non_negative("weight", weight)
        amplitude = check_positive("amplitude", amplitude, unit="output per Hz")
        if percentile is not None:
            percentile = check_range(
                "percentile",
                percentile,
                0,
                100,
                low_open=True,
                hint="None penalizes every sample",
            )
        self.min_rate = float(min_rate)
        self.max_rate = None if max_rate is None else float(max_rate)
        self.weight = float(weight)
        self.amplitude = float(amplitude)
        self.percentile = None if percentile is None else float(percentile)

    def __call__(self, x):
        x = ops.convert_to_tensor(x)
        if x.ndim < 2:  # (batch,): one neuron
            x = ops.expand_dims(x, -1)
        n_neurons = math.prod(x.shape[1:])
        rates = ops.reshape(x, (-1, n_neurons)) / self.amplitude
        batch = ops.cast(ops.shape(rates)[0], rates.dtype)
        if self.percentile is not None:
            rates = ops.quantile(rates, self.percentile / 100.0, axis=0)
        excess = ops.relu(self.min_rate - rates)
        if self.max_rate is not None:
            excess = excess + ops.relu(rates - self.max_rate)
        penalty = ops.mean(ops.square(excess), axis=-1)
        if self.percentile is not None:
            total = penalty * batch  # a batch statistic, scaled like a sum
        else:
            total = ops.sum(penalty)
        return self.weight * total

    def get_config(self):
        return {
            "target": (self.min_rate, self.max_rate),
            "weight": self.weight,
            "amplitude": self.amplitude,
            "percentile": self.percentile,
        }
