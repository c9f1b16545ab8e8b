"""`Simulator`: the facade users call; engines do the running.

It checks the arguments, turns them into a `RunSpec`, hands minibatches to the
chosen engine through the shared driver (`run_minibatches`), and scores the
results (`evaluate`).  Rate mode always runs the rate engine.
"""

from __future__ import annotations

import keras
import numpy as np

from rateconv import _checks, metrics
from rateconv.converter import build_network
from rateconv.network import SpikingNetwork
from rateconv.neurons import DT
from rateconv.simulator._activity import warn_activity
from rateconv.simulator._distribute import check_strategy, run_distributed
from rateconv.simulator._engines import engine_class, engine_names
from rateconv.simulator._inputs import as_source
from rateconv.simulator._precision import auto_precision
from rateconv.simulator._rate import RateEngine
from rateconv.simulator._run import ENCODINGS, MODES, RunSpec, run_minibatches
from rateconv.synapses import as_synapse

PRECISIONS = ("float32", "bfloat16", "int8")


def source_and_steps(network, x, y=None, *, labels=None, n_steps, mode, input_encoding):
    """The `Source` of ``x`` and the checked ``n_steps`` (None: from ``x``)."""
    _checks.check_choice("mode", mode, MODES)
    _checks.check_choice("input_encoding", input_encoding, ENCODINGS)
    source = as_source(
        network,
        x,
        y,
        labels=labels,
        check=_unit_range(input_encoding) if input_encoding != "constant" else None,
    )
    if source.time_varying:
        if input_encoding.startswith("latency"):
            raise ValueError(
                f"input_encoding={input_encoding!r} codes a still input as one "
                f"spike time per value; inputs {list(source.time_varying)} have a "
                "time axis already. Pass (n_samples, *input_shape), or "
                "input_encoding='constant' for spikes of your own."
            )
        if mode == "rate":
            raise ValueError(
                f"Inputs {list(source.time_varying)} have a time axis, shape "
                "(n_samples, n_steps, ...), and rate mode has no time; pass "
                "(n_samples, *input_shape) for rate mode, or mode='spiking'."
            )
        if n_steps is None:
            n_steps = source.time_steps
        elif n_steps != source.time_steps:
            raise ValueError(
                f"n_steps={n_steps!r} but the time-varying inputs "
                f"{list(source.time_varying)} hold {source.time_steps} steps; "
                "pass n_steps=None (or the same number) to run them all."
            )
    n_steps = _checks.check_int("n_steps", 30 if n_steps is None else n_steps)
    return source, n_steps


def probe_names(network, probe_layers, probe_voltages, mode):
    """``(probe_layers, probe_voltages)`` checked, as tuples of stage names."""
    probe_layers = tuple(probe_layers or ())
    probe_voltages = tuple(probe_voltages or ())
    unknown = [n for n in probe_layers if n not in network.by_name]
    if unknown:
        raise ValueError(
            f"probe_layers names unknown layers {unknown}; layers with "
            f"neurons: {[s.name for s in network.neuron_stages]}"
        )
    spiking = [s.name for s in network.neuron_stages if s.spiking_neuron is not None]
    bad = [n for n in probe_voltages if n not in spiking]
    if bad:
        raise ValueError(
            f"probe_voltages must name spiking layers (they have a membrane "
            f"voltage): {spiking}. Received: probe_voltages={list(probe_voltages)}"
        )
    if probe_voltages and mode == "rate":
        raise ValueError(
            "probe_voltages needs mode='spiking': rate neurons have no voltage. "
            f"Received: probe_voltages={list(probe_voltages)}, mode='rate'"
        )
    return probe_layers, probe_voltages


def label_check(network, output, population_size):
    """``labels(y, n)``: class indices of one batch's labels, checked against
    the classes of network output ``output``."""
    outputs = network.outputs
    if not (isinstance(output, int) and 0 <= output < len(outputs)):
        raise ValueError(
            f"output must index one of the network's {len(outputs)} "
            f"output(s) {outputs}. Received: output={output!r}"
        )
    n_out = network[outputs[output]].output_shape[-1]
    if not (isinstance(population_size, int) and population_size >= 1) or (
        n_out % population_size
    ):
        raise ValueError(
            f"population_size must divide the number of outputs ({n_out}). "
            f"Received: population_size={population_size!r}"
        )
    n_classes = n_out // population_size

    def labels(y, n):
        if y is None:
            raise ValueError(
                "evaluate needs labels: y for array data, or a dataset or "
                "generator of (x, y) batches."
            )
        return metrics.check_labels(
            metrics._as_labels(y, n), n_classes, population_size=population_size
        )

    return labels


def engine_precision(engine_cls, precision):
    """The checked precision an engine runs (``"auto"`` resolved)."""
    _checks.check_choice("precision", precision, ("auto", *PRECISIONS))
    if precision == "auto":
        chosen = auto_precision()
        return chosen if chosen in engine_cls.precisions else "float32"
    if precision not in engine_cls.precisions:
        raise ValueError(
            f"precision={precision!r} needs an engine that supports it "
            f"(engine='time_batched'); engine={engine_cls.name!r} runs "
            f"{', '.join(engine_cls.precisions)} only (the step engine is the "
            "float32 reference)."
        )
    return precision


class Simulator:
    """Simulate a converted network, spiking or in rate mode.

    Parameters
    ----------
    network : SpikingNetwork or keras.Model
        A network from `rateconv.convert`; a Keras model is converted with the
        default options.
    dt : float
        Timestep, in seconds.
    minibatch_size : int or None
        Samples simulated at once (default: up to 200).  Memory grows with it.
    progress : bool or None
        Show a progress bar (tqdm: in a terminal, a notebook or a log), labelled
        with the mode and steps and counting images; None shows it for runs of
        more than one minibatch, False never.
    engine : str
        ``"time_batched"`` (default: linear work batched over chunks of steps,
        neurons in XLA loops) or ``"step"`` (the reference, one whole network
        pass per step), or any engine added with
        `rateconv.simulator.register_engine`.
    precision : {"auto", "int8", "float32", "bfloat16"}
        Arithmetic of the dense and convolutional layers that read spikes
        (time-batched engine only; see `rateconv.simulator`).  ``"int8"``:
        those reading whole spikes run as exact integer sums with int8
        weights per output channel (synapses moved after them), the same
        results on every CPU; ``"bfloat16"``: rounded to 8 significant bits.
        ``"auto"`` (default): int8 on a CPU, float32 with a GPU visible
        (`rateconv.simulator.auto_precision`; ``$RATECONV_PRECISION`` fixes
        it).  ``self.precision`` is the one chosen.
    max_chunk_elements : int
        Bound on the elements of one stage's activity for a chunk of timesteps
        (``chunk * batch * neurons``); keeps memory flat in ``n_steps``.
    warn_activity : bool
        Warn (`rateconv.ActivityWarning`, a ``UserWarning``) after a spiking
        `predict` or `evaluate` where a spiking layer was silent (under one
        spike per sample in the whole layer) or saturated (most active neurons
        at one spike per step or more, from 10 steps on), naming the layer and
        the remedy (the rules: `rateconv.simulator._activity`).  `evaluate`
        counts every sample's spikes; `predict` those of the first 16 samples
        of each minibatch (about 1% of its time); ``False`` skips both.
        Warning filters work too (``warnings.filterwarnings("ignore",
        category=rateconv.ActivityWarning)``).
    strategy : tf.distribute.Strategy or None
        Spread `predict` and `evaluate` over the replicas of a
        ``MirroredStrategy`` (devices of one machine) or
        ``MultiWorkerMirroredStrategy`` (processes or machines): each replica
        runs whole minibatches of ``minibatch_size`` samples, and the results
        are those of one device, bit for bit (`rateconv.simulator._distribute`).
        None (default): one device.

    Examples
    --------
    >>> import numpy as np, keras, rateconv
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, "relu")])
    >>> sim, x = rateconv.Simulator(rateconv.convert(model)), np.ones((2, 4), "f4")
    >>> sim.predict(x, mode="rate").shape, sim.predict(x, n_steps=20).shape
    ((2, 3), (2, 20, 3))
    """

    def __init__(
        self,
        network,
        *,
        dt=DT,
        minibatch_size=None,
        progress=None,
        engine="time_batched",
        precision="auto",
        max_chunk_elements=2**24,
        warn_activity=True,
        strategy=None,
    ):
        if isinstance(network, keras.Model):
            network = build_network(network)
        if not isinstance(network, SpikingNetwork):
            raise TypeError(
                "Simulator takes a rateconv.SpikingNetwork (from rateconv.convert) "
                f"or a keras.Model. Received: {type(network).__name__}"
            )
        dt = _checks.check_positive("dt", dt, unit="a time in seconds")
        minibatch_size = _checks.check_optional_int("minibatch_size", minibatch_size)
        _checks.check_choice("engine", engine, engine_names())
        engine_cls = engine_class(engine)
        precision = engine_precision(engine_cls, precision)
        self.network = network
        self.dt = dt
        self.minibatch_size = minibatch_size
        self.progress = progress
        self.engine = engine
        self.precision = precision
        self.max_chunk_elements = int(max_chunk_elements)
        self.warn_activity = bool(warn_activity)
        self.strategy = check_strategy(strategy)
        options = dict(
            dt=dt, precision=precision, max_chunk_elements=self.max_chunk_elements
        )
        self._engine_options = options
        self._engine = engine_cls(network, **options)
        self._rate_engine = RateEngine(network, **{**options, "precision": "float32"})

    def _spec(
        self, source, n_steps, mode, probe_synapse, input_encoding, seed, **extra
    ):
        """Check the run arguments; returns the `RunSpec`."""
        probe_layers, probe_voltages = probe_names(
            self.network, extra.pop("probe_layers", ()), extra.pop("voltages", ()), mode
        )
        return RunSpec(
            n_steps=n_steps,
            mode=mode,
            probe_synapse=(
                self.network.probe_synapse
                if isinstance(probe_synapse, str) and probe_synapse == "default"
                else as_synapse(probe_synapse, "probe_synapse")
            ),
            input_encoding=input_encoding,
            seed=int(seed),
            probe_layers=probe_layers,
            probe_voltages=probe_voltages,
            time_varying=source.time_varying,
            **extra,
        )

    # NengoDL habit: ``with Simulator(net) as sim: ...`` frees the compiled
    # graphs at the end of the block
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        """Drop the compiled graphs; the simulator compiles again if used."""
        self._engine = type(self._engine)(self.network, **self._engine_options)
        self._rate_engine = RateEngine(
            self.network, **{**self._engine_options, "precision": "float32"}
        )

    def _readout(self, readout):
        _checks.check_choice("readout", readout, ("last", "mean", "default"))
        return self.network.readout if readout == "default" else readout

    def _run(self, source, spec, **driver_options):
        engine = self._rate_engine if spec.mode == "rate" else self._engine
        run, args = run_minibatches, (engine, source, spec)
        if self.strategy is not None:
            run, args = run_distributed, (*args, self.strategy)
        return run(
            *args,
            minibatch_size=self.minibatch_size,
            progress=self.progress,
            **driver_options,
        )

    # ------------------------------------------------------------- public API

    def predict(
        self,
        x,
        *,
        n_steps=None,
        mode="spiking",
        probe_synapse="default",
        input_encoding="constant",
        seed=0,
        probe_layers=None,
        probe_voltages=None,
        readout="default",
    ):
        """Run the network and return its output probes.

        Parameters
        ----------
        x : array, list or dict of arrays, tf.data.Dataset or generator
            One array per network input (a list in order, or a dict keyed by
            input name), shape ``(n_samples, *input_shape)``: presented at
            every step (``input_encoding="constant"``) or rate coded; shape
            ``(n_samples, n_steps, *input_shape)``: a time-varying input, step
            ``t`` seeing ``x[:, t]`` (spiking mode; NengoDL's form).  A
            ``tf.data.Dataset``, generator or iterator of batches (``x`` or
            ``(x, y)`` each, as Keras takes them) is read batch by batch.
        n_steps : int or None
            Timesteps to simulate (spiking mode).  None: the time axis of
            time-varying inputs, else 30.
        mode : {"spiking", "rate"}
            Spiking neurons over time, or each neuron replaced by its rate
            function (no time axis; equals the Keras model's ``predict``).
        probe_synapse : float, Lowpass, Alpha, None or "default"
            Filter on the output probes (a float is a lowpass time constant in
            seconds); None returns the unfiltered output.  ``"default"`` is the
            network's own `SpikingNetwork.probe_synapse`: a 0.1 s lowpass
            unless `rateconv.convert` chose another for a step budget.
        input_encoding : {"constant", "poisson", "latency", "latency_log"}
            ``"poisson"``: each input value in [0, 1] is the probability of a
            unit spike at each step (Bernoulli rate coding, as snnTorch's
            ``spikegen.rate``; of a time-varying input, at that step), seeded
            by ``seed``.  ``"latency"`` / ``"latency_log"``: each value in [0,
            1] fires one unit spike, brighter earlier (snnTorch's
            ``spikegen.latency``, linear / logarithmic, normalized to
            ``n_steps``, ``threshold=0.01``, ``clip=True``): linear, 1 fires
            at step 1 and 0.01 at about step ``n_steps``; values below 0.01
            never (`rateconv.simulator.latency_steps`).  Deterministic.
        seed : int
            Seed of the input encoding and of random initial voltages
            (``initial_state="uniform"`` in `rateconv.convert`).
        probe_layers : list of str or None
            Layers whose raw spiking output to return as well.
        probe_voltages : list of str or None
            Spiking layers whose membrane voltage to return (NengoDL's
            ``Probe(neurons, "voltage")``): after each step's update and reset,
            in units of the threshold, under the key ``(layer, "voltage")``.
        readout : {"last", "mean", "default"}
            Return the probe at each step, or its running mean over steps
            ``1..t`` (spiking mode); ``"default"`` is the network's own
            `SpikingNetwork.readout`.

        Returns
        -------
        numpy.ndarray or list
            Spiking: shape (n_samples, n_steps, *output_shape); rate: shape
            (n_samples, *output_shape).  One array per output if there are
            several.  With ``probe_layers`` or ``probe_voltages``, a tuple
            ``(outputs, probes)``: ``probes[layer]`` and ``probes[layer,
            "voltage"]`` of shape ``(n_samples, n_steps, *layer_shape)``.
        """
        source, n_steps = source_and_steps(
            self.network, x, n_steps=n_steps, mode=mode, input_encoding=input_encoding
        )
        spec = self._spec(
            source,
            n_steps,
            mode,
            probe_synapse,
            input_encoding,
            seed,
            probe_layers=probe_layers,
            voltages=probe_voltages,
            count_spikes="sampled" if self.warn_activity else None,
        )
        readout = self._readout(readout)
        result = self._run(source, spec)
        self._warn(result, spec, sum(len(o) for o in result.outputs[:1]))
        outputs = result.outputs
        if readout == "mean" and mode == "spiking":
            outputs = [metrics.running_mean(o) for o in outputs]
        outputs = outputs[0] if len(outputs) == 1 else outputs
        if probe_layers or probe_voltages:
            return outputs, result.layers
        return outputs

    def evaluate(
        self,
        x,
        y=None,
        *,
        n_steps=None,
        mode="spiking",
        probe_synapse="default",
        input_encoding="constant",
        seed=0,
        population_size=1,
        output=0,
        readout="default",
        return_outputs=False,
    ):
        """Classification error at every step, spike counts and firing rates.

        Parameters
        ----------
        x, n_steps, mode, probe_synapse, input_encoding, seed
            As in `predict`.
        y : array, shape (n_samples,), or None
            True class indices (or one-hot labels); None when ``x`` is a
            dataset or generator of ``(x, y)`` batches.
        population_size : int
            Output neurons per class: the prediction is the class whose group
            of ``population_size`` contiguous outputs has the most activity.
        output : int
            Which network output to score.
        readout : {"last", "mean", "default"}
            Classify at step ``t`` from the (filtered) output at step ``t``, or
            from its mean over steps ``1..t``.  The mean weighs early steps,
            where the output is still rising, as much as late ones; with
            ``probe_synapse=None`` it is the spike count so far, the usual
            readout at few steps.  ``"default"`` is the network's own
            `SpikingNetwork.readout` (``"last"`` unless `rateconv.convert`
            chose another for a step budget).
        return_outputs : bool
            Keep the output probe in the result.

        Returns
        -------
        rateconv.metrics.Evaluation
            ``error`` at the last step, ``errors`` at every step (one run of
            ``n_steps`` contains every shorter run as a prefix), ``activity`` of
            each spiking layer.
        """
        labels = label_check(self.network, output, population_size)
        source, n_steps = source_and_steps(
            self.network,
            x,
            y,
            labels=labels,
            n_steps=n_steps,
            mode=mode,
            input_encoding=input_encoding,
        )
        readout = self._readout(readout)
        spec = self._spec(source, n_steps, mode, probe_synapse, input_encoding, seed)
        counter = metrics.ErrorCounter(
            population_size=population_size,
            readout=readout,
            spiking=mode == "spiking",
        )
        result = self._run(
            source,
            spec,
            on_batch=lambda outs, batch: counter.add(
                outs[output], batch.start, batch.n_valid, batch.labels
            ),
            keep_outputs=return_outputs,
        )
        n = counter.n_samples
        self._warn(result, spec, n)
        return metrics.Evaluation(
            error=float(counter.errors[-1]),
            errors=counter.errors,
            n_samples=n,
            n_steps=spec.n_steps if mode == "spiking" else 1,
            mode=mode,
            activity=layer_activity(
                self.network, result.counts, n, spec.n_steps, self.dt, result.peaks
            ),
            outputs=result.outputs[output] if return_outputs else None,
            latency=counter.latency if mode == "spiking" else None,
        )

    def _warn(self, result, spec, n_samples):
        if self.warn_activity and spec.mode == "spiking":
            # 1: warn_activity, 2: here, 3: predict / evaluate, 4: the caller
            warn_activity(
                result.counts,
                result.n_counted,
                spec.n_steps,
                n_samples=n_samples,
                stacklevel=4,
            )


def layer_activity(network, counts, n_samples, n_steps, dt, peaks=None):
    """``{layer: metrics.LayerActivity}`` from a run's spike counts and peaks."""
    peaks = peaks or {}
    activity = {}
    for stage in network.neuron_stages:
        if stage.name in counts:
            c = counts[stage.name]
            activity[stage.name] = metrics.LayerActivity(
                n_neurons=stage.n_neurons,
                spike_count=float(c.sum()),
                rates=c.reshape(-1) / (n_samples * n_steps * dt),
                max_spikes_per_step=(
                    _whole(peaks[stage.name]) if stage.name in peaks else None
                ),
            )
    return activity


def _whole(peak):
    # counts are float32 sums of n * amplitude / dt rescaled: round off the
    # last bits so that 2 spikes read 2, not 1.9999998
    return float(np.round(peak, 3))


def _unit_range(encoding):
    poisson = encoding == "poisson"
    what = "the spike probability per step" if poisson else "1 fires first"

    def check(xs, where):
        for a in xs:
            if a.min() < 0 or a.max() > 1:
                raise ValueError(
                    f"input_encoding={encoding!r} needs inputs in [0, 1] ({what}). "
                    f"Received values in [{a.min():g}, {a.max():g}] in {where}; "
                    "scale the data (e.g. images / 255)."
                )

    return check
