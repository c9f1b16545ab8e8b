"""Run a `SpikingNetwork` over ``n_steps`` timesteps, or in rate mode.

Two engines compute the same thing:

* ``"time_batched"`` (default): each stage's linear operation runs once over a
  whole chunk of timesteps (time folded into the batch), and only the
  elementwise neuron and synapse updates loop over time, compiled with XLA.
  Stages whose inputs are constant over time (everything before the first
  neuron, with constant input presentation) are computed once per minibatch.
* ``"step"``: the plain reference, which runs the whole network once per
  timestep.  Tests use it to cross-check the time-batched engine.

With ``precision="bfloat16"`` the time-batched engine runs the dense and
convolutional layers that read spikes in bfloat16 (accumulating in float32 on
CPUs with bfloat16 support): spikes are small multiples of ``amplitude / dt``,
exact in bfloat16, so only the weights and the layer's output are rounded (to
about 0.4%), and oneDNN computes such convolutions 2-3x faster.  Neuron states,
synapses and everything computed once per minibatch stay float32.

Tensors inside the engine are time-major, ``(n_steps, batch, ...)``, so that one
step is a contiguous slice; results are returned batch-first.
"""

from __future__ import annotations

import math
import sys

import keras
import numpy as np
import tensorflow as tf

from rateconv import metrics
from rateconv.converter import convert
from rateconv.network import SpikingNetwork
from rateconv.neurons import DT
from rateconv.synapses import as_synapse

MODES = ("spiking", "rate")
ENCODINGS = ("constant", "poisson")
ENGINES = ("time_batched", "step")
PRECISIONS = ("float32", "bfloat16")
MAX_CHUNK_STEPS = 25


def _apply(op, values):
    if op is None:
        return values[0]
    return op(*values) if len(values) > 1 else op(values[0])


def _fold(op, values, n_steps):
    """Apply ``op`` to time-major tensors with time folded into the batch."""
    if op is None:
        return values[0][0]
    temporal = [v for v, is_t in values if is_t]
    if not temporal:
        return _apply(op, [v for v, _ in values])
    batch = tf.shape(temporal[0])[1]
    flat = []
    for v, is_t in values:
        if not is_t:  # a constant input next to temporal ones: repeat it
            v = tf.broadcast_to(v[None], tf.concat([[n_steps], tf.shape(v)], 0))
        flat.append(tf.reshape(v, tf.concat([[-1], tf.shape(v)[2:]], 0)))
    out = _apply(op, flat)
    return tf.reshape(out, tf.concat([[n_steps, batch], tf.shape(out)[1:]], 0))


class _LowPrecisionOp:
    """A weighted layer run in bfloat16 on spike inputs, returning float32."""

    def __init__(self, layer, input_shapes):
        twin = type(layer).from_config({**layer.get_config(), "dtype": "bfloat16"})
        shapes = [(None,) + tuple(s) for s in input_shapes]
        twin.build(shapes[0] if len(shapes) == 1 else shapes)
        twin.set_weights(layer.get_weights())
        self.layer = twin

    def __call__(self, *tensors):
        out = self.layer(*[tf.cast(t, tf.bfloat16) for t in tensors])
        return tf.cast(out, tf.float32)


def _neuron_scan(neuron, synapse, dt, n_steps, static, count=True):
    """An XLA-compiled loop of the neuron (and synapse) update over a chunk.

    Returns ``fn(j, neuron_state, synapse_state, mask)`` giving the outputs
    (time-major), the new states and the spike count per neuron (weighted by
    ``mask`` over the batch, so padding samples do not count).  With
    ``count=False`` it returns the outputs and states only, which saves a
    loop-carried tensor: the loop is bound by memory traffic, each carried
    tensor being read and written at every step.
    """
    count_scale = dt / neuron.amplitude

    @tf.function(jit_compile=True)
    def scan(j, state, syn_state, mask):
        # an XLA while loop: compiles once whatever the chunk length, and
        # fuses the elementwise update of each step into one kernel
        outs = tf.TensorArray(j.dtype, size=n_steps)
        # a scalar placeholder when not counting (autograph needs a tensor)
        total = tf.zeros_like(j if static else j[0]) if count else tf.zeros(())
        for t in tf.range(n_steps):
            out, state = neuron.step(j if static else j[t], state, dt)
            if count:
                total += out
            if synapse is not None:
                out, syn_state = synapse.step(out, syn_state, dt)
            outs = outs.write(t, out)
        if not count:
            return outs.stack(), state, syn_state
        counts = tf.tensordot(mask, total, axes=[[0], [0]]) * count_scale
        return outs.stack(), state, syn_state, counts

    return scan


def _synapse_scan(synapse, dt, n_steps):
    @tf.function(jit_compile=True)
    def scan(x, state):
        outs = tf.TensorArray(x.dtype, size=n_steps)
        for t in tf.range(n_steps):
            out, state = synapse.step(x[t], state, dt)
            outs = outs.write(t, out)
        return outs.stack(), state

    return scan


def _spiking_max_pool_step(stage, x, state):
    """One step of spiking max pooling (see `_spiking_max_pool_chunk`)."""
    running_sum, running_max = state
    running_sum = running_sum + x
    new_max = stage.op(running_sum)
    return new_max - running_max, (running_sum, new_max)


def _spiking_max_pool_chunk(stage, x, state, n_steps):
    """Spiking max pooling over a chunk of time-major input ``x``.

    Each window outputs the increase of the max over its inputs' running sums,
    so the cumulative output is exactly the max of the cumulative inputs: the
    output rate converges to the max of the input rates, and with spike inputs
    the output is made of whole spikes.  (Gating by the current leader would
    lose or duplicate spikes when two inputs fire at about the same rate.)
    """
    running_sum, running_max = state
    sums = running_sum[None] + tf.cumsum(x, axis=0)
    maxes = _fold(stage.op, [(sums, True)], n_steps)
    previous = tf.concat([running_max[None], maxes[:-1]], axis=0)
    return maxes - previous, (sums[-1], maxes[-1])


def _rate_activation(stage, v):
    if stage.rate_neuron is not None:
        v = stage.rate_neuron.rate(v)
    if stage.readout is not None:
        v = stage.readout(v)
    return v


def forward_graph(network, activation):
    """A compiled forward pass of ``network`` without time.

    ``activation(stage, v)`` maps each stage's operation output to the stage's
    value: rate mode applies the rate neurons and readouts; the benchmark's
    dense yardstick applies ReLU.  Returns ``fn(*inputs) -> [outputs]``.
    """

    @tf.function
    def forward(*inputs):
        values = dict(zip(network.inputs, inputs))
        for stage in network.stages:
            if stage.is_input:
                continue
            v = _apply(stage.op, [values[n] for n in stage.inputs])
            values[stage.name] = activation(stage, v)
        return [values[n] for n in network.outputs]

    return forward


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
        Show a progress bar; None shows it when standard output is a terminal.
    engine : {"time_batched", "step"}
        See the module docstring.
    precision : {"float32", "bfloat16"}
        Arithmetic of the dense and convolutional layers that read spikes
        (time-batched engine only; see the module docstring).  bfloat16 is
        2-3x faster on CPUs with AVX512-BF16 or AMX and changes results by
        float rounding only.
    max_chunk_elements : int
        Bound on the elements of one stage's activity for a chunk of timesteps
        (``chunk * batch * neurons``); keeps memory flat in ``n_steps``.
    """

    def __init__(
        self,
        network,
        *,
        dt=DT,
        minibatch_size=None,
        progress=None,
        engine="time_batched",
        precision="float32",
        max_chunk_elements=2**24,
    ):
        if isinstance(network, keras.Model):
            network = convert(network)
        if not isinstance(network, SpikingNetwork):
            raise TypeError(
                "Simulator takes a rateconv.SpikingNetwork (from rateconv.convert) "
                f"or a keras.Model. Received: {type(network).__name__}"
            )
        if not (isinstance(dt, (int, float)) and dt > 0 and math.isfinite(dt)):
            raise ValueError(
                f"dt must be a positive time in seconds. Received: dt={dt!r}"
            )
        if minibatch_size is not None and not (
            isinstance(minibatch_size, int) and minibatch_size >= 1
        ):
            raise ValueError(
                "minibatch_size must be a positive int or None. "
                f"Received: minibatch_size={minibatch_size!r}"
            )
        if engine not in ENGINES:
            raise ValueError(
                f"engine must be one of {ENGINES}. Received: engine={engine!r}"
            )
        if precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {PRECISIONS}. "
                f"Received: precision={precision!r}"
            )
        if precision != "float32" and engine != "time_batched":
            raise ValueError(
                "precision='bfloat16' needs engine='time_batched'; the step "
                "engine is the float32 reference."
            )
        self.network = network
        self.dt = float(dt)
        self.minibatch_size = minibatch_size
        self.progress = progress
        self.engine = engine
        self.precision = precision
        self.max_chunk_elements = int(max_chunk_elements)
        self._cache = {}

    # ------------------------------------------------------------------ checks

    def _check_x(self, x):
        net = self.network
        xs = list(x) if isinstance(x, (list, tuple)) else [x]
        if len(xs) != len(net.inputs):
            raise ValueError(
                f"The network has {len(net.inputs)} input(s) {net.inputs}; "
                f"received {len(xs)} array(s). Pass a list with one array per input."
            )
        out = []
        for name, shape, arr in zip(net.inputs, net.input_shapes, xs):
            arr = np.asarray(arr)
            if not np.issubdtype(arr.dtype, np.number):
                raise ValueError(
                    f"x for input '{name}' must be numeric. Received dtype {arr.dtype}"
                )
            arr = arr.astype(np.float32)
            if arr.shape[1:] != tuple(shape) or arr.ndim != len(shape) + 1:
                raise ValueError(
                    f"x for input '{name}' must have shape (n_samples, "
                    f"{', '.join(str(d) for d in shape)}). Received: shape {arr.shape}"
                )
            if len(arr) == 0:
                raise ValueError(f"x for input '{name}' is empty.")
            if not np.all(np.isfinite(arr)):
                bad = int(np.sum(~np.isfinite(arr)))
                raise ValueError(
                    f"x for input '{name}' contains {bad} NaN or inf value(s); "
                    "clean or impute the data before simulating."
                )
            out.append(arr)
        if len({len(a) for a in out}) > 1:
            raise ValueError(
                "All inputs need the same number of samples. "
                f"Received: {[len(a) for a in out]}"
            )
        return out

    @staticmethod
    def _check_options(n_steps, mode, input_encoding, xs):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}. Received: mode={mode!r}")
        if not (
            isinstance(n_steps, (int, np.integer))
            and not isinstance(n_steps, bool)
            and n_steps >= 1
        ):
            raise ValueError(
                f"n_steps must be an int >= 1. Received: n_steps={n_steps!r}"
            )
        if input_encoding not in ENCODINGS:
            raise ValueError(
                f"input_encoding must be one of {ENCODINGS}. "
                f"Received: input_encoding={input_encoding!r}"
            )
        if input_encoding == "poisson":
            for a in xs:
                if a.min() < 0 or a.max() > 1:
                    raise ValueError(
                        "input_encoding='poisson' needs inputs in [0, 1] (the spike "
                        "probability per step). Received values in "
                        f"[{a.min():g}, {a.max():g}]; "
                        "scale the data (e.g. images / 255)."
                    )

    # ------------------------------------------------------------- public API

    def predict(
        self,
        x,
        *,
        n_steps=30,
        mode="spiking",
        probe_synapse=0.1,
        input_encoding="constant",
        seed=0,
        probe_layers=None,
    ):
        """Run the network and return its output probes.

        Parameters
        ----------
        x : array or list of arrays, shape (n_samples, *input_shape)
            One array per network input, presented at every step
            (``input_encoding="constant"``) or rate coded.
        n_steps : int
            Timesteps to simulate (spiking mode).
        mode : {"spiking", "rate"}
            Spiking neurons over time, or each neuron replaced by its rate
            function (no time axis; equals the Keras model's ``predict``).
        probe_synapse : float, Lowpass, Alpha or None
            Filter on the output probes (a float is a lowpass time constant in
            seconds); None returns the unfiltered output.
        input_encoding : {"constant", "poisson"}
            ``"poisson"``: each input value in [0, 1] is the probability of a
            unit spike at each step (Bernoulli rate coding, as snnTorch's
            ``spikegen.rate``), seeded by ``seed``.
        seed : int
            Seed of the input encoding and of random initial voltages
            (``initial_state="uniform"`` in `rateconv.convert`).
        probe_layers : list of str or None
            Layers whose raw spiking output to return as well.

        Returns
        -------
        numpy.ndarray or list
            Spiking: shape (n_samples, n_steps, *output_shape); rate: shape
            (n_samples, *output_shape).  One array per output if there are
            several.  With ``probe_layers``, a tuple ``(outputs, {layer: array of
            shape (n_samples, n_steps, *layer_shape)})``.
        """
        result = self._run(
            x,
            n_steps,
            mode,
            probe_synapse,
            input_encoding,
            seed,
            probe_layers,
            count_spikes=False,
        )
        outputs = result["outputs"]
        outputs = outputs[0] if len(outputs) == 1 else outputs
        if probe_layers:
            return outputs, result["layers"]
        return outputs

    def evaluate(
        self,
        x,
        y,
        *,
        n_steps=30,
        mode="spiking",
        probe_synapse=0.1,
        input_encoding="constant",
        seed=0,
        population_size=1,
        output=0,
        readout="last",
        return_outputs=False,
    ):
        """Classification error at every step, spike counts and firing rates.

        Parameters
        ----------
        x, n_steps, mode, probe_synapse, input_encoding, seed
            As in `predict`.
        y : array, shape (n_samples,)
            True class indices (or one-hot labels).
        population_size : int
            Output neurons per class: the prediction is the class whose group
            of ``population_size`` contiguous outputs has the most activity.
        output : int
            Which network output to score.
        readout : {"last", "mean"}
            Classify at step ``t`` from the (filtered) output at step ``t``, or
            from its mean over steps ``1..t``.  The mean weighs early steps,
            where the output is still rising, as much as late ones; with
            ``probe_synapse=None`` it is the spike count so far, the usual
            readout at few steps.
        return_outputs : bool
            Keep the output probe in the result.

        Returns
        -------
        rateconv.metrics.Evaluation
            ``error`` at the last step, ``errors`` at every step (one run of
            ``n_steps`` contains every shorter run as a prefix), ``activity`` of
            each spiking layer.
        """
        xs = self._check_x(x)
        labels = metrics._as_labels(y, len(xs[0]))  # fail fast, before any work
        if not (isinstance(output, int) and 0 <= output < len(self.network.outputs)):
            raise ValueError(
                f"output must index one of the network's {len(self.network.outputs)} "
                f"output(s) {self.network.outputs}. Received: output={output!r}"
            )
        n_out = self.network[self.network.outputs[output]].output_shape[-1]
        if not (isinstance(population_size, int) and population_size >= 1) or (
            n_out % population_size
        ):
            raise ValueError(
                f"population_size must divide the number of outputs ({n_out}). "
                f"Received: population_size={population_size!r}"
            )
        if readout not in ("last", "mean"):
            raise ValueError(
                f"readout must be 'last' or 'mean'. Received: readout={readout!r}"
            )
        wrong = []

        def score(outs, start, valid):
            if readout == "mean" and mode == "spiking":
                out = np.cumsum(outs[output], axis=1)
                outs = {output: out / np.arange(1, out.shape[1] + 1)[:, None]}
            # count errors batch by batch, so memory does not grow with the
            # number of samples times n_steps unless the outputs are asked for
            errs = metrics.classification_errors(
                outs[output],
                labels[start : start + valid],
                population_size=population_size,
            )
            wrong.append(np.atleast_1d(errs) * valid)

        result = self._run(
            xs,
            n_steps,
            mode,
            probe_synapse,
            input_encoding,
            seed,
            None,
            on_batch=score,
            keep_outputs=return_outputs,
        )
        out = result["outputs"][output] if return_outputs else None
        n = len(xs[0])
        errors = np.sum(wrong, axis=0) / n
        steps = n_steps if mode == "spiking" else 1
        activity = {}
        for stage in self.network.neuron_stages:
            if stage.name in result["counts"]:
                counts = result["counts"][stage.name]
                activity[stage.name] = metrics.LayerActivity(
                    n_neurons=stage.n_neurons,
                    spike_count=float(counts.sum()),
                    rates=counts.reshape(-1) / (n * n_steps * self.dt),
                )
        return metrics.Evaluation(
            error=float(errors[-1]),
            errors=errors,
            n_samples=n,
            n_steps=steps,
            mode=mode,
            activity=activity,
            outputs=out,
        )

    # --------------------------------------------------------------- running

    def _run(
        self,
        x,
        n_steps,
        mode,
        probe_synapse,
        input_encoding,
        seed,
        probe_layers,
        on_batch=None,
        keep_outputs=True,
        count_spikes=True,
    ):
        xs = self._check_x(x)
        self._check_options(n_steps, mode, input_encoding, xs)
        probe_synapse = as_synapse(probe_synapse, "probe_synapse")
        probe_layers = list(probe_layers or [])
        unknown = [n for n in probe_layers if n not in self.network.by_name]
        if unknown:
            raise ValueError(
                f"probe_layers names unknown layers {unknown}; layers with "
                f"neurons: {[s.name for s in self.network.neuron_stages]}"
            )
        n = len(xs[0])
        batch = min(self.minibatch_size or 200, n)
        n_batches = math.ceil(n / batch)
        show = self.progress if self.progress is not None else sys.stdout.isatty()
        bar = (
            keras.utils.Progbar(n_batches, unit_name="batch")
            if show and n_batches > 1
            else None
        )

        outputs = [[] for _ in self.network.outputs]
        layers = {name: [] for name in probe_layers}
        counts = {}
        for b in range(n_batches):
            start = b * batch
            chunk = [a[start : start + batch] for a in xs]
            valid = len(chunk[0])
            if valid < batch:  # pad to a fixed batch so compiled graphs are reused
                chunk = [
                    np.concatenate(
                        [a, np.zeros((batch - valid,) + a.shape[1:], a.dtype)]
                    )
                    for a in chunk
                ]
            mask = np.zeros(batch, np.float32)
            mask[:valid] = 1
            if mode == "rate":
                outs = self._rate(chunk)
                res = {"outputs": outs, "layers": {}, "counts": {}}
            elif self.engine == "step":
                res = self._run_step(
                    chunk,
                    mask,
                    n_steps,
                    probe_synapse,
                    input_encoding,
                    seed,
                    start,
                    probe_layers,
                )
            else:
                res = self._run_batched(
                    chunk,
                    mask,
                    n_steps,
                    probe_synapse,
                    input_encoding,
                    seed,
                    start,
                    probe_layers,
                    count_spikes,
                )
            outs = [np.asarray(o)[:valid] for o in res["outputs"]]
            if on_batch is not None:
                on_batch(outs, start, valid)
            if keep_outputs:
                for i, o in enumerate(outs):
                    outputs[i].append(o)
            for name in probe_layers:
                layers[name].append(res["layers"][name][:valid])
            for name, c in res["counts"].items():
                counts[name] = counts.get(name, 0) + c
            if bar is not None:
                bar.update(b + 1)
        return {
            "outputs": [np.concatenate(o) for o in outputs] if keep_outputs else None,
            "layers": {k: np.concatenate(v) for k, v in layers.items()},
            "counts": counts,
        }

    def _rate(self, xs):
        fn = self._cache.get("rate")
        if fn is None:
            fn = self._cache["rate"] = forward_graph(self.network, _rate_activation)
        return [o.numpy() for o in fn(*[tf.constant(a) for a in xs])]

    # -------------------------------------------------- time-batched engine

    def _static_stages(self, input_encoding):
        """Names of stages whose value is the same at every step."""
        static = set()
        for stage in self.network.stages:
            if stage.is_input:
                if input_encoding == "constant":
                    static.add(stage.name)
            elif stage.spiking_neuron is None and all(
                n in static for n in stage.inputs
            ):
                static.add(stage.name)
        return static

    def _chunk_length(self, batch, n_steps):
        largest = max(int(np.prod(s.output_shape)) for s in self.network.stages)
        fit = self.max_chunk_elements // (batch * largest)
        # the neuron loop is unrolled inside XLA: longer chunks compile slowly
        return int(max(1, min(n_steps, fit, MAX_CHUNK_STEPS)))

    def _initial_states(self, batch, seed=0, batch_start=0):
        states = {}
        for index, stage in enumerate(self.network.stages):
            shape = (batch,) + tuple(stage.output_shape)
            st = {}
            if stage.spiking_neuron is not None:
                neuron = [tf.zeros(shape) for _ in stage.spiking_neuron.state_names]
                # the voltage (first state) starts at a fraction of threshold
                if stage.initial_state == "half":
                    neuron[0] = tf.fill(shape, 0.5)
                elif stage.initial_state == "uniform":
                    neuron[0] = tf.random.stateless_uniform(
                        shape,
                        seed=tf.constant(
                            [seed + 7919 * (index + 1), -1 - batch_start], tf.int64
                        ),
                    )
                st["neuron"] = tuple(neuron)
                st["synapse"] = (
                    stage.synapse.initial_state(shape) if stage.synapse else ()
                )
            if stage.spiking_max_pool is not None:
                in_shape = (batch,) + tuple(self.network[stage.inputs[0]].output_shape)
                st["pool"] = (tf.zeros(in_shape), tf.zeros(shape))
            states[stage.name] = st
        return states

    def _encode(self, x, t0, n_steps, seed, batch_start):
        """Bernoulli spikes, time-major; the same at step t however chunked."""
        steps = []
        for t in range(n_steps):
            s = tf.stack(
                [
                    tf.cast(seed, tf.int64),
                    tf.cast(batch_start, tf.int64) * 1_000_003
                    + tf.cast(t0 + t, tf.int64),
                ]
            )
            u = tf.random.stateless_uniform(tf.shape(x), seed=s)
            steps.append(tf.cast(u < x, x.dtype))
        return tf.stack(steps)

    def _chunk_fn(
        self,
        n_chunk,
        probe_synapse,
        input_encoding,
        probe_layers,
        batch,
        count_spikes=True,
    ):
        key = (
            "chunk",
            n_chunk,
            probe_synapse,
            input_encoding,
            tuple(probe_layers),
            batch,
            count_spikes,
        )
        if key in self._cache:
            return self._cache[key]
        net = self.network
        static = self._static_stages(input_encoding)
        dt = self.dt
        # a neuron stage whose current is constant over time scans a static J
        static_j = {
            s.name: all(n in static for n in s.inputs) for s in net.neuron_stages
        }
        ops = {s.name: s.op for s in net.stages}
        if self.precision == "bfloat16":
            for s in net.stages:
                if (
                    s.name not in static
                    and not s.is_input
                    and getattr(s.op, "kernel", None) is not None
                    and isinstance(s.op, keras.layers.Layer)
                ):
                    ops[s.name] = self._low_precision_op(s)
        scans = {
            s.name: _neuron_scan(
                s.spiking_neuron,
                s.synapse,
                dt,
                n_chunk,
                static_j[s.name],
                count=count_spikes,
            )
            for s in net.neuron_stages
        }
        probe_scan = (
            _synapse_scan(probe_synapse, dt, n_chunk) if probe_synapse else None
        )
        encode = self._encode

        @tf.function
        def run(statics, states, probe_states, mask, t0, seed, batch_start):
            values = {}  # name -> (tensor, is_temporal)
            new_states = {}
            counts = {}
            for stage in net.stages:
                if stage.name in static:
                    values[stage.name] = (statics[stage.name], False)
                    continue
                if stage.is_input:  # rate-coded input
                    values[stage.name] = (
                        encode(statics[stage.name], t0, n_chunk, seed, batch_start),
                        True,
                    )
                    continue
                ins = [values[n] for n in stage.inputs]
                st = dict(states[stage.name])
                if stage.spiking_max_pool is not None:
                    x, is_t = ins[0]
                    if not is_t:
                        v = stage.op(x)
                        values[stage.name] = (v, False)
                        new_states[stage.name] = st
                        continue
                    v, st["pool"] = _spiking_max_pool_chunk(
                        stage, x, st["pool"], n_chunk
                    )
                    is_t = True
                else:
                    any_t = any(t for _, t in ins)
                    v = _fold(ops[stage.name], ins, n_chunk)
                    is_t = any_t
                if stage.spiking_neuron is not None:
                    res = scans[stage.name](v, st["neuron"], st["synapse"], mask)
                    v, st["neuron"], st["synapse"] = res[:3]
                    if count_spikes:
                        counts[stage.name] = res[3]
                    is_t = True
                values[stage.name] = (v, is_t)
                new_states[stage.name] = st
            outputs, new_probe_states = [], []
            for name, pst in zip(net.outputs, probe_states):
                v, is_t = values[name]
                if not is_t:
                    v = tf.broadcast_to(v[None], tf.concat([[n_chunk], tf.shape(v)], 0))
                if probe_scan is not None:
                    v, pst = probe_scan(v, pst)
                readout = net[name].readout
                if readout is not None:
                    v = readout(v)
                outputs.append(v)
                new_probe_states.append(pst)
            layers = {n: values[n][0] for n in probe_layers}
            return outputs, new_states, new_probe_states, counts, layers

        self._cache[key] = run
        return run

    def _low_precision_op(self, stage):
        key = ("bfloat16", stage.name)
        if key not in self._cache:
            shapes = [self.network[n].output_shape for n in stage.inputs]
            self._cache[key] = _LowPrecisionOp(stage.op, shapes)
        return self._cache[key]

    def _statics_fn(self, input_encoding):
        key = ("statics", input_encoding)
        if key in self._cache:
            return self._cache[key]
        net = self.network
        static = self._static_stages(input_encoding)

        @tf.function
        def run(inputs):
            values = dict(inputs)
            for stage in net.stages:
                if stage.name in static and not stage.is_input:
                    values[stage.name] = _apply(
                        stage.op, [values[n] for n in stage.inputs]
                    )
            return values

        self._cache[key] = run
        return run

    def _run_batched(
        self,
        xs,
        mask,
        n_steps,
        probe_synapse,
        input_encoding,
        seed,
        batch_start,
        probe_layers,
        count_spikes=True,
    ):
        net = self.network
        batch = len(xs[0])
        inputs = {n: tf.constant(a) for n, a in zip(net.inputs, xs)}
        statics = self._statics_fn(input_encoding)(inputs)
        states = self._initial_states(batch, seed, batch_start)
        probe_states = [
            probe_synapse.initial_state((batch,) + tuple(net[n].output_shape))
            if probe_synapse
            else ()
            for n in net.outputs
        ]
        mask = tf.constant(mask)
        chunk = self._chunk_length(batch, n_steps)
        outputs = [[] for _ in net.outputs]
        layers = {n: [] for n in probe_layers}
        counts = {}
        t0 = 0
        while t0 < n_steps:
            n_chunk = min(chunk, n_steps - t0)
            fn = self._chunk_fn(
                n_chunk,
                probe_synapse,
                input_encoding,
                probe_layers,
                batch,
                count_spikes,
            )
            outs, states, probe_states, c, lay = fn(
                statics,
                states,
                probe_states,
                mask,
                tf.constant(t0, tf.int64),
                tf.constant(seed, tf.int64),
                tf.constant(batch_start, tf.int64),
            )
            for i, o in enumerate(outs):
                outputs[i].append(o.numpy())
            for n in probe_layers:
                layers[n].append(lay[n].numpy())
            for n, v in c.items():
                counts[n] = counts.get(n, 0) + v.numpy()
            t0 += n_chunk
        return {
            "outputs": [np.moveaxis(np.concatenate(o), 0, 1) for o in outputs],
            "layers": {
                n: np.moveaxis(np.concatenate(v), 0, 1) for n, v in layers.items()
            },
            "counts": counts,
        }

    # ------------------------------------------------------ step-by-step engine

    def _step_fn(self, probe_synapse, input_encoding, probe_layers):
        key = ("step", probe_synapse, input_encoding, tuple(probe_layers))
        if key in self._cache:
            return self._cache[key]
        net = self.network
        dt = self.dt
        encode = self._encode

        @tf.function
        def step(inputs, states, probe_states, mask, t, seed, batch_start):
            values = {}
            new_states = {}
            counts = {}
            for stage in net.stages:
                if stage.is_input:
                    x = inputs[stage.name]
                    if input_encoding == "poisson":
                        x = encode(x, t, 1, seed, batch_start)[0]
                    values[stage.name] = x
                    continue
                st = dict(states[stage.name])
                ins = [values[n] for n in stage.inputs]
                if stage.spiking_max_pool is not None:
                    v, st["pool"] = _spiking_max_pool_step(stage, ins[0], st["pool"])
                else:
                    v = _apply(stage.op, ins)
                neuron = stage.spiking_neuron
                if neuron is not None:
                    v, st["neuron"] = neuron.step(v, st["neuron"], dt)
                    counts[stage.name] = tf.tensordot(mask, v, axes=[[0], [0]]) * (
                        dt / neuron.amplitude
                    )
                    if stage.synapse is not None:
                        v, st["synapse"] = stage.synapse.step(v, st["synapse"], dt)
                values[stage.name] = v
                new_states[stage.name] = st
            outputs, new_probe_states = [], []
            for name, pst in zip(net.outputs, probe_states):
                v = values[name]
                if probe_synapse is not None:
                    v, pst = probe_synapse.step(v, pst, dt)
                if net[name].readout is not None:
                    v = net[name].readout(v)
                outputs.append(v)
                new_probe_states.append(pst)
            return (
                outputs,
                new_states,
                new_probe_states,
                counts,
                {n: values[n] for n in probe_layers},
            )

        self._cache[key] = step
        return step

    def _run_step(
        self,
        xs,
        mask,
        n_steps,
        probe_synapse,
        input_encoding,
        seed,
        batch_start,
        probe_layers,
    ):
        net = self.network
        batch = len(xs[0])
        inputs = {n: tf.constant(a) for n, a in zip(net.inputs, xs)}
        states = self._initial_states(batch, seed, batch_start)
        probe_states = [
            probe_synapse.initial_state((batch,) + tuple(net[n].output_shape))
            if probe_synapse
            else ()
            for n in net.outputs
        ]
        mask = tf.constant(mask)
        step = self._step_fn(probe_synapse, input_encoding, probe_layers)
        outputs = [[] for _ in net.outputs]
        layers = {n: [] for n in probe_layers}
        counts = {}
        for t in range(n_steps):
            outs, states, probe_states, c, lay = step(
                inputs,
                states,
                probe_states,
                mask,
                tf.constant(t, tf.int64),
                tf.constant(seed, tf.int64),
                tf.constant(batch_start, tf.int64),
            )
            for i, o in enumerate(outs):
                outputs[i].append(o.numpy())
            for n in probe_layers:
                layers[n].append(lay[n].numpy())
            for n, v in c.items():
                counts[n] = counts.get(n, 0) + v.numpy()
        return {
            "outputs": [np.stack(o, axis=1) for o in outputs],
            "layers": {n: np.stack(v, axis=1) for n, v in layers.items()},
            "counts": counts,
        }
