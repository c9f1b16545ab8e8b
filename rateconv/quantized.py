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

This module re-exports the QCFS names from where they live now: the pure math
(`qcfs`, `qcfs_step`) and the neuron types (`QuantizedReLURate`,
`SpikingQuantizedReLU`) from `rateconv.neurons`, the Keras layer
(`QuantizedReLU`, with its converter) from `rateconv.layers`.
"""

from rateconv.layers import QuantizedReLU
from rateconv.neurons import (
    QuantizedReLURate,
    SpikingQuantizedReLU,
    qcfs,
    qcfs_step,
)

__all__ = [
    "QuantizedReLU",
    "QuantizedReLURate",
    "SpikingQuantizedReLU",
    "qcfs",
    "qcfs_step",
]
