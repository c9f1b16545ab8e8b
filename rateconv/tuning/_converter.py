"""`Converter`: NengoDL's converter facade over `rateconv.convert`.

It runs the simulator (`verify`), so it lives in `rateconv.tuning`, above
`rateconv.simulator`.
"""

from __future__ import annotations

import numpy as np

from rateconv.simulator import Simulator
from rateconv.tuning._step_budget import convert


class Converter:
    """NengoDL-style converter: the converted network and a rate-mode check.

    ``rateconv.Converter(model, **options).net`` is
    ``rateconv.convert(model, **options)``, with the same options (calibration
    data and a step budget included); `verify` checks that the converted
    network in rate mode computes what the Keras model computes, as NengoDL's
    ``Converter.verify`` does.

    Parameters
    ----------
    model : keras.Model
        A built Sequential or functional model.
    **options
        Keyword arguments of `rateconv.convert` (``calibration_data``,
        ``n_steps``, ``swap_activations``, ``scale_firing_rates``,
        ``synapse``, ...).

    Attributes
    ----------
    model : keras.Model
    net : SpikingNetwork
    options : dict

    Examples
    --------
    >>> import keras, numpy as np, rateconv
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, "relu")])
    >>> conv = rateconv.Converter(model)
    >>> conv.verify(np.ones((2, 4), "float32"))
    True
    """

    def __init__(self, model, **options):
        self.model = model
        self.options = dict(options)
        self.net = convert(model, **options)

    def verify(self, x, *, rtol=1e-4, atol=1e-5, batch_size=None):
        """Check rate mode of the converted network against ``model.predict``.

        Parameters
        ----------
        x : array or list of arrays
            Inputs, one array per model input.
        rtol, atol : float
            Tolerances of the comparison (``numpy.allclose`` style), per output.
        batch_size : int or None
            Samples per batch, for both.

        Returns
        -------
        bool
            True when every output matches.

        Raises
        ------
        ValueError
            When an output differs: names it and gives the largest difference.
            Expected when an option changes the rate function, e.g.
            ``swap_activations`` replacing an activation by another curve.
        """
        sim = Simulator(self.net, minibatch_size=batch_size, progress=False)
        ours = sim.predict(x, mode="rate")
        keras_out = self.model.predict(x, batch_size=batch_size, verbose=0)
        ours = ours if isinstance(ours, list) else [ours]
        keras_out = keras_out if isinstance(keras_out, (list, tuple)) else [keras_out]
        for name, a, b in zip(self.net.outputs, ours, keras_out):
            a, b = np.asarray(a), np.asarray(b)
            if a.shape != b.shape or not np.allclose(a, b, rtol=rtol, atol=atol):
                diff = (
                    float(np.max(np.abs(a - b)))
                    if a.shape == b.shape
                    else f"shapes {a.shape} and {b.shape}"
                )
                raise ValueError(
                    f"Output '{name}' of the converted network in rate mode "
                    f"differs from model.predict (largest difference {diff}, "
                    f"rtol={rtol}, atol={atol}). Options that change the rate "
                    "function (swap_activations, a neuron type that is not "
                    f"scale-invariant) explain this; options: {self.options}"
                )
        return True
