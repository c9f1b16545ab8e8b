"""`TuningResult`: what the step-budget search (`rateconv.tune`) returns."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class TuningResult:
    """What `tune` chose and how each candidate scored.

    Attributes
    ----------
    network : SpikingNetwork
        The converted network with the chosen options and readout.
    options : dict
        The chosen options: ``percentile``, ``target`` (spikes per step),
        ``initial_state``, ``reset``, ``synapse``, ``probe_synapse``,
        ``readout``, and the per-layer ``scales``.
    agreement : float
        Score of the chosen conversion on the scored calibration samples
        (fraction agreeing with the Keras model's class at ``n_steps``).
    candidates : list of dict
        Every candidate tried, with its score.

    Examples
    --------
    >>> import numpy as np, keras, rateconv
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, "relu")])
    >>> x = np.ones((8, 4), "float32")
    >>> result = rateconv.tune(model, x, n_steps=4, calibrate=False)
    >>> net = rateconv.convert(model, **result.convert_options)  # no data needed
    """

    network: object
    options: dict
    agreement: float
    candidates: list

    @property
    def convert_options(self):
        """Options of `rateconv.convert` that rebuild `network` without data.

        Per-layer ``scale_firing_rates``, ``initial_state``, ``reset``,
        ``synapse``, ``probe_synapse`` and ``readout``: what a manifest
        stores so that the tuned network loads without calibration data.
        """
        o = self.options
        if o.get("calibration"):
            raise ValueError(
                "This tuned network was also calibrated layer by layer (gains and "
                "biases of its spiking neurons, TuningResult.options['calibration'])"
                ", which convert options cannot rebuild. Tune with calibrate=False "
                "for a network that options alone rebuild, or keep the network."
            )
        out = {"initial_state": o["initial_state"]}
        if o.get("max_spikes_per_step") is not None:
            out["max_spikes_per_step"] = o["max_spikes_per_step"]
        if o["scales"]:
            out["scale_firing_rates"] = dict(o["scales"])
        if o["reset"] is not None:
            out["reset"] = o["reset"]
        if o["synapse"] is not None:
            out["synapse"] = o["synapse"]
        out["probe_synapse"] = o["probe_synapse"]
        out["readout"] = o["readout"]
        return out
