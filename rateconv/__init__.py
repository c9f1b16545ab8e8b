"""rateconv: convert trained Keras networks into spiking neural networks.

The public API is re-exported here; see the submodules for details.
"""

# first, before anything loads TensorFlow: importing it keeps TensorFlow's log
# lines off stderr unless the user sets TF_CPP_MIN_LOG_LEVEL
from rateconv import _logging  # noqa: F401
from rateconv._version import __version__
from rateconv.calibration import calibrate, normalize
from rateconv.converter import (
    Converter,
    register_converter,
    supported_layers,
    unregister_converter,
)
from rateconv.energy import EnergyReport, energy, register_device
from rateconv.layers import PopulationPooling, SoftLIF
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
    RectifiedLinear,
    SoftLIFRate,
    SpikingClippedRectifiedLinear,
    SpikingLeakyRectifiedLinear,
    SpikingRectifiedLinear,
    lif_gain_bias,
)
from rateconv.nir_export import export_nir
from rateconv.nir_import import import_nir
from rateconv.pretrained import load_pretrained
from rateconv.quantized import QuantizedReLU, QuantizedReLURate, SpikingQuantizedReLU
from rateconv.regularizers import FiringRateRegularizer
from rateconv.simulator import ActivityWarning, Simulator
from rateconv.spiking_aware import (
    SpikingAware,
    remove_spiking_aware,
    spiking_aware_model,
)
from rateconv.synapses import Alpha, Lowpass
from rateconv.tuning import TuningResult, convert, tune
