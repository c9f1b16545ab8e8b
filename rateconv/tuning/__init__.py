"""A conversion for a step budget, and NengoDL's converter facade.

`convert` (``rateconv.convert``) is the one conversion function: without
data it is `rateconv.converter.build_network`; with ``calibration_data`` and
``n_steps`` it searches, on that data only, the options that spike best in
``n_steps`` steps (`tune`).  `normalize` and `calibrate` rescale firing
rates from calibration data.  `Converter` is NengoDL's ``Converter``: the
converted network plus `Converter.verify`, a rate-mode check against Keras.

Everything here runs the simulator, so this package sits above it.  May
import: ``converter``, ``simulator`` and everything below them.
"""

from rateconv.tuning._calibration import calibrate, normalize, rate_activations
from rateconv.tuning._converter import Converter
from rateconv.tuning._result import TuningResult
from rateconv.tuning._step_budget import convert, tune

__all__ = [
    "Converter",
    "TuningResult",
    "calibrate",
    "convert",
    "normalize",
    "rate_activations",
    "tune",
]
