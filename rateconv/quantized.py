"""QCFS (Bu et al. 2022), by its old module path: a re-export.

The pure math (`qcfs`, `qcfs_step`) and the neuron types (`QuantizedReLURate`,
`SpikingQuantizedReLU`) live in `rateconv.neurons` (``neurons/_qcfs.py``, where
the method is described); the Keras layer `QuantizedReLU` and its converter in
`rateconv.layers`.
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
