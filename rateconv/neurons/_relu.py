"""Rectified-linear neurons: the ReLU rate and its integrate-and-fire twin."""

from __future__ import annotations

import dataclasses

from keras import ops

from rateconv.neurons._base import DT, NeuronType, check_reset


def relu_rate(j, *, amplitude=1.0):
    """Rectified-linear rate ``max(j, 0) * amplitude``."""
    return ops.relu(j) * amplitude


def if_step(j, voltage, *, dt=DT, amplitude=1.0, reset="subtract"):
    """Advance integrate-and-fire (spiking ReLU) neurons by one step.

    ``voltage += j * dt``; every whole unit of voltage is a spike.  With
    ``reset="subtract"`` the spikes are subtracted (the residue is kept, so the
    mean output equals ``max(j, 0) * amplitude`` and several spikes per step are
    possible when ``j * dt > 1``); with ``reset="zero"`` a neuron that spiked
    restarts from 0, losing the residue (a rate below ``max(j, 0)``, as in
    Rueckauer et al. 2017).  The voltage is not clipped at 0, so a time-varying
    input is integrated without rectifying each step.

    Returns
    -------
    output, voltage : tensor
        ``output`` is ``n_spikes * amplitude / dt``.
    """
    voltage = voltage + j * dt
    n_spikes = ops.maximum(ops.floor(voltage), 0.0)
    if reset == "zero":
        voltage = ops.where(n_spikes > 0, ops.zeros_like(voltage), voltage)
    else:
        voltage = voltage - n_spikes
    return n_spikes * (amplitude / dt), voltage


@dataclasses.dataclass(frozen=True)
class RectifiedLinear(NeuronType):
    """Rate ReLU: ``max(J, 0) * amplitude``."""

    def rate(self, x):
        return relu_rate(self.current(x), amplitude=self.amplitude)

    @property
    def is_linear_in_scale(self):
        return self.bias == 0.0


@dataclasses.dataclass(frozen=True)
class SpikingRectifiedLinear(RectifiedLinear):
    """Integrate-and-fire neuron whose mean rate is ``max(J, 0) * amplitude``.

    State: ``voltage``.

    Parameters
    ----------
    reset : {"subtract", "zero"}
        Voltage after a spike: the residue above threshold (default, unbiased)
        or 0 (see `if_step`).
    """

    reset: str = "subtract"

    spiking = True
    state_names = ("voltage",)

    def __post_init__(self):
        super().__post_init__()
        check_reset(self.reset)

    def step(self, x, state, dt=DT):
        """One step: returns ``(output, new_state)``; state is a tuple."""
        (voltage,) = state
        out, voltage = if_step(
            self.current(x),
            voltage,
            dt=dt,
            amplitude=self.amplitude,
            reset=self.reset,
        )
        return out, (voltage,)
