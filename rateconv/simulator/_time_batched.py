"""The default engine: linear operations batched over a chunk of timesteps.

Each stage's linear operation runs once over a whole chunk of timesteps (time
folded into the batch), and only the elementwise neuron and synapse updates
loop over time: on the CPU in fused numba kernels where they cover the neuron
type (`rateconv.simulator._fused`), else compiled with XLA; both compute each
step in float64 and round the states to float32 once
(`rateconv.simulator._exact`), so they agree bit for bit.  Stages whose
inputs are constant over time
(everything before the first neuron, with constant input presentation) are
computed once per minibatch.

With ``precision="bfloat16"`` the dense and convolutional layers that read
spikes run in bfloat16 (accumulating in float32 on CPUs with bfloat16
support): the weights, the layer's input (whole spikes times ``amplitude /
dt``, or their lowpass-filtered values) and its output are rounded to 8
significant bits, and oneDNN computes such convolutions 2-3x faster.  On the
shipped networks this costs under 0.1 point of accuracy
(`rateconv.simulator._precision`).  Neuron states, synapses and
everything computed once per minibatch stay float32.

Tensors inside the engine are time-major, ``(n_steps, batch, ...)``, so that
one step is a contiguous slice; results are returned batch-first.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from rateconv.converter import clone_layer
from rateconv.simulator import _fused
from rateconv.simulator._engines import Engine, register_engine
from rateconv.simulator._exact import exact_step, to_float32
from rateconv.simulator._inputs import Minibatch
from rateconv.simulator._integer import (
    IntegerSpikeOp,
    integer_plan,
    moved_synapse_scan,
)
from rateconv.simulator._max_pool import max_pool_chunk
from rateconv.simulator._run import (
    RunResult,
    TimeMajorCollector,
    advance_stages,
    apply_op,
    batch_tensors,
    encode_inputs,
    initial_states,
    probe_states,
    still_inputs,
    time_slice,
)

MAX_CHUNK_STEPS = 25


def _cache_bytes(path="/sys/devices/system/cpu/cpu0/cache/index3/size"):
    """Half the CPU's last-level cache (16 MiB if unknown)."""
    try:
        with open(path) as f:
            text = f.read().strip().upper()
        scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
        return int(text.rstrip("KMG")) * scale // 2
    except (OSError, ValueError):
        return 16 * 2**20


CACHE_BYTES = _cache_bytes()
"""A minibatch runs in pieces whose largest chunk tensor (float32, every step
of a chunk) takes about this much memory, so that a layer's output is still
in the CPU's caches when the next stage reads it: per image, batch 200 ran
slower than batch 32 when the whole minibatch went through each stage."""

MIN_PIECE = 32
"""The fewest samples of a piece: minibatches up to this size run whole (on
the AMD EPYC of `examples/guides/speed.md`, pieces of 8 were slower than a
whole minibatch of 32)."""


def fold_time(op, values, n_steps):
    """Apply ``op`` to ``(tensor, is_temporal)`` values, time folded into batch."""
    if op is None:
        return values[0][0]
    temporal = [v for v, is_t in values if is_t]
    if not temporal:
        return apply_op(op, [v for v, _ in values])
    batch = tf.shape(temporal[0])[1]
    flat = []
    for v, is_t in values:
        if not is_t:  # a constant input next to temporal ones: repeat it
            v = tf.broadcast_to(v[None], tf.concat([[n_steps], tf.shape(v)], 0))
        flat.append(tf.reshape(v, tf.concat([[-1], tf.shape(v)[2:]], 0)))
    out = apply_op(op, flat)
    return tf.reshape(out, tf.concat([[n_steps, batch], tf.shape(out)[1:]], 0))


class _LowPrecisionOp:
    """A weighted layer run in bfloat16 on spike inputs, returning float32
    (or, with ``dtype="float64"``, in float64 rounded to float32 once)."""

    def __init__(self, layer, input_shapes, dtype="bfloat16"):
        shapes = [(None,) + tuple(s) for s in input_shapes]
        self.dtype = tf.as_dtype(dtype)
        self.layer = clone_layer(
            layer,
            dtype=dtype,
            input_shape=shapes[0] if len(shapes) == 1 else shapes,
        )

    def __call__(self, *tensors):
        out = self.layer(*[tf.cast(t, self.dtype) for t in tensors])
        return to_float32(out)


def _weighted(stage):
    return (
        not stage.is_input
        and getattr(stage.op, "kernel", None) is not None
        and isinstance(stage.op, keras.layers.Layer)
    )


def neuron_scan(
    neuron, synapse, dt, n_steps, static, count="all", rows=None, voltage=False
):
    """An XLA-compiled loop of the neuron (and synapse) update over a chunk.

    Returns ``fn(j, neuron_state, synapse_state, mask)`` giving the outputs
    (time-major), the new states and the spike count per neuron (weighted by
    ``mask`` over the batch, so padding samples do not count) of the first
    ``rows`` samples (None: all).  With ``count=None`` it returns the outputs
    and states only, which saves a loop-carried tensor: the loop is bound by
    memory traffic, each carried tensor being read and written at every step
    (a count of every sample costs 10-20%, of a few rows about 1%).  A
    count comes with the peak: the most spikes one neuron of the counted rows
    fired in one step (a scalar).  With ``voltage`` the membrane voltage after
    each step (the first state, time-major) comes last (voltage probes).  Each
    step is `exact_step`: float64 arithmetic, float32 states.
    """

    @tf.function(jit_compile=True)
    def scan(j, state, syn_state, mask):
        # an XLA while loop: compiles once whatever the chunk length, and
        # fuses the elementwise update of each step into one kernel
        outs = tf.TensorArray(j.dtype, size=n_steps)
        # a scalar placeholder when not counting (autograph needs a tensor)
        shape = (j if static else j[0])[:rows]
        total = tf.zeros_like(shape, tf.float64) if count else tf.zeros((), tf.float64)
        peak = tf.zeros((), tf.float64)
        if count:
            weight = tf.reshape(
                tf.cast(mask[:rows], tf.float64), [-1] + [1] * (len(shape.shape) - 1)
            )
        volts = tf.TensorArray(j.dtype, size=n_steps if voltage else 0)
        for t in tf.range(n_steps):
            out, state, syn_state, spikes = exact_step(
                neuron, synapse, j if static else j[t], state, syn_state, dt
            )
            if voltage:
                volts = volts.write(t, state[0])
            if count:
                total += spikes[:rows]
                peak = tf.maximum(peak, tf.reduce_max(tf.abs(spikes[:rows]) * weight))
            outs = outs.write(t, out)
        result = (outs.stack(), state, syn_state)
        if count:
            weights = tf.cast(mask[:rows], tf.float64)
            counts = tf.tensordot(weights, total, axes=[[0], [0]])
            result += (tf.cast(counts, tf.float32), tf.cast(peak, tf.float32))
        return result + ((volts.stack(),) if voltage else ())

    return scan


def synapse_scan(synapse, dt, n_steps):
    """An XLA-compiled loop of a synapse over a chunk of time-major input."""

    @tf.function(jit_compile=True)
    def scan(x, state):
        outs = tf.TensorArray(x.dtype, size=n_steps)
        for t in tf.range(n_steps):
            out, state = synapse.step(x[t], state, dt)
            outs = outs.write(t, out)
        return outs.stack(), state

    return scan


def _neuron_loop(stage, dt, voltage=False):
    """The fused CPU kernel where it covers the stage, else the XLA loop (also
    for a stage whose voltage is probed: the kernel does not record it)."""
    if not voltage and _fused.supports(stage.spiking_neuron, stage.synapse, dt):
        return _fused.fused_scan
    return neuron_scan


@register_engine
class TimeBatchedEngine(Engine):
    """Linear work once per chunk of steps, fused loops for the neurons."""

    name = "time_batched"
    precisions = ("float32", "bfloat16", "int8")

    def __init__(self, network, **options):
        super().__init__(network, **options)
        self._graphs = {}  # (RunSpec.graph_key, batch size) -> compiled chunk
        self._statics = {}  # input encoding -> compiled constant part
        self._low_precision = {}
        self._plans = {}

    def run_batch(self, minibatch, spec):
        size = minibatch.size
        piece = self._piece_size(size, spec.n_steps)
        if piece >= size:
            return self._run_piece(minibatch, spec)
        results = []
        for lo in range(0, size, piece):
            hi = min(lo + piece, size)
            part = Minibatch(
                inputs=[a[lo:hi] for a in minibatch.inputs],
                start=minibatch.start + lo,
                n_valid=int(np.clip(minibatch.n_valid - lo, 0, hi - lo)),
            )
            results.append(self._run_piece(part, spec, first_row=lo))
        counts = {}
        for r in results:  # whole numbers: any order gives the same sums
            for name, c in r.counts.items():
                counts[name] = counts.get(name, 0) + c
        return RunResult(
            outputs=[np.concatenate(o) for o in zip(*(r.outputs for r in results))],
            layers={
                k: np.concatenate([r.layers[k] for r in results])
                for k in results[0].layers
            },
            counts=counts,
        )

    def _piece_size(self, batch, n_steps):
        """Samples run together: the largest stage's chunk of them (at the
        longest chunk) fits in `CACHE_BYTES`; at least `MIN_PIECE`."""
        largest = max(int(np.prod(s.output_shape)) for s in self.network.stages)
        steps = min(n_steps, MAX_CHUNK_STEPS)
        fit = CACHE_BYTES // (4 * largest * steps)
        return int(max(MIN_PIECE, fit))

    def _run_piece(self, minibatch, spec, first_row=0):
        net = self.network
        size = minibatch.size
        varying = spec.time_varying
        inputs = still_inputs(net, minibatch, spec)
        statics = self._statics_fn(spec)(inputs)
        states = initial_states(net, size, spec.seed, minibatch.start)
        for name, path in self._integer_plan(spec).items():
            if path.synapse is not None:  # moved after the linear stage
                states[path.source]["synapse"] = ()
                shape = (size,) + tuple(net[name].output_shape)
                states[name]["moved"] = path.synapse.initial_state(shape)
        probes = probe_states(net, spec.probe_synapse, size)
        per_batch = batch_tensors(minibatch, spec)
        if spec.count_rows is not None and first_row:
            # a sampled count covers the minibatch's first rows only
            rows = np.arange(first_row, first_row + size) < spec.count_rows
            per_batch = (per_batch[0] * rows.astype(np.float32),) + per_batch[1:]
        chunk = self._chunk_length(size, spec.n_steps)
        collected = TimeMajorCollector(net, spec.probe_keys)
        t0 = 0
        while t0 < spec.n_steps:
            n_chunk = min(chunk, spec.n_steps - t0)
            fn = self._chunk_fn(spec.graph_key(n_chunk), size)
            temporal = {
                n: time_slice(a, t0, n_chunk)
                for n, a in zip(net.inputs, minibatch.inputs)
                if n in varying
            }
            outs, states, probes, counts, layers = fn(
                statics, temporal, states, probes, tf.constant(t0, tf.int64), *per_batch
            )
            collected.add(outs, layers, counts)
            t0 += n_chunk
        return collected.result()

    # ------------------------------------------------------------ analysis

    def _static_stages(self, spec):
        """Names of stages whose value is the same at every step."""
        static = set()
        for stage in self.network.stages:
            if stage.is_input:
                if (
                    spec.input_encoding == "constant"
                    and stage.name not in spec.time_varying
                ):
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

    def _integer_plan(self, spec):
        """The integer spike-reading stages (`rateconv.simulator._integer`)."""
        if self.precision != "int8":
            return {}
        key = (spec.input_encoding, spec.time_varying, spec.probe_layers)
        if key not in self._plans:
            static = self._static_stages(spec)
            self._plans[key] = integer_plan(
                self.network, static, self.dt, probed=spec.probe_layers
            )
        return self._plans[key]

    def _float64_op(self, stage):
        key = (stage.name, "float64")
        if key not in self._low_precision:
            shapes = [self.network[n].output_shape for n in stage.inputs]
            self._low_precision[key] = _LowPrecisionOp(stage.op, shapes, "float64")
        return self._low_precision[key]

    def _ops(self, static, plan=None):
        """Each stage's operation; bfloat16 twins for layers reading spikes,
        or integer ones (``plan``, with precision int8)."""
        ops = {s.name: s.op for s in self.network.stages}
        for name, path in (plan or {}).items():
            key = (name, path)
            if key not in self._low_precision:
                self._low_precision[key] = IntegerSpikeOp(
                    self.network[name].op, path, with_bias=path.synapse is None
                )
            ops[name] = self._low_precision[key]
        if self.precision == "int8":
            # the other weighted layers that change over time stay float32
            # (a float64 convolution at every step costs several times more);
            # those computed once per minibatch run in float64 (`_statics_fn`)
            return ops
        if self.precision != "bfloat16":
            return ops
        for s in self.network.stages:
            if (
                s.name not in static
                and not s.is_input
                and getattr(s.op, "kernel", None) is not None
                and isinstance(s.op, keras.layers.Layer)
            ):
                if s.name not in self._low_precision:
                    shapes = [self.network[n].output_shape for n in s.inputs]
                    self._low_precision[s.name] = _LowPrecisionOp(s.op, shapes)
                ops[s.name] = self._low_precision[s.name]
        return ops

    # ------------------------------------------------------------- graphs

    def _statics_fn(self, spec):
        key = (spec.input_encoding, spec.time_varying)
        if key in self._statics:
            return self._statics[key]
        net = self.network
        static = self._static_stages(spec)

        ops = {
            s.name: self._float64_op(s) if self.precision == "int8" else s.op
            for s in net.stages
            if s.name in static and _weighted(s)
        }

        @tf.function
        def run(inputs):
            values = dict(inputs)
            for stage in net.stages:
                if stage.name in static and not stage.is_input:
                    values[stage.name] = apply_op(
                        ops.get(stage.name, stage.op),
                        [values[n] for n in stage.inputs],
                    )
            return values

        self._statics[key] = run
        return run

    def _chunk_fn(self, spec, batch):
        """The compiled run of one chunk of ``spec.n_steps`` steps."""
        key = (spec, batch)
        if key not in self._graphs:
            self._graphs[key] = self._build_chunk(spec)
        return self._graphs[key]

    def _build_chunk(self, spec):
        net = self.network
        n_chunk = spec.n_steps
        static = self._static_stages(spec)
        plan = self._integer_plan(spec)
        ops = self._ops(static, plan)
        moved = {p.source for p in plan.values() if p.synapse is not None}
        moved_scans = {
            name: moved_synapse_scan(
                p.synapse, ops[name].multiplier, ops[name].bias, self.dt, n_chunk
            )
            for name, p in plan.items()
            if p.synapse is not None
        }
        scans = {
            s.name: _neuron_loop(s, self.dt, voltage=s.name in spec.probe_voltages)(
                s.spiking_neuron,
                None if s.name in moved else s.synapse,
                self.dt,
                n_chunk,
                # a neuron stage whose current is constant scans a static J
                all(n in static for n in s.inputs),
                count=spec.count_spikes,
                rows=spec.count_rows,
                **({"voltage": True} if s.name in spec.probe_voltages else {}),
            )
            for s in net.neuron_stages
        }
        probe_scan = (
            synapse_scan(spec.probe_synapse, self.dt, n_chunk)
            if spec.probe_synapse
            else None
        )

        def fold(op, values):
            return fold_time(op, values, n_chunk)

        def stage_value(stage, values, st, mask):
            """``((value, is_temporal), counts or None)``; updates ``st``."""
            ins = [values[n] for n in stage.inputs]
            if stage.spiking_max_pool is not None:
                x, is_t = ins[0]
                if not is_t:
                    return (stage.op(x), False), None
                v, st["pool"] = max_pool_chunk(stage, x, st["pool"], fold)
            else:
                v = fold(ops[stage.name], ins)
                is_t = any(t for _, t in ins)
                if stage.name in moved_scans:
                    v, st["moved"] = moved_scans[stage.name](v, st["moved"])
                if stage.spiking_neuron is None:
                    return (v, is_t), None
            if stage.spiking_neuron is None:
                return (v, True), None
            res = scans[stage.name](v, st["neuron"], st["synapse"], mask)
            v, st["neuron"], st["synapse"] = res[:3]
            if stage.name in spec.probe_voltages:  # the scan's last result
                values[stage.name, "voltage"] = (res[-1], True)
            return (v, True), (res[3:5] if spec.count_spikes else None)

        @tf.function
        def run(statics, temporal, states, probes, t0, mask, seed, batch_start, total):
            values = {}  # name -> (tensor, is_temporal)
            for stage in net.stages:
                if stage.name in static:
                    values[stage.name] = (statics[stage.name], False)
                elif stage.is_input:  # time-varying or rate-coded input
                    varies = stage.name in spec.time_varying
                    x = temporal[stage.name] if varies else statics[stage.name]
                    if spec.input_encoding != "constant":
                        x = encode_inputs(
                            x,
                            spec.input_encoding,
                            t0,
                            n_chunk,
                            seed,
                            batch_start,
                            total,
                            time_major=varies,
                            stream=net.inputs.index(stage.name),
                        )
                    values[stage.name] = (x, True)
            new_states, counts = advance_stages(net, values, states, stage_value, mask)
            outputs, new_probes = [], []
            for name, pst in zip(net.outputs, probes):
                v, is_t = values[name]
                if not is_t:
                    v = tf.broadcast_to(v[None], tf.concat([[n_chunk], tf.shape(v)], 0))
                if probe_scan is not None:
                    v, pst = probe_scan(v, pst)
                if net[name].readout is not None:
                    v = net[name].readout(v)
                outputs.append(v)
                new_probes.append(pst)
            layers = [values[n][0] for n in spec.probe_keys]
            return outputs, new_states, new_probes, counts, layers

        return run
