"""The reference engine: the whole network once per timestep.

Slow and plain on purpose: tests cross-check the other engines against it.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from rateconv.simulator._engines import Engine, register_engine
from rateconv.simulator._max_pool import max_pool_step
from rateconv.simulator._run import (
    RunResult,
    apply_op,
    initial_states,
    poisson_spikes,
    probe_states,
)


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
        inputs = {n: tf.constant(a) for n, a in zip(net.inputs, minibatch.inputs)}
        states = initial_states(net, size, spec.seed, minibatch.start)
        probes = probe_states(net, spec.probe_synapse, size)
        mask = tf.constant(minibatch.mask)
        key = spec.graph_key(1)
        if key not in self._graphs:
            self._graphs[key] = self._build_step(key)
        step = self._graphs[key]
        outputs = [[] for _ in net.outputs]
        layers = {n: [] for n in spec.probe_layers}
        counts = {}
        for t in range(spec.n_steps):
            outs, states, probes, c, lay = step(
                inputs,
                states,
                probes,
                mask,
                tf.constant(t, tf.int64),
                tf.constant(spec.seed, tf.int64),
                tf.constant(minibatch.start, tf.int64),
            )
            for i, o in enumerate(outs):
                outputs[i].append(o.numpy())
            for n in spec.probe_layers:
                layers[n].append(lay[n].numpy())
            for n, v in c.items():
                counts[n] = counts.get(n, 0) + v.numpy()
        return RunResult(
            outputs=[np.stack(o, axis=1) for o in outputs],
            layers={n: np.stack(v, axis=1) for n, v in layers.items()},
            counts=counts,
        )

    def _build_step(self, spec):
        net = self.network
        dt = self.dt

        def stage_value(stage, values, st, mask):
            """``(value, counts or None)`` of one stage; updates ``st``."""
            ins = [values[n] for n in stage.inputs]
            if stage.spiking_max_pool is not None:
                v, st["pool"] = max_pool_step(stage, ins[0], st["pool"])
            else:
                v = apply_op(stage.op, ins)
            neuron = stage.spiking_neuron
            if neuron is None:
                return v, None
            v, st["neuron"] = neuron.step(v, st["neuron"], dt)
            counts = tf.tensordot(mask, v, axes=[[0], [0]]) * (dt / neuron.amplitude)
            if stage.synapse is not None:
                v, st["synapse"] = stage.synapse.step(v, st["synapse"], dt)
            return v, counts

        @tf.function
        def step(inputs, states, probes, mask, t, seed, batch_start):
            values = {}
            new_states = {}
            counts = {}
            for stage in net.stages:
                if stage.is_input:
                    x = inputs[stage.name]
                    if spec.input_encoding == "poisson":
                        x = poisson_spikes(x, t, 1, seed, batch_start)[0]
                    values[stage.name] = x
                    continue
                st = dict(states[stage.name])
                values[stage.name], c = stage_value(stage, values, st, mask)
                if c is not None:
                    counts[stage.name] = c
                new_states[stage.name] = st
            outputs, new_probes = [], []
            for name, pst in zip(net.outputs, probes):
                v = values[name]
                if spec.probe_synapse is not None:
                    v, pst = spec.probe_synapse.step(v, pst, dt)
                if net[name].readout is not None:
                    v = net[name].readout(v)
                outputs.append(v)
                new_probes.append(pst)
            layers = {n: values[n] for n in spec.probe_layers}
            return outputs, new_states, new_probes, counts, layers

        return step
