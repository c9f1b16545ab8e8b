"""The converted network: a small DAG of stages, independent of Keras' graph.

Each `Stage` is one Keras layer: a stateless operation ``op`` (the layer with its
activation removed; linear or affine for every supported layer but max pooling)
followed, optionally, by a neuron nonlinearity, which has a rate form (used in
rate mode) and a spiking form (used in spiking mode).  Stages are stored in
topological order; the simulator runs them in that order.
"""

from __future__ import annotations

import dataclasses

from rateconv.neurons import NeuronType
from rateconv.synapses import Lowpass

INITIAL_STATES = ("zero", "half", "uniform")
"""Choices for a neuron stage's initial membrane voltage (fraction of threshold)."""


@dataclasses.dataclass
class Stage:
    """One node of a `SpikingNetwork`.

    Attributes
    ----------
    name : str
        The Keras layer's name.
    kind : str
        The Keras layer's class name (for messages and reports).
    inputs : list of str
        Names of the stages feeding this one (empty for an input stage).
    op : callable or None
        ``op(*tensors) -> tensor`` on batch-first tensors; None for identity.
        It is applied to time folded into the batch, so it must not mix
        samples.
    output_shape : tuple of int
        Output shape without the batch axis.
    rate_neuron, spiking_neuron : NeuronType or None
        The nonlinearity after ``op`` in rate and in spiking mode.
    synapse : Lowpass or None
        Filter on the connections leaving this stage, in spiking mode.
    readout : callable or None
        A nonlinearity applied to this output stage's (filtered) probe rather
        than to its spikes, e.g. a softmax on the last layer.
    spiking_max_pool : dict or None
        For max pooling in spiking mode: the pooling parameters; the stage
        outputs the increase of the running max of its inputs' cumulative sums.
    initial_state : {"zero", "half", "uniform"}
        Initial membrane voltage of the spiking neurons, as a fraction of
        threshold (uniform: random in [0, 1), from the simulation seed).
    """

    name: str
    kind: str
    inputs: list
    op: object
    output_shape: tuple
    rate_neuron: NeuronType | None = None
    spiking_neuron: NeuronType | None = None
    synapse: Lowpass | None = None
    readout: object = None
    spiking_max_pool: dict | None = None
    initial_state: str = "zero"

    @property
    def is_input(self):
        return not self.inputs

    @property
    def n_neurons(self):
        """Neurons per sample (0 if the stage has no neuron)."""
        if self.spiking_neuron is None:
            return 0
        n = 1
        for d in self.output_shape:
            n *= d
        return n

    def neuron(self, mode):
        """The neuron of this stage in ``mode`` ("rate" or "spiking")."""
        return self.rate_neuron if mode == "rate" else self.spiking_neuron


@dataclasses.dataclass
class SpikingNetwork:
    """A converted network: stages in topological order, inputs and outputs.

    Build one with `rateconv.convert`; run it with `rateconv.Simulator`.
    """

    stages: list
    inputs: list
    outputs: list
    name: str = "network"

    def __post_init__(self):
        self.by_name = {s.name: s for s in self.stages}

    def __getitem__(self, name):
        return self.by_name[name]

    @property
    def neuron_stages(self):
        """Stages with a neuron nonlinearity, in order."""
        return [s for s in self.stages if s.spiking_neuron is not None]

    @property
    def input_shapes(self):
        return [self.by_name[n].output_shape for n in self.inputs]

    @property
    def output_shapes(self):
        return [self.by_name[n].output_shape for n in self.outputs]

    def consumers(self, name):
        """Names of the stages that read stage ``name``."""
        return [s.name for s in self.stages if name in s.inputs]

    def summary(self):
        """A table of the stages: name, kind, output shape, neuron, synapse."""
        rows = [("stage", "kind", "output shape", "spiking neuron", "synapse")]
        for s in self.stages:
            neuron = (
                "-" if s.spiking_neuron is None else type(s.spiking_neuron).__name__
            )
            synapse = "-" if s.synapse is None else repr(s.synapse)
            rows.append((s.name, s.kind, str(s.output_shape), neuron, synapse))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        return "\n".join(
            "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows
        )
