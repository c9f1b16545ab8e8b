"""Neuron models: rate functions, spiking steps and their parameters.

The math lives in pure functions of tensors (``lif_rate``, ``soft_lif_rate``,
``lif_step``, ``if_step``, ``clipped_if_step``, ``leaky_if_step``, ``qcfs``,
``qcfs_step``) written with ``keras.ops``, so the Keras layers, the
simulator's engines and the tests all evaluate the same equations.  The
neuron *types* are small immutable parameter holders that apply ``J = gain *
x + bias`` and call those functions.  They come in twins, a
rate type and its spiking type, which `NeuronType` pairs from the class
hierarchy (``as_rate`` / ``as_spiking``), and each spiking type owns its
initial state (`NeuronType.initial_state`: zero, half or uniform voltage).

- `_base`: `NeuronType`, the defaults (`DT`, `TAU_RC`, `TAU_REF`),
  `INITIAL_STATES`;
- `_relu`: `RectifiedLinear` and its integrate-and-fire twin
  `SpikingRectifiedLinear`; the clipped (``relu6``) and leaky ReLUs
  `ClippedRectifiedLinear` / `SpikingClippedRectifiedLinear` (a rate cap) and
  `LeakyRectifiedLinear` / `SpikingLeakyRectifiedLinear` (signed spikes);
- `_lif`: `LIFRate`, `LIF`, `SoftLIFRate` (Hunsberger & Eliasmith 2015);
- `_qcfs`: `QuantizedReLURate`, `SpikingQuantizedReLU` (Bu et al. 2022).
"""

from rateconv.neurons._base import (
    DT,
    INITIAL_STATES,
    RESETS,
    TAU_RC,
    TAU_REF,
    NeuronType,
)
from rateconv.neurons._lif import (
    LIF,
    LIFRate,
    SoftLIFRate,
    lif_gain_bias,
    lif_rate,
    lif_step,
    soft_lif_rate,
    soft_lif_rate_and_slope,
)
from rateconv.neurons._qcfs import (
    QuantizedReLURate,
    SpikingQuantizedReLU,
    check_levels,
    qcfs,
    qcfs_step,
)
from rateconv.neurons._relu import (
    ClippedRectifiedLinear,
    LeakyRectifiedLinear,
    RectifiedLinear,
    SpikingClippedRectifiedLinear,
    SpikingLeakyRectifiedLinear,
    SpikingRectifiedLinear,
    check_max_spikes,
    clipped_if_step,
    clipped_relu_rate,
    if_step,
    leaky_if_step,
    leaky_relu_rate,
    relu_rate,
)

__all__ = [
    "DT",
    "ClippedRectifiedLinear",
    "INITIAL_STATES",
    "LIF",
    "RESETS",
    "TAU_RC",
    "TAU_REF",
    "LIFRate",
    "LeakyRectifiedLinear",
    "NeuronType",
    "QuantizedReLURate",
    "RectifiedLinear",
    "SoftLIFRate",
    "SpikingClippedRectifiedLinear",
    "SpikingLeakyRectifiedLinear",
    "SpikingQuantizedReLU",
    "SpikingRectifiedLinear",
    "check_max_spikes",
    "clipped_if_step",
    "clipped_relu_rate",
    "if_step",
    "leaky_if_step",
    "leaky_relu_rate",
    "lif_gain_bias",
    "lif_rate",
    "lif_step",
    "check_levels",
    "qcfs",
    "qcfs_step",
    "relu_rate",
    "soft_lif_rate",
    "soft_lif_rate_and_slope",
]
