"""One neuron-and-synapse step in float64, rounded to float32 once.

States live in float32, but each step of a neuron and its connection synapse
is computed in float64 from them and every new state and output is rounded to
float32 once (subnormal results flushed to zero).  So the result does not
depend on how a compiler contracts multiply-adds, nor on which
``expm1`` / ``log1p`` approximation it uses: any two implementations of the
same equations (the XLA loops here, the fused numba kernels of
`rateconv.simulator._fused`, another TensorFlow build or CPU) give the same
float32 numbers, except where a float64 result lands within a float64 rounding
of a float32 rounding boundary (about once in 2**29 values).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

FLT_MIN = float(np.finfo(np.float32).tiny)


def to_float32(x):
    """``x`` rounded to float32, subnormal results flushed to zero."""
    y = tf.cast(x, tf.float32)
    return tf.where(tf.abs(y) < FLT_MIN, tf.zeros_like(y), y)


def exact_step(neuron, synapse, j, state, syn_state, dt):
    """One step of ``neuron`` (and ``synapse``) on float32 tensors.

    Returns
    -------
    output : tensor, float32
        The (filtered) output.
    state, syn_state : tuple of tensor, float32
    spikes : tensor, float64
        Spikes of each neuron this step (whole numbers; either sign counts).
    """
    j64 = tf.cast(j, tf.float64)
    state64 = tuple(tf.cast(s, tf.float64) for s in state)
    out, state64 = neuron.step(j64, state64, dt)
    # spikes are whole multiples of amplitude / dt
    spikes = tf.round(tf.abs(out) * (dt / neuron.amplitude))
    if synapse is not None:
        syn64 = tuple(tf.cast(s, tf.float64) for s in syn_state)
        out, syn64 = synapse.step(out, syn64, dt)
        syn_state = tuple(to_float32(s) for s in syn64)
    new_state = tuple(to_float32(s) for s in state64)
    return to_float32(out), new_state, syn_state, spikes
