"""Keras layers that go into a model before conversion.

What a user puts in a Keras model to train it for spiking: `SoftLIF` (LIF
neurons' differentiable rate), `QuantizedReLU` (QCFS, few steps),
`PopulationPooling` (class scores from neuron populations),
`FiringRateRegularizer` (keeps rates in a range), `SpikingAware` with
`spiking_aware_model` / `remove_spiking_aware` (spikes forward, rate gradient
back), and `train_for_steps` / `step_model` with their layers (`RepeatSteps`,
`StepIF`, `StepLIF`, `StepMaxPooling2D`, `MeanOverSteps`: the converted
network's binary spikes through ``n_steps`` steps, time folded into the
batch).  Each layer registers its converter with `rateconv.registry` beside its
class, so a model using it converts with no extra options.

May import: ``neurons``, ``synapses``, ``registry`` and the private
infrastructure; nothing above (the converter and simulator never see these
classes except through the registry).
"""

from rateconv.layers._population import PopulationPooling
from rateconv.layers._quantized import QuantizedReLU
from rateconv.layers._regularizers import FiringRateRegularizer
from rateconv.layers._soft_lif import SoftLIF
from rateconv.layers._spiking_aware import (
    SpikingAware,
    remove_spiking_aware,
    spiking_aware_model,
)
from rateconv.layers._step_training import step_model, train_for_steps
from rateconv.layers._steps import (
    MeanOverSteps,
    RepeatSteps,
    StepIF,
    StepLIF,
    StepMaxPooling2D,
)

__all__ = [
    "FiringRateRegularizer",
    "MeanOverSteps",
    "PopulationPooling",
    "QuantizedReLU",
    "RepeatSteps",
    "SoftLIF",
    "SpikingAware",
    "StepIF",
    "StepLIF",
    "StepMaxPooling2D",
    "remove_spiking_aware",
    "spiking_aware_model",
    "step_model",
    "train_for_steps",
]
