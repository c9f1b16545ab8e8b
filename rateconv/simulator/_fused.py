"""Fused CPU neuron kernels: a chunk of steps of a neuron layer in one pass.

The XLA neuron loop (`rateconv.simulator._time_batched.neuron_scan`) runs
each step as several kernels that read and write every state tensor, so on a
CPU it is bound by memory traffic: about as costly as the convolution that
feeds it.  These numba kernels keep time innermost instead: each thread takes
a block of neurons of one sample, keeps their state in L1 cache over the whole
chunk, reads each input current once and writes each output once (the
neuron, its connection synapse and the spike count in one loop), vectorized
over the block and parallel over blocks.

They compute what the XLA loop computes (`rateconv.simulator._exact`): each
neuron-step in float64 from float32 states, each new state rounded to float32
once, so spikes, states and outputs agree with the XLA loop bit for bit
(`tests/test_fused.py`) and with a float64 NumPy port of the neuron equations
to float rounding (`tests/reference.py`).  Spike counts are exact integers.
Any TensorFlow build gives the same results: nothing depends on how XLA
evaluates ``expm1`` or ``log1p``.

On by default where numba is installed; ``RATECONV_FUSED=0`` turns them off.
Covered: `LIF` (refractory period, either reset, ``min_voltage``),
`SpikingRectifiedLinear` (integrate-and-fire, either reset), with no synapse,
a `Lowpass` or an `Alpha` synapse.  Anything else, and any run where numba is
missing or the tensors are not on the CPU, uses the XLA loop.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import threading

import numpy as np

HAVE_NUMBA = importlib.util.find_spec("numba") is not None
"""numba is a dependency, but rateconv runs without it (XLA loops only)."""

ENV_SWITCH = "RATECONV_FUSED"
"""Environment variable: ``0`` turns the fused kernels off (XLA loops only)."""

# On by default (`rateconv bench`, "kernels on/off", times both).
_enabled = [os.environ.get(ENV_SWITCH, "1") != "0"]

# TensorFlow may run two neuron stages at once (parallel branches of a graph);
# numba's default threading layer aborts on concurrent parallel launches, and
# each kernel uses every core anyway
_KERNEL_LOCK = threading.Lock()


def set_enabled(flag):
    """Turn the fused kernels on or off for graphs built from now on.

    Returns the previous setting (`rateconv bench` times both).
    """
    previous = _enabled[0]
    _enabled[0] = bool(flag)
    return previous


def available():
    """Whether the fused kernels run here.

    numba importable, not turned off (`set_enabled`, ``RATECONV_FUSED=0``),
    and no GPU visible to TensorFlow (there the XLA loops run on the GPU).
    """
    if not HAVE_NUMBA or not _enabled[0]:
        return False
    import tensorflow as tf

    return not tf.config.list_logical_devices("GPU")


# ---------------------------------------------------------------------------
# The TensorFlow side: a drop-in for `neuron_scan`
# ---------------------------------------------------------------------------


def _f32(x):
    return np.float32(x)


def _kind(neuron, synapse, dt=0.001):
    """``"lif"``, ``"if"`` or None (no kernel) for a neuron and its synapse."""
    from rateconv.neurons import LIF, SpikingRectifiedLinear
    from rateconv.synapses import Lowpass

    if synapse is not None and (
        not isinstance(synapse, Lowpass) or synapse.n_stages > 2
    ):
        return None
    if type(neuron) is LIF:
        # the kernel's expm1 takes arguments down to -64 (8 halvings)
        return "lif" if dt / neuron.tau_rc <= 64 else None
    if type(neuron) is SpikingRectifiedLinear:
        # with or without a spike cap (`max_spikes_per_step`)
        return "if"
    return None


def supports(neuron, synapse, dt=0.001):
    """Whether a fused kernel covers this neuron type and synapse here."""
    return available() and _kind(neuron, synapse, dt) is not None


def _params(neuron, synapse, dt):
    """The kernel's float64 parameters (see `_fused_kernels.kernel`)."""
    if synapse is None:
        a = one_minus_a = 0.0
    else:
        a = synapse.decay(dt)
        one_minus_a = 1 - a
    lif = _kind(neuron, synapse, dt) == "lif"
    tau_rc = neuron.tau_rc if lif else 1.0
    cap = getattr(neuron, "max_spikes_per_step", None)
    halvings = max(0, math.ceil(math.log2(4 * dt / tau_rc)))
    values = (
        neuron.gain,
        neuron.bias,
        dt,
        # the expm1 of a whole step, computed once
        math.expm1(-dt / tau_rc),
        tau_rc,
        neuron.tau_ref if lif else 0.0,
        1.0 - 1e-7,  # the cap on the overshoot of `lif_step`
        neuron.amplitude / dt,
        a,  # the synapse's parameters
        one_minus_a,
        neuron.min_voltage if lif else 0.0,
        math.inf if cap is None else float(cap),
        # halvings of the argument of the partial step's expm1 (at most
        # dt / tau_rc): to 1/4 or less, at most 8
        halvings,
        2.0**-halvings,
        1.0 / tau_rc,
    )
    return np.array(values, np.float64)


class _Buffers:
    """Reusable 64-byte-aligned float32 arrays, so TensorFlow takes them uncopied.

    TensorFlow wraps an aligned array returned by `tf.numpy_function` without
    copying it and keeps a reference to it while the tensor lives; an array
    is handed out again only once no such reference is left.  Reusing them
    spares the page faults of fresh allocations (most of the kernel's time
    at batch 200 otherwise).
    """

    def __init__(self):
        self._free = {}

    def get(self, shape):
        pool = self._free.setdefault(shape, [])
        for buf in pool:
            # references: the pool's list, this loop, getrefcount's argument
            if sys.getrefcount(buf) <= 3:
                return buf
        n = int(np.prod(shape))
        raw = np.empty(n + 16, np.float32)
        offset = (-raw.ctypes.data % 64) // 4
        buf = raw[offset : offset + n].reshape(shape)
        pool.append(buf)
        return buf


def fused_scan(neuron, synapse, dt, n_steps, static, count="all", rows=None):
    """`neuron_scan`'s contract, run by a fused kernel (call `supports` first).

    Returns ``fn(j, neuron_state, synapse_state, mask)`` for use inside a
    (non-XLA) `tf.function`: the kernel runs through `tf.numpy_function` on
    the tensors' memory.
    """
    import tensorflow as tf

    from rateconv.simulator._fused_kernels import kernel

    lif = _kind(neuron, synapse, dt) == "lif"
    params = _params(neuron, synapse, dt)
    reset_sub = neuron.reset == "subtract"
    n_state = len(neuron.state_names)
    n_syn = synapse.n_stages if synapse is not None else 0
    buffers = _Buffers()

    def run(j, mask, *states):
        with _KERNEL_LOCK:  # the buffers too
            return _run(j, mask, *states)

    def _run(j, mask, *states):
        batch = mask.shape[0]
        n = j.size // (batch if static else batch * n_steps)
        j3 = j.reshape(1 if static else n_steps, batch, n)
        ins = [s.reshape(batch, n) for s in states]
        outs = [buffers.get((batch, n)) for _ in ins]
        # absent states (IF's refractory time, missing synapse stages): any
        # array of the right type, never touched
        v, r = ins[0], ins[1] if lif else ins[0]
        syn_in = ins[n_state:] + [v] * (2 - n_syn)
        ins = (v, r, syn_in[0], syn_in[1])
        v, r = outs[0], outs[1] if lif else outs[0]
        syn_out = outs[n_state:] + [v] * (2 - n_syn)
        out = buffers.get((n_steps, batch, n))
        n_rows = 0 if not count else min(rows or batch, batch)
        counts = kernel(
            j3,
            static,
            ins,
            (v, r, syn_out[0], syn_out[1]),
            n_syn,
            mask,
            n_rows,
            reset_sub,
            params,
            lif,
            out,
        )
        return (out, *outs, counts)

    def scan(j, state, syn_state, mask):
        shape = (j if static else j[0]).shape
        n_out = 1 + n_state + n_syn + 1
        res = tf.numpy_function(
            run, [j, mask, *state, *syn_state], [tf.float32] * n_out, stateful=False
        )
        outs = tf.reshape(
            res[0], tf.concat([[n_steps], tf.shape(mask)[:1], shape[1:]], 0)
        )
        outs.set_shape([n_steps, *shape])
        new_state = tuple(
            tf.ensure_shape(tf.reshape(s, tf.shape(state[0])), shape)
            for s in res[1 : 1 + n_state]
        )
        new_syn = tuple(
            tf.ensure_shape(tf.reshape(s, tf.shape(state[0])), shape)
            for s in res[1 + n_state : 1 + n_state + n_syn]
        )
        if not count:
            return outs, new_state, new_syn
        counts = tf.reshape(res[-1], shape[1:])
        return outs, new_state, new_syn, counts

    return scan


def moved_synapse(synapse, multiplier, bias, dt, n_steps):
    """`rateconv.simulator._integer.moved_synapse_scan`'s contract, run by a
    numba kernel: ``fn(x, state) -> (out, state)``."""
    import tensorflow as tf

    from rateconv.simulator._fused_kernels import moved_synapse_kernel

    a = float(synapse.decay(dt))
    n_syn = synapse.n_stages
    buffers = _Buffers()

    def run(x, *states):
        with _KERNEL_LOCK:
            batch = x.shape[1]
            n = x.size // (n_steps * batch)
            channels = multiplier.shape[0]
            mult = np.tile(multiplier, n // channels)
            b = np.tile(bias, n // channels)
            state = np.stack([s.reshape(batch, n) for s in states])
            out = buffers.get((n_steps, batch, n))
            moved_synapse_kernel(
                x.reshape(n_steps, batch, n), state, out, mult, b, a, n_syn
            )
            return (out, *state)

    def scan(x, state):
        res = tf.numpy_function(
            run, [x, *state], [tf.float32] * (1 + n_syn), stateful=False
        )
        out = tf.ensure_shape(tf.reshape(res[0], tf.shape(x)), x.shape)
        new = tuple(
            tf.ensure_shape(tf.reshape(s, tf.shape(state[0])), state[0].shape)
            for s in res[1:]
        )
        return out, new

    return scan
