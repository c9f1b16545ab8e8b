"""The converted network: a small DAG of stages, independent of Keras' graph.

Each `Stage` is one Keras layer: a stateless operation ``op`` (the layer with its
activation removed; linear or affine for every supported layer but max pooling)
followed, optionally, by a neuron nonlinearity, which has a rate form (used in
rate mode) and a spiking form (used in spiking mode).  Stages are stored in
topological order; the simulator runs them in that order.

Both are frozen values: a conversion pass or a calibration step makes a new
network (`SpikingNetwork.replace_stages`) and shares the stages it leaves
unchanged, so no network seen by a user ever changes under them.
"""

from __future__ import annotations

import dataclasses
import functools

from rateconv.neurons import INITIAL_STATES, NeuronType  # noqa: F401 (re-export)
from rateconv.synapses import Lowpass


@dataclasses.dataclass(frozen=True, eq=False)
class Stage:
    """One node of a `SpikingNetwork`.

    Attributes
    ----------
    name : str
        The Keras layer's name.
    kind : str
        The Keras layer's class name (for messages and reports).
    inputs : tuple of str
        Names of the stages feeding this one (empty for an input stage); any
        sequence given is stored as a tuple.
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

    Stages are frozen (assigning a field raises
    ``dataclasses.FrozenInstanceError``) and compare by identity; make a
    changed copy with ``dataclasses.replace(stage, field=value)`` or, for a
    network, `SpikingNetwork.replace_stages`.

    Examples
    --------
    >>> import numpy as np, keras, rateconv
    >>> model = keras.Sequential([
    ...     keras.Input((4,)),
    ...     keras.layers.Dense(16, activation="relu", name="hidden"),
    ...     keras.layers.Dense(3, name="out")])
    >>> x = np.random.default_rng(0).uniform(size=(64, 4)).astype("float32")
    >>> stage = rateconv.convert(model).by_name["hidden"]
    >>> stage.kind, stage.output_shape, type(stage.spiking_neuron).__name__
    ('Dense', (16,), 'SpikingRectifiedLinear')
    """

    name: str
    kind: str
    inputs: tuple
    op: object
    output_shape: tuple
    rate_neuron: NeuronType | None = None
    spiking_neuron: NeuronType | None = None
    synapse: Lowpass | None = None
    readout: object = None
    spiking_max_pool: dict | None = None
    initial_state: str = "zero"

    def __post_init__(self):
        # frozen: normalize through object.__setattr__, once, at construction
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "output_shape", tuple(self.output_shape))

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


@dataclasses.dataclass(frozen=True, eq=False)
class SpikingNetwork:
    """A converted network: stages in topological order, inputs and outputs.

    Build one with `rateconv.convert`; run it with `rateconv.Simulator`.  A
    network is frozen: `replace_stages` (or ``dataclasses.replace``) returns a
    changed copy.

    Attributes
    ----------
    stages : tuple of Stage
        In topological order.
    inputs, outputs : tuple of str
        Names of the input and output stages, in the model's order.
    name : str
    probe_synapse : Lowpass, Alpha or None
        The output probe's filter that `Simulator.predict` and ``evaluate``
        use unless told otherwise (default: a 0.1 s lowpass, NengoDL's usual
        probe; `rateconv.convert` with calibration data may choose another).
    readout : {"last", "mean"}
        How ``evaluate`` classifies by default: from the probe at each step,
        or from its running mean (with ``probe_synapse=None``, the spike
        count so far).
    tuning : dict or None
        What `rateconv.convert` chose with calibration data (None otherwise).

    Examples
    --------
    >>> import numpy as np, keras, rateconv
    >>> model = keras.Sequential([
    ...     keras.Input((4,)),
    ...     keras.layers.Dense(16, activation="relu", name="hidden"),
    ...     keras.layers.Dense(3, name="out")])
    >>> x = np.random.default_rng(0).uniform(size=(64, 4)).astype("float32")
    >>> net = rateconv.convert(model)
    >>> [stage.name for stage in net.neuron_stages]
    ['hidden']
    >>> net.outputs
    ('out',)
    """

    stages: tuple
    inputs: tuple
    outputs: tuple
    name: str = "network"
    probe_synapse: Lowpass | None = Lowpass(0.1)
    readout: str = "last"
    tuning: dict | None = None

    def __post_init__(self):
        object.__setattr__(self, "stages", tuple(self.stages))
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))

    @functools.cached_property
    def by_name(self):
        """``{name: Stage}`` (computed once: the network does not change)."""
        return {s.name: s for s in self.stages}

    def __getitem__(self, name):
        return self.by_name[name]

    @property
    def neuron_stages(self):
        """Stages with a neuron nonlinearity, in order."""
        return [s for s in self.stages if s.spiking_neuron is not None]

    @property
    def max_spikes_per_step(self):
        """Most spikes one neuron can fire in one step, over all stages.

        1 means binary spikes (what chips taking one-bit spikes can run); more
        is graded spikes; None means some stage's neurons have no limit
        (integrate-and-fire converted with ``max_spikes_per_step=None``) or a
        custom neuron type that does not say.
        """
        caps = [s.spiking_neuron.max_spikes_per_step for s in self.neuron_stages]
        if any(c is None for c in caps):
            return None
        return max(caps, default=1)

    def graded_stages(self):
        """Names of the stages whose neurons can fire more than one spike a step."""
        return [
            s.name
            for s in self.neuron_stages
            if s.spiking_neuron.max_spikes_per_step is None
            or s.spiking_neuron.max_spikes_per_step > 1
        ]

    @property
    def input_shapes(self):
        return [self.by_name[n].output_shape for n in self.inputs]

    @property
    def output_shapes(self):
        return [self.by_name[n].output_shape for n in self.outputs]

    def replace_stages(self, updates):
        """A copy of the network with some stages' fields changed.

        Parameters
        ----------
        updates : dict
            Maps a stage name to a dict of `Stage` fields to change, e.g.
            ``{"dense": {"spiking_neuron": neuron}}``.  A stage's name cannot
            change (other stages refer to it).

        Returns
        -------
        SpikingNetwork
            A new network; stages not named in ``updates`` are the same
            objects as in this one (they are immutable, so sharing is safe).

        Raises
        ------
        KeyError
            If ``updates`` names a stage that is not in the network.
        ValueError
            If an update changes a stage's ``name``.
        """
        unknown = [name for name in updates if name not in self.by_name]
        if unknown:
            raise KeyError(
                f"replace_stages names stages not in network '{self.name}': "
                f"{unknown}. Stages: {list(self.by_name)}"
            )
        for name, fields in updates.items():
            if fields.get("name", name) != name:
                raise ValueError(
                    f"replace_stages cannot rename stage '{name}' (other stages "
                    f"refer to it by name). Received: name={fields['name']!r}"
                )
        stages = [
            dataclasses.replace(s, **updates[s.name]) if s.name in updates else s
            for s in self.stages
        ]
        return dataclasses.replace(self, stages=stages)

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
