"""The reference engine: the whole network once per timestep.

Slow and plain on purpose: tests cross-check the other engines against it.
"""

from __future__ import annotations

import tensorflow as tf

from rateconv.simulator import _run
from rateconv.simulator._engines import Engine, register_engine
from rateconv.simulator._exact import exact_step
from rateconv.simulator._max_pool import max_pool_step


@register_engine
class StepEngine(Engine):
    """Every stage, neuron and synapse once per step (float32 only)."""

    name = "step"

    def __init__(self, network, **options):
        super().__init__(network, **options)
        self._graphs = {}  # RunSpec.graph_key(1) -> compiled step

    def run_batch(self, minibatch, spec):
        net = self.network
        size = minibatch.size
        varying = spec.time_varying
        inputs = _run.still_inputs(net, minibatch, spec)
        states = _run.initial_states(net, size, spec.seed, minibatch.start)
        probes = _run.probe_states(net, spec.probe_synapse, size)
        per_batch = _run.batch_tensors(minibatch, spec)
        key = spec.graph_key(1)
        if key not in self._graphs:
            self._graphs[key] = self._build_step(key)
        step = self._graphs[key]
        collected = _run.TimeMajorCollector(net, spec.probe_keys)
        for t in range(spec.n_steps):
            now = dict(inputs)  # a time-varying input's step t
            for n, a in zip(net.inputs, minibatch.inputs):
                if n in varying:
                    now[n] = tf.constant(a[:, t])
            outs, states, probes, counts, layers = step(
                now, states, probes, tf.constant(t, tf.int64), *per_batch
            )
            # one step is a chunk of one
            collected.add([o[None] for o in outs], [v[None] for v in layers], counts)
        return collected.result()

    def _build_step(self, spec):
        net = self.network
        dt = self.dt

        def stage_value(stage, values, st, mask):
            """``(value, counts or None)`` of one stage; updates ``st``."""
            ins = [values[n] for n in stage.inputs]
            if stage.spiking_max_pool is not None:
                v, st["pool"] = max_pool_step(stage, ins[0], st["pool"])
            else:
                v = _run.apply_op(stage.op, ins)
            neuron = stage.spiking_neuron
            if neuron is None:
                return v, None
            v, st["neuron"], st["synapse"], spikes = exact_step(
                neuron, stage.synapse, v, st["neuron"], st["synapse"], dt
            )
            if stage.name in spec.probe_voltages:
                values[stage.name, "voltage"] = st["neuron"][0]
            counts = None
            if spec.count_spikes:  # the rows the time-batched engine counts
                rows = spec.count_rows
                weights = tf.cast(mask[:rows], tf.float64)
                counts = tf.tensordot(weights, spikes[:rows], axes=[[0], [0]])
                counts = tf.cast(counts, tf.float32)
            return v, counts

        @tf.function
        def step(inputs, states, probes, t, mask, seed, batch_start, total):
            values = {}
            for stream, name in enumerate(net.inputs):
                x = inputs[name]
                if spec.input_encoding != "constant":
                    encoding = spec.input_encoding
                    x = _run.encode_inputs(
                        x, encoding, t, 1, seed, batch_start, total, stream=stream
                    )
                    x = x[0]
                values[name] = x
            new_states, counts = _run.advance_stages(
                net, values, states, stage_value, mask
            )
            outputs, new_probes = [], []
            for name, pst in zip(net.outputs, probes):
                v = values[name]
                if spec.probe_synapse is not None:
                    v, pst = spec.probe_synapse.step(v, pst, dt)
                if net[name].readout is not None:
                    v = net[name].readout(v)
                outputs.append(v)
                new_probes.append(pst)
            layers = [values[n] for n in spec.probe_keys]
            return outputs, new_states, new_probes, counts, layers

        return step
