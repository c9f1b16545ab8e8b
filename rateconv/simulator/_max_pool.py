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
    if x.shape[0] is None:  # a chunk of unknown length
        sums = running_sum[None] + tf.cumsum(x, axis=0)
    else:
        # step by step, as `max_pool_step` adds (so the sums are bit for bit
        # the step engine's): on the CPU tf.cumsum over the time axis costs
        # 3-4x the pooling itself
        sums = []
        for x_t in tf.unstack(x, num=x.shape[0]):
            running_sum = running_sum + x_t
            sums.append(running_sum)
        sums = tf.stack(sums)
    maxes = fold(stage.op, [(sums, True)])
    previous = tf.concat([running_max[None], maxes[:-1]], axis=0)
    return maxes - previous, (sums[-1], maxes[-1])
