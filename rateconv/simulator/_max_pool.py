"""Spiking max pooling, shared by the engines.

Each window outputs the increase of the max over its inputs' running sums, so
the cumulative output is exactly the max of the cumulative inputs: the output
rate converges to the max of the input rates, and with spike inputs the output
is made of whole spikes.  (Gating by the current leader would lose or duplicate
spikes when two inputs fire at about the same rate.)
"""

from __future__ import annotations

import tensorflow as tf


def max_pool_step(stage, x, state):
    """One step: ``(output, (running_sum, running_max))``."""
    running_sum, running_max = state
    running_sum = running_sum + x
    new_max = stage.op(running_sum)
    return new_max - running_max, (running_sum, new_max)


def max_pool_chunk(stage, x, state, fold):
    """A chunk of time-major input ``x``; ``fold(op, values)`` folds time."""
    running_sum, running_max = state
    sums = running_sum[None] + tf.cumsum(x, axis=0)
    maxes = fold(stage.op, [(sums, True)])
    previous = tf.concat([running_max[None], maxes[:-1]], axis=0)
    return maxes - previous, (sums[-1], maxes[-1])
