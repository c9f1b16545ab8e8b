"""`PopulationPooling`: class scores from populations of output neurons."""

from __future__ import annotations

import keras
from keras import ops

from rateconv._checks import check_int
from rateconv.registry import register_converter


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

    Examples
    --------
    >>> import numpy as np, rateconv
    >>> pool = rateconv.PopulationPooling(3)          # 3 neurons per class
    >>> np.asarray(pool(np.arange(6, dtype="float32")[None])).tolist()
    [[3.0, 12.0]]
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
