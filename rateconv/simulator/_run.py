"""What a run is, what it returns, and the minibatch loop every engine shares.

A `RunSpec` says what to compute (frozen and hashable: engines key their
compiled graphs on it); a `RunResult` holds what came out.  `run_minibatches`
cuts the inputs into fixed-size minibatches (padding the last, so compiled
graphs are reused), hands each to an engine and gathers the results.  The
initial states and the input encodings (Poisson, latency) live here too, so
that every engine draws the same random numbers and spike times for the same
sample and step.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import tensorflow as tf

from rateconv.simulator._random import (
    POISSON_STREAM,
    bernoulli_spikes,
    sample_indices,
    uniform_voltage,
)
from rateconv.synapses import Lowpass

MODES = ("spiking", "rate")
ENCODINGS = ("constant", "poisson", "latency", "latency_log")
LATENCY_THRESHOLD = 0.01
"""Input values below this never fire under a latency code (snnTorch's
``threshold=0.01`` with ``clip=True``)."""
LATENCY_EPSILON = 1e-7
"""snnTorch's ``epsilon``: the log code's slowest value is ``threshold + epsilon``."""
DEFAULT_MINIBATCH = 200
COUNT_MODES = ("all", "sampled", None)
"""Choices for `RunSpec.count_spikes`."""
SAMPLED_ROWS = 16
"""Samples at the start of each minibatch that a ``"sampled"`` count covers."""


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """A run of a network, independent of its data.

    Attributes
    ----------
    n_steps : int
        Timesteps (1 in rate mode).
    mode : {"spiking", "rate"}
    probe_synapse : Lowpass, Alpha or None
        Filter on the output probes.
    input_encoding : {"constant", "poisson", "latency", "latency_log"}
        See `encode_inputs`.
    seed : int
        Seed of the Poisson inputs and of ``"uniform"`` initial voltages.
    probe_layers : tuple of str
        Layers whose raw output is returned as well.
    probe_voltages : tuple of str
        Spiking layers whose membrane voltage (the first neuron state, after
        each step, in units of the threshold) is returned as well, under the
        key ``(name, "voltage")``.
    count_spikes : {"all", "sampled", None}
        Which spikes the engine counts, neuron by neuron: those of every
        sample (``"all"``, what `Simulator.evaluate` reports), those of the
        first `SAMPLED_ROWS` samples of each minibatch (``"sampled"``: what
        `Simulator.predict` checks for silent or saturated layers; the count
        is carried in the neuron loop, which is bound by memory traffic, so a
        few rows cost about 1% where every row costs 10-20%), or none.
        ``True`` and ``False`` mean ``"all"`` and None.
    time_varying : tuple of str
        Inputs given at every step, shape ``(batch, n_steps, *input_shape)``
        in the minibatch (step ``t`` reads ``x[:, t]``); the others hold
        still (or are rate coded).
    """

    n_steps: int = 30
    mode: str = "spiking"
    probe_synapse: Lowpass | None = None
    input_encoding: str = "constant"
    seed: int = 0
    probe_layers: tuple = ()
    probe_voltages: tuple = ()
    count_spikes: str | None = "all"
    time_varying: tuple = ()

    def __post_init__(self):
        if isinstance(self.count_spikes, bool):  # the former flag
            mode = "all" if self.count_spikes else None
            object.__setattr__(self, "count_spikes", mode)
        if self.count_spikes not in COUNT_MODES:
            raise ValueError(
                f"count_spikes must be one of {COUNT_MODES}. "
                f"Received: count_spikes={self.count_spikes!r}"
            )

    @property
    def count_rows(self):
        """The rows of a minibatch whose spikes are counted (a slice end)."""
        return SAMPLED_ROWS if self.count_spikes == "sampled" else None

    @property
    def probe_keys(self):
        """Keys of `RunResult.layers`: layer names, then ``(name, "voltage")``."""
        return self.probe_layers + tuple((n, "voltage") for n in self.probe_voltages)

    def counted(self, n_valid):
        """How many of a minibatch's ``n_valid`` samples the counts cover."""
        if self.count_spikes is None:
            return 0
        return min(n_valid, self.count_rows or n_valid)

    def graph_key(self, n_steps):
        """The spec a compiled graph of ``n_steps`` steps depends on.

        The seed, the first step and the run's total steps (which a latency
        code needs) are graph inputs, so runs that differ only there share the
        graph.
        """
        return dataclasses.replace(self, n_steps=n_steps, seed=0)


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What a run returns, batch-first.

    Attributes
    ----------
    outputs : list of numpy.ndarray or None
        One array per network output: ``(n, n_steps, *shape)`` spiking,
        ``(n, *shape)`` in rate mode; None when not kept.
    layers : dict of str or (str, "voltage") -> numpy.ndarray
        Raw output of each probed layer, ``(n, n_steps, *shape)``, and the
        voltage of each voltage-probed layer (key ``(name, "voltage")``).
    counts : dict of str -> numpy.ndarray
        Spikes of each neuron of each spiking layer, summed over the counted
        samples (see `RunSpec.count_spikes`; padding excluded) and steps,
        shape ``(*shape,)``.  A spike of either sign counts as one.
    n_counted : int
        How many samples ``counts`` covers.
    peaks : dict of str -> float
        The most spikes one neuron of each spiking layer fired in one step
        (over the counted samples and all steps): above 1 for graded spikes.
    """

    outputs: list | None
    layers: dict = dataclasses.field(default_factory=dict)
    counts: dict = dataclasses.field(default_factory=dict)
    n_counted: int = 0
    peaks: dict = dataclasses.field(default_factory=dict)

    def valid(self, n_valid):
        """This minibatch's result without the padding samples."""
        return RunResult(
            outputs=[np.asarray(o)[:n_valid] for o in self.outputs],
            layers={k: v[:n_valid] for k, v in self.layers.items()},
            counts=self.counts,
            n_counted=self.n_counted,
            peaks=self.peaks,
        )


def merge_peaks(peaks, new):
    """``peaks`` updated in place with the larger of each layer's peaks."""
    for n, p in new.items():
        p = float(np.asarray(p))
        peaks[n] = max(peaks.get(n, 0.0), p)
    return peaks


class TimeMajorCollector:
    """Gathers an engine's time-major pieces of one minibatch into a RunResult.

    Engines produce the run a chunk of steps at a time (a step is a chunk of
    one): outputs and probed layers of shape ``(steps, batch, ...)``, and spike
    counts summed over the chunk.
    """

    def __init__(self, network, probe_keys):
        self.outputs = [[] for _ in network.outputs]
        self.layers = {n: [] for n in probe_keys}
        self.counts = {}
        self.peaks = {}

    def add(self, outputs, layers, counts):
        """One chunk: lists/dicts of time-major tensors (or arrays); ``layers``
        is a list in the order of the ``probe_keys`` (TensorFlow cannot return
        a dict keyed by both names and ``(name, "voltage")`` from a graph)."""
        for i, o in enumerate(outputs):
            self.outputs[i].append(np.asarray(o))
        for v, layer in zip(self.layers.values(), layers, strict=True):
            v.append(np.asarray(layer))
        for n, (c, peak) in counts.items():  # see advance_stages
            self.counts[n] = self.counts.get(n, 0) + np.asarray(c)
            merge_peaks(self.peaks, {n: peak})

    def result(self):
        """The whole minibatch, batch-first."""

        def batch_first(pieces):
            return np.moveaxis(np.concatenate(pieces), 0, 1)

        return RunResult(
            outputs=[batch_first(o) for o in self.outputs],
            layers={n: batch_first(v) for n, v in self.layers.items()},
            counts=self.counts,
            peaks=self.peaks,
        )


class Accumulator:
    """Gathers minibatch results, in run order, into one `RunResult`.

    Spike counts are summed minibatch by minibatch in the order of the run,
    so every driver (one device or a `tf.distribute` strategy) rounds them
    alike.
    """

    def __init__(self, network, spec, *, on_batch=None, keep_outputs=True):
        self.spec = spec
        self.on_batch = on_batch
        self.keep_outputs = keep_outputs
        self.outputs = [[] for _ in network.outputs]
        self.layers = {name: [] for name in spec.probe_keys}
        self.counts, self.n_counted = {}, 0
        self.peaks = {}

    def add(self, result, minibatch):
        """One minibatch's `RunResult` (padding included)."""
        valid = minibatch.n_valid
        result = result.valid(valid)
        if self.on_batch is not None:
            self.on_batch(result.outputs, minibatch)
        if self.keep_outputs:
            for i, o in enumerate(result.outputs):
                self.outputs[i].append(o)
        for name in self.spec.probe_keys:
            self.layers[name].append(result.layers[name])
        for name, c in result.counts.items():
            self.counts[name] = self.counts.get(name, 0) + c
        merge_peaks(self.peaks, result.peaks)
        self.n_counted += self.spec.counted(valid)

    def result(self):
        """The whole run's `RunResult`."""
        outputs = self.outputs
        return RunResult(
            outputs=[np.concatenate(o) for o in outputs] if self.keep_outputs else None,
            layers={k: np.concatenate(v) for k, v in self.layers.items()},
            counts=self.counts,
            n_counted=self.n_counted if self.counts else 0,
            peaks=self.peaks,
        )


def samples_per_minibatch(source, minibatch_size):
    """The samples per minibatch of a run (None: up to 200)."""
    size = minibatch_size or DEFAULT_MINIBATCH
    n = source.n_samples
    return size if n is None else min(size, n)


def run_minibatches(
    engine,
    source,
    spec,
    *,
    minibatch_size,
    progress,
    on_batch=None,
    keep_outputs=True,
    description=None,
):
    """Run ``engine`` over ``source`` minibatch by minibatch; returns a RunResult.

    Parameters
    ----------
    engine : Engine
        Has ``run_batch(minibatch, spec) -> RunResult``.
    source : Source
        The samples (`as_source`): arrays or a stream of batches.
    spec : RunSpec
    minibatch_size : int or None
        Samples per minibatch (None: up to 200).
    progress : bool or None
        Show a progress bar (tqdm: a terminal, a notebook or a log); None
        shows it when the run has more than one minibatch.
    on_batch : callable or None
        ``on_batch(outputs, minibatch)`` for each minibatch (outputs without
        the padding), e.g. to score it without keeping every output.
    keep_outputs : bool
        Keep the outputs in the result.
    description : str or None
        The progress bar's label.
    """
    size = samples_per_minibatch(source, minibatch_size)
    bar = progress_bar(progress, source.n_samples, size, description or describe(spec))
    gathered = Accumulator(
        engine.network, spec, on_batch=on_batch, keep_outputs=keep_outputs
    )
    try:
        for minibatch in source.minibatches(size):
            gathered.add(engine.run_batch(minibatch, spec), minibatch)
            if bar is not None:
                bar.update(minibatch.n_valid)
    finally:
        if bar is not None:
            bar.close()
    return gathered.result()


def describe(spec):
    if spec.mode == "rate":
        return "rate mode"
    return f"spiking, {spec.n_steps} steps"


def progress_bar(progress, n_samples, size, description):
    """A tqdm bar over samples, or None.

    ``tqdm.auto`` draws a widget in a notebook and a text bar elsewhere;
    away from a terminal (a log file, CI) it redraws every 10 s, not every
    update, so logs stay short.
    """
    if progress is False or (
        progress is None and n_samples is not None and n_samples <= size
    ):
        return None
    from tqdm.auto import tqdm

    return tqdm(
        total=n_samples,
        desc=description,
        unit="image",
        mininterval=0.1 if sys.stderr.isatty() else 10.0,
        leave=True,
        dynamic_ncols=True,
    )


# ---------------------------------------------------------------------------
# Random draws shared by the engines
# ---------------------------------------------------------------------------


def initial_states(network, size, seed=0, batch_start=0):
    """``{stage: {"neuron": ..., "synapse": ..., "pool": ...}}`` at step 0.

    A neuron stage's voltage starts as its ``initial_state`` says; a
    ``"uniform"`` start is drawn per sample from ``seed``, the stage's index
    and the sample's index in the run (``batch_start`` + its row;
    `rateconv.simulator._random`), so every engine, minibatch layout and
    replica draws the same voltages for the same sample.
    """
    states = {}
    for index, stage in enumerate(network.stages):
        shape = (size,) + tuple(stage.output_shape)
        state = {}
        if stage.spiking_neuron is not None:
            state["neuron"] = _neuron_state(stage, shape, seed, index, batch_start)
            state["synapse"] = (
                stage.synapse.initial_state(shape) if stage.synapse else ()
            )
        if stage.spiking_max_pool is not None:
            in_shape = (size,) + tuple(network[stage.inputs[0]].output_shape)
            state["pool"] = (tf.zeros(in_shape), tf.zeros(shape))
        states[stage.name] = state
    return states


def initial_voltage(network, stage_name, size, seed=0, batch_start=0):
    """The initial voltage of stage ``stage_name`` for samples ``batch_start..``.

    What `initial_states` gives that stage, shape ``(size, *output_shape)``
    (e.g. for calibration to score a uniform start as it will be simulated).
    """
    index = [s.name for s in network.stages].index(stage_name)
    stage = network.stages[index]
    shape = (size,) + tuple(stage.output_shape)
    return _neuron_state(stage, shape, seed, index, batch_start)[0]


def _neuron_state(stage, shape, seed, index, batch_start):
    # the voltage (first state) starts as the stage says, drawn by the neuron;
    # a uniform one per sample, so it does not depend on the minibatch layout
    neuron = stage.spiking_neuron
    if stage.initial_state != "uniform" or not neuron.state_names:
        return neuron.initial_state(shape, stage.initial_state)
    zero = neuron.initial_state(shape, "zero")
    samples = sample_indices(batch_start, shape[0])
    return (uniform_voltage(shape, seed, index, samples), *zero[1:])


def advance_stages(network, values, states, stage_value, mask):
    """Run every stage not in ``values`` yet, in order (inside a graph).

    ``values`` holds the stages an engine sets itself (inputs, constants);
    ``stage_value(stage, values, state, mask) -> (value, counts or None)``
    computes one stage and updates its ``state`` dict; its counts are a pair
    (spike count per neuron, peak spikes of one neuron in one step).  Returns
    the new states and those pairs, by stage name.
    """
    new_states, counts = {}, {}
    for stage in network.stages:
        if stage.name in values:
            continue
        state = dict(states[stage.name])
        values[stage.name], c = stage_value(stage, values, state, mask)
        if c is not None:
            counts[stage.name] = tuple(c)
        new_states[stage.name] = state
    return new_states, counts


def batch_tensors(minibatch, spec):
    """``(mask, seed, batch_start, total_steps)``: the graph inputs fixed for a
    minibatch (``total_steps`` is the run's ``n_steps``, whatever the chunk)."""
    return (
        tf.constant(minibatch.mask),
        tf.constant(spec.seed, tf.int64),
        tf.constant(minibatch.start, tf.int64),
        tf.constant(spec.n_steps, tf.int64),
    )


def probe_states(network, probe_synapse, size):
    """Initial state of the filter on each output probe."""
    return [
        probe_synapse.initial_state((size,) + tuple(network[n].output_shape))
        if probe_synapse
        else ()
        for n in network.outputs
    ]


def poisson_spikes(x, t0, n_steps, seed, batch_start, time_major=False, stream=0):
    """Bernoulli spikes of probability ``x``, time-major, for steps t0.. .

    ``x`` holds still (shape ``(batch, ...)``) or, with ``time_major``, gives
    each step's probability (shape ``(n_steps, batch, ...)``).  The draw of a
    sample at step ``t`` depends on ``seed``, ``stream`` (the input's index),
    the sample's index in the run (``batch_start`` + its row) and ``t`` only
    (`rateconv.simulator._random`), so it is the same however the run is cut
    into chunks, minibatches or replicas, and a constant input tiled over time
    spikes as the constant input does.
    """
    batch = tf.shape(x)[1 if time_major else 0]
    steps = tf.cast(t0, tf.int64) + tf.range(n_steps, dtype=tf.int64)
    return bernoulli_spikes(
        x,
        seed,
        POISSON_STREAM + stream,
        sample_indices(batch_start, batch),
        steps,
        time_major=time_major,
    )


def latency_steps(x, total_steps, log=False):
    """The step (0-based, int64) at which each value of ``x`` fires under a
    latency code of ``total_steps`` steps; -1 where it never fires.

    snnTorch's ``spikegen.latency(x, num_steps, threshold=0.01, clip=True,
    normalize=True)``, with its normalization fixed rather than taken from the
    batch, so a sample's spike times do not depend on the others:

    - linear (``linear=True``): step ``round((1 - x) (T - 1))``: a value of 1
      fires at the first step, a value just above 0 at the last;
    - logarithmic: the time an RC circuit driven by ``x`` takes to charge to
      the threshold ``θ`` (0.01), ``log(x / (x - θ))``, scaled so that ``θ +
      ε`` (ε = 1e-7: snnTorch clamps to it) fires at the last step: step
      ``round((T - 1) log(x / (x - θ)) / log((θ + ε) / ε))``.  Bright values
      bunch up in the first steps (``x = 1`` and ``0.5`` both fire at step 0
      of 100; ``0.02`` at step 6), as in snnTorch.

    Values below ``θ`` never fire (snnTorch's ``clip=True``); rounding is half
    to even (``tf.round``, as ``torch.round``).
    """
    x = tf.cast(x, tf.float64)
    last = tf.cast(total_steps - 1, tf.float64)
    fires = x >= LATENCY_THRESHOLD
    if log:
        theta, eps = LATENCY_THRESHOLD, LATENCY_EPSILON
        xc = tf.maximum(x, theta + eps)
        frac = tf.math.log(xc / (xc - theta)) / np.log((theta + eps) / eps)
    else:
        frac = 1.0 - tf.clip_by_value(x, 0.0, 1.0)
    step = tf.cast(tf.round(frac * last), tf.int64)
    return tf.where(fires, step, tf.constant(-1, tf.int64))


def latency_spikes(x, t0, n_steps, total_steps, log=False):
    """Unit spikes of a latency code for steps ``t0..t0+n_steps``, time-major.

    ``x`` holds still, shape ``(batch, ...)``; see `latency_steps`.  The spike
    times depend on ``x`` and ``total_steps`` only: the same in every engine
    and however the run is cut into chunks.
    """
    fire_at = latency_steps(x, total_steps, log)
    steps = tf.cast(t0, tf.int64) + tf.range(n_steps, dtype=tf.int64)
    steps = tf.reshape(steps, [-1] + [1] * len(x.shape))
    return tf.cast(tf.equal(fire_at[None], steps), x.dtype)


def encode_inputs(x, encoding, t0, n_steps, seed, batch_start, total_steps, **kw):
    """An input's spikes for steps ``t0..t0+n_steps``, time-major, as
    ``encoding`` says (not ``"constant"``).

    ``"poisson"``: `poisson_spikes` (``time_major=True``: ``x`` gives each
    step's probability); ``"latency"`` / ``"latency_log"``: `latency_spikes`
    (linear / logarithmic, of a still input).
    """
    if encoding == "poisson":
        return poisson_spikes(x, t0, n_steps, seed, batch_start, **kw)
    return latency_spikes(x, t0, n_steps, total_steps, log=encoding == "latency_log")


def still_inputs(network, minibatch, spec):
    """The minibatch's inputs without a time axis, as tensors by input name."""
    return {
        n: tf.constant(a)
        for n, a in zip(network.inputs, minibatch.inputs)
        if n not in spec.time_varying
    }


def time_slice(array, t0, n_steps):
    """Steps ``t0..t0+n_steps`` of a batch-first time-varying input, time-major."""
    return tf.constant(
        np.ascontiguousarray(np.moveaxis(array[:, t0 : t0 + n_steps], 1, 0))
    )


def apply_op(op, values):
    """``op(*values)`` (None is the identity on the first value)."""
    if op is None:
        return values[0]
    return op(*values) if len(values) > 1 else op(values[0])
