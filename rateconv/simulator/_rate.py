"""Rate mode: every neuron replaced by its rate function, no time axis."""

from __future__ import annotations

import tensorflow as tf

from rateconv.simulator._engines import Engine
from rateconv.simulator._run import RunResult, apply_op


def rate_activation(stage, v):
    """A stage's rate-mode value from its operation's output ``v``."""
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
            v = apply_op(stage.op, [values[n] for n in stage.inputs])
            values[stage.name] = activation(stage, v)
        return [values[n] for n in network.outputs]

    return forward


class RateEngine(Engine):
    """Runs rate mode (equal to the Keras model's ``predict``)."""

    name = "rate"

    def __init__(self, network, **options):
        super().__init__(network, **options)
        self._forward = None

    def run_batch(self, minibatch, spec):
        if self._forward is None:
            self._forward = forward_graph(self.network, rate_activation)
        outs = self._forward(*[tf.constant(a) for a in minibatch.inputs])
        return RunResult(outputs=[o.numpy() for o in outs])
