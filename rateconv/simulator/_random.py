"""Per-sample random streams: the same draws whatever the minibatch layout.

Every random number a run uses (the Poisson input spikes, the ``"uniform"``
initial voltages) is a pure function of ``(seed, stream, sample, step,
element)``: the run's seed, what is drawn (which input or which stage), the
sample's index in the whole run, the timestep and the element's position in
the sample.  So a sample sees the same draws in a minibatch of 3 or of 200,
at any position in it, on any replica of a `tf.distribute` strategy, and in
either engine.

The scheme is counter-based, as Philox is, but vectorised over samples: each
``(seed, stream, sample, step)`` is hashed to a 64-bit key with SplitMix64's
finaliser (Steele, Lea & Flood 2014), and the ``e``-th draw of that key is the
finaliser of ``key + e * golden`` -- SplitMix64's own generator started at the
key, which passes BigCrush.  Keys are 64 bits, so the 784-draw runs of two
different ``(sample, step)`` pairs overlap with a chance of about
``784 / 2**64`` each.  A draw keeps the top 24 bits: a float32 in
``[0, 1 - 2**-24]`` (every value exact), so ``u < p`` spikes never at ``p = 0``
and always at ``p = 1``.

The integer work runs in XLA (`tf.function` with ``jit_compile=True``),
which fuses it into one pass and has 64-bit unsigned arithmetic on every
device: about 9 ms for the 25 steps x 200 samples x 784 pixels of a Poisson
chunk on two CPU cores, 5x less than one ``tf.random.stateless_uniform`` per
step was.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

_GOLDEN = 0x9E3779B97F4A7C15  # 2**64 / golden ratio, SplitMix64's increment
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB

POISSON_STREAM = 1 << 32
"""Stream of input ``i``'s Poisson spikes: ``POISSON_STREAM + i``."""
VOLTAGE_STREAM = 2 << 32
"""Stream of stage ``i``'s uniform initial voltages: ``VOLTAGE_STREAM + i``."""
_INITIAL_STEP = -1  # initial voltages are drawn "before" step 0


def _u64(n):
    return tf.constant(n, tf.uint64)


def _mix(z):
    """SplitMix64's finaliser: a bijection of uint64 that scrambles every bit."""
    xor, shift = tf.bitwise.bitwise_xor, tf.bitwise.right_shift
    z = xor(z, shift(z, _u64(30))) * _u64(_M1)
    z = xor(z, shift(z, _u64(27))) * _u64(_M2)
    return xor(z, shift(z, _u64(31)))


def _as_u64(x):
    # int64 -> uint64 keeps the bits (two's complement), so negative steps work
    return tf.bitcast(tf.cast(x, tf.int64), tf.uint64)


def _draws(seed, stream, samples, steps, n_elements):
    """Uniform draws, shape ``(len(steps), len(samples), n_elements)``."""
    g = _u64(_GOLDEN)
    key = _mix(_as_u64(seed) * g + _as_u64(stream))
    key = _mix(key + _as_u64(samples) * g)  # (batch,)
    key = _mix(key[None, :] + _as_u64(steps)[:, None] * g)  # (steps, batch)
    element = _as_u64(tf.range(1, tf.cast(n_elements, tf.int64) + 1)) * g
    bits = _mix(key[:, :, None] + element)
    # the top 24 bits: exactly representable in float32
    return tf.cast(tf.bitwise.right_shift(bits, _u64(40)), tf.float32) * (2.0**-24)


@tf.function(jit_compile=True)
def _bernoulli(x, seed, stream, samples, steps, time_major):
    # shapes through tf.shape: XLA sees them as compile-time constants
    p = x if time_major else x[None]
    n_elements = tf.size(p[0, 0])
    u = _draws(seed, stream, samples, steps, n_elements)
    shape = tf.concat([tf.shape(steps), tf.shape(samples), tf.shape(p)[2:]], 0)
    return tf.cast(tf.reshape(u, shape) < p, x.dtype)


# called eagerly, once per stage and minibatch: ``reduce_retracing`` keeps one
# trace for every stage shape (XLA still compiles each shape, silently)
@tf.function(jit_compile=True, reduce_retracing=True)
def _uniform(elements, seed, stream, samples):
    initial = tf.constant([_INITIAL_STEP], tf.int64)
    return _draws(seed, stream, samples, initial, tf.size(elements))[0]


def sample_indices(start, size):
    """Indices ``start..start+size`` of a minibatch's samples in the whole run."""
    return tf.cast(start, tf.int64) + tf.range(size, dtype=tf.int64)


def bernoulli_spikes(x, seed, stream, samples, steps, time_major=False):
    """Spikes (1.0) with probability ``x``, time-major ``(len(steps), batch, ...)``.

    Parameters
    ----------
    x : tensor, shape ``(batch, ...)``, or ``(len(steps), batch, ...)`` with
        ``time_major``
        Spike probability of each element (at each step).
    seed : int or int64 tensor
    stream : int
        What is drawn (`POISSON_STREAM` + the input's index).
    samples : int64 tensor, shape ``(batch,)``
        Each row's index in the whole run (`sample_indices`).
    steps : int64 tensor, shape ``(n_steps,)``
        The timesteps drawn.
    """
    return _bernoulli(
        x,
        tf.cast(seed, tf.int64),
        tf.constant(stream, tf.int64),
        tf.cast(samples, tf.int64),
        tf.cast(steps, tf.int64),
        time_major,
    )


def uniform_voltage(shape, seed, stage_index, samples):
    """Uniform ``[0, 1)`` initial voltages of stage ``stage_index``, ``shape``.

    ``shape`` is ``(batch, *output_shape)`` and ``samples`` the rows' indices
    in the whole run; each sample draws the same voltages wherever it runs.
    """
    shape = tuple(int(d) for d in shape)
    u = _uniform(
        tf.zeros(int(np.prod(shape[1:])), tf.int8),  # its shape only: the elements
        tf.cast(seed, tf.int64),
        tf.constant(VOLTAGE_STREAM + stage_index, tf.int64),
        tf.cast(samples, tf.int64),
    )
    return tf.reshape(u, shape)
