"""rateconv: convert trained Keras networks into spiking neural networks.

The package reads as the user's pipeline, bottom to top (each folder imports
only from those before it; ``tests/test_architecture.py`` checks it):

- ``neurons``, ``synapses``, ``network``, ``metrics``, ``registry``: the
  equations, the frozen `SpikingNetwork`, scores, and the converter registry;
- ``layers``: Keras layers that go into a model before conversion (`SoftLIF`,
  `QuantizedReLU`, `SpikingAware`, ...);
- ``converter``: a Keras model -> `SpikingNetwork`, no data;
- ``simulator``: `Simulator`, its engines and inputs;
- ``tuning``: `convert` for a step budget, `calibrate`, `normalize`,
  NengoDL's `Converter`;
- ``nir``, ``energy``, ``plots``, ``benchmark``: exchanging and reading
  results;
- ``datasets``, ``zoo``: data and the shipped networks;
- ``cli``: the ``rateconv`` command.

Examples
--------
>>> import rateconv
>>> model = rateconv.load_pretrained()                      # doctest: +SKIP
>>> net = rateconv.convert(model, calibration_data=x_train[:1000], n_steps=10)
...                                                         # doctest: +SKIP
>>> rateconv.Simulator(net).evaluate(x_test, y_test, n_steps=10)  # doctest: +SKIP
"""

import importlib as _importlib
import sys as _sys

# first, before anything loads TensorFlow: importing it keeps TensorFlow's log
# lines off stderr unless the user sets TF_CPP_MIN_LOG_LEVEL
from rateconv import _logging  # noqa: F401
from rateconv._version import __version__
from rateconv.energy import EnergyReport, energy, register_device
from rateconv.layers import (
    FiringRateRegularizer,
    PopulationPooling,
    QuantizedReLU,
    SoftLIF,
    SpikingAware,
    remove_spiking_aware,
    spiking_aware_model,
    step_model,
    train_for_steps,
)
from rateconv.loading import load_model
from rateconv.metrics import Evaluation
from rateconv.network import SpikingNetwork, Stage
from rateconv.neurons import (
    DT,
    LIF,
    TAU_RC,
    TAU_REF,
    ClippedRectifiedLinear,
    LeakyRectifiedLinear,
    LIFRate,
    QuantizedReLURate,
    RectifiedLinear,
    SoftLIFRate,
    SpikingClippedRectifiedLinear,
    SpikingLeakyRectifiedLinear,
    SpikingQuantizedReLU,
    SpikingRectifiedLinear,
    lif_gain_bias,
)
from rateconv.nir import export_nir, import_nir
from rateconv.registry import register_converter, supported_layers, unregister_converter
from rateconv.simulator import ActivityWarning, Simulator
from rateconv.synapses import Alpha, Lowpass
from rateconv.tuning import Converter, TuningResult, calibrate, convert, normalize, tune
from rateconv.zoo import load_pretrained

__all__ = [
    "DT",
    "LIF",
    "TAU_RC",
    "TAU_REF",
    "ActivityWarning",
    "Alpha",
    "ClippedRectifiedLinear",
    "Converter",
    "EnergyReport",
    "Evaluation",
    "FiringRateRegularizer",
    "LIFRate",
    "LeakyRectifiedLinear",
    "Lowpass",
    "PopulationPooling",
    "QuantizedReLU",
    "QuantizedReLURate",
    "RectifiedLinear",
    "Simulator",
    "SoftLIF",
    "SoftLIFRate",
    "SpikingAware",
    "SpikingClippedRectifiedLinear",
    "SpikingLeakyRectifiedLinear",
    "SpikingNetwork",
    "SpikingQuantizedReLU",
    "SpikingRectifiedLinear",
    "Stage",
    "TuningResult",
    "__version__",
    "calibrate",
    "convert",
    "energy",
    "export_nir",
    "import_nir",
    "lif_gain_bias",
    "load_model",
    "load_pretrained",
    "normalize",
    "register_converter",
    "register_device",
    "remove_spiking_aware",
    "spiking_aware_model",
    "step_model",
    "supported_layers",
    "train_for_steps",
    "tune",
    "unregister_converter",
]

# Module paths of earlier releases, kept importable: each is the module that
# now holds its names (``import rateconv.models`` is ``rateconv.zoo.models``).
_MOVED_MODULES = {
    "models": "rateconv.zoo.models",
    "pretrained": "rateconv.zoo.pretrained",
    "calibration": "rateconv.tuning",
    "spiking_aware": "rateconv.layers",
    "regularizers": "rateconv.layers",
    "nir_export": "rateconv.nir",
    "nir_import": "rateconv.nir",
}
for _old, _new in _MOVED_MODULES.items():
    _sys.modules[f"{__name__}.{_old}"] = globals()[_old] = _importlib.import_module(
        _new
    )
del _old, _new
