"""Fused CPU neuron kernels: a chunk of steps of a neuron layer in one pass.

The XLA neuron loop (`rateconv.simulator._time_batched.neuron_scan`) runs
each step as several kernels that read and write every state tensor, so on a
CPU it is bound by memory traffic: about as costly as the convolution that
feeds it.  These numba kernels keep time innermost instead: each thread takes
a block of neurons of one sample, keeps their state in L1 cache over the whole
chunk, reads each input current once and writes each output once (the
neuron, its connection synapse and the spike count in one loop), vectorized
over the block and parallel over blocks.

They compute exactly what the XLA loop computes: the same float32 operations
in the same order, with XLA's multiply-add contractions and its ``expm1`` /
``log1p`` (`rateconv.simulator._xla_math`), so spikes, states and outputs are
bit for bit those of the XLA loop (`tests/test_fused.py`), up to XLA flushing
subnormal numbers to zero (the kernels flush the synapse and voltage states
the same way; other subnormal results never change a spike).  Spike counts
are exact integers (the XLA loop's are float sums of ``amplitude / dt``
rescaled, equal to them within float rounding).

Covered: `LIF` (refractory period, either reset, ``min_voltage``),
`SpikingRectifiedLinear` (integrate-and-fire, either reset), with no synapse,
a `Lowpass` or an `Alpha` synapse.  Anything else, and any run where numba is
missing or the tensors are not on the CPU, uses the XLA loop.
"""

from __future__ import annotations

import os

import numpy as np

try:  # numba is optional: without it every neuron runs in the XLA loop
    from numba import njit, prange

    from rateconv.simulator import _xla_math as xm
except ImportError:  # pragma: no cover - exercised where numba is absent
    njit = None

BLOCK = 1024
"""Neurons of one sample a thread advances together (their state stays in L1)."""

ENV_SWITCH = "RATECONV_FUSED"
"""Environment variable: ``0`` turns the fused kernels off (XLA loops only)."""

_enabled = [True]


def set_enabled(flag):
    """Turn the fused kernels on or off for graphs built from now on.

    Returns the previous setting (`rateconv bench` times both).
    """
    previous = _enabled[0]
    _enabled[0] = bool(flag)
    return previous


def available():
    """Whether the fused kernels can run here.

    numba importable, not turned off (`set_enabled`, ``RATECONV_FUSED=0``),
    and no GPU visible to TensorFlow (there the XLA loops run on the GPU).
    """
    if njit is None or not _enabled[0] or os.environ.get(ENV_SWITCH, "1") == "0":
        return False
    import tensorflow as tf

    return not tf.config.list_logical_devices("GPU")


# ---------------------------------------------------------------------------
# Kernels (compiled on first use; cached on disk by numba)
# ---------------------------------------------------------------------------

if njit is not None:
    from llvmlite import binding as _llvm

    # The inner loops touch up to eight arrays; LLVM's default budget of
    # runtime alias checks (8) would leave them scalar.
    _llvm.set_option("rateconv", "-runtime-memory-check-threshold=64")

    _OPTS = {"fastmath": False, "error_model": "numpy"}  # no Python div checks

    @njit(inline="always", **_OPTS)
    def _flush(x):
        # XLA runs with subnormals flushed to zero; so do the kernels, on the
        # states that decay towards zero (a silent neuron's voltage, a synapse)
        return xm.ZERO if xm.fabs32(x) < xm._FLT_MIN else x

    @njit(inline="always", **_OPTS)
    def _copy(src, dst):
        for i in range(src.shape[0]):
            dst[i] = src[i]

    # The row functions advance one sample's block of neurons by one step.
    # Kept out of line, their loops see only 1-D arrays and vectorize.

    @njit(nogil=True, cache=True, **_OPTS)
    def _lif_row(jb, vb, rb, ob, cb, p, w, static, reset_sub):
        gain, bias, dt, tau_rc, tau_ref, amp_dt, min_v, recip_tau = p[:8]
        lim, bias_m1 = p[10], p[11]
        for i in range(vb.shape[0]):
            x = jb[i]
            cur = xm.fma(x, gain, bias)
            ref = rb[i] + (-dt)
            d = dt - ref
            d = xm.ZERO if d < xm.ZERO else d
            d = dt if d > dt else d
            e = xm.expm1((-d) * recip_tau)
            v0 = vb[i]
            v = xm.fma(-(cur - v0), e, v0)
            spiked = v > xm.ONE
            # J - 1; where J is constant XLA computes it once, outside its
            # loop, folded to x * gain + (bias - 1)
            cm1 = xm.fma(x, gain, bias_m1) if static else cur + xm.MINUS_ONE
            den = cm1 if spiked else xm.ONE
            over = (v + xm.MINUS_ONE) / den if spiked else xm.ZERO
            over = lim if over > lim else over
            ts = xm.fma(tau_rc, xm.log1p(-over), dt)
            rb[i] = (tau_ref + ts) if spiked else ref
            low = v if v > min_v else min_v
            reset = (v + xm.MINUS_ONE) if reset_sub else xm.ZERO
            vb[i] = reset if spiked else _flush(low)
            cb[i] += w if spiked else xm.ZERO
            ob[i] = amp_dt if spiked else xm.ZERO

    @njit(nogil=True, cache=True, **_OPTS)
    def _if_row(jb, vb, ob, cb, p, w, static, reset_sub):
        gain, bias, dt, amp_dt, gain_dt = p[0], p[1], p[2], p[3], p[6]
        no_bias = p[7] != xm.ZERO
        for i in range(vb.shape[0]):
            x = jb[i]
            v0 = vb[i]
            # voltage + (x * gain + bias) * dt, rounded as XLA rounds it: it
            # folds gain * dt when there is no bias, and computes a constant
            # current's charge once, outside its loop
            cur = xm.fma(x, gain, bias)
            q = x * gain_dt if no_bias else cur * dt
            fused = xm.fma(x, gain_dt, v0) if no_bias else xm.fma(cur, dt, v0)
            v = v0 + q if static else fused
            k = xm.floor32(v)
            k = k if k > xm.ZERO else xm.ZERO
            kept = v - k if reset_sub else v
            vb[i] = xm.ZERO if (k > xm.ZERO and not reset_sub) else kept
            cb[i] += w * k
            ob[i] = k * amp_dt

    @njit(nogil=True, cache=True, **_OPTS)
    def _synapse_row(ob, sb, a, one_minus_a):
        # Lowpass.step: y = a * s + (1 - a) * x; XLA contracts the first
        # product into the add
        for i in range(ob.shape[0]):
            y = _flush(xm.fma(a, sb[i], one_minus_a * ob[i]))
            sb[i] = y
            ob[i] = y

    @njit(parallel=True, nogil=True, cache=True, **_OPTS)
    def _kernel(j, static, states_in, syn_in, mask, n_rows, reset_sub, n_steps, p, lif):
        """A chunk of ``n_steps`` steps of LIF (``lif``) or IF neurons.

        ``j``: (T or 1, B, N); ``states_in``: (n_states, B, N) (voltage, then
        refractory time); ``syn_in``: (stages, B, N); ``p``: float32
        parameters (`_params`), the synapse's decay and its complement at 8
        and 9.  Returns the output (T, B, N), the new states and synapse
        states and the spike count of each neuron.
        """
        _, batch, n = states_in.shape
        a, one_minus_a = p[8], p[9]
        out = np.empty((n_steps, batch, n), np.float32)
        states = np.empty_like(states_in)
        syn = np.empty_like(syn_in)
        counts = np.zeros(n, np.float32)
        for blk in prange((n + BLOCK - 1) // BLOCK):
            lo = blk * BLOCK
            hi = min(lo + BLOCK, n)
            cb = counts[lo:hi]
            for b in range(batch):
                w = mask[b] if b < n_rows else xm.ZERO
                for k in range(states.shape[0]):
                    _copy(states_in[k, b, lo:hi], states[k, b, lo:hi])
                for k in range(syn.shape[0]):
                    _copy(syn_in[k, b, lo:hi], syn[k, b, lo:hi])
                vb = states[0, b, lo:hi]
                for t in range(n_steps):
                    jb = j[0 if static else t, b, lo:hi]
                    ob = out[t, b, lo:hi]
                    if lif:
                        rb = states[1, b, lo:hi]
                        _lif_row(jb, vb, rb, ob, cb, p, w, static, reset_sub)
                    else:
                        _if_row(jb, vb, ob, cb, p, w, static, reset_sub)
                    for k in range(syn.shape[0]):
                        _synapse_row(ob, syn[k, b, lo:hi], a, one_minus_a)
        return out, states, syn, counts


# ---------------------------------------------------------------------------
# The TensorFlow side: a drop-in for `neuron_scan`
# ---------------------------------------------------------------------------


def _f32(x):
    return np.float32(x)


def _kind(neuron, synapse):
    """``"lif"``, ``"if"`` or None (no kernel) for a neuron and its synapse."""
    from rateconv.neurons import LIF, SpikingRectifiedLinear
    from rateconv.synapses import Lowpass

    if synapse is not None and (
        not isinstance(synapse, Lowpass) or synapse.n_stages > 2
    ):
        return None
    if type(neuron) is LIF:
        return "lif"
    if type(neuron) is SpikingRectifiedLinear:
        return "if"
    return None


def supports(neuron, synapse):
    """Whether a fused kernel covers this neuron type and synapse here."""
    return available() and _kind(neuron, synapse) is not None


def _params(neuron, synapse, dt):
    """The kernel's float32 parameters, rounded as TensorFlow rounds them."""
    if synapse is None:
        a = one_minus_a = 0.0
    else:
        a = synapse.decay(dt)
        one_minus_a = 1 - a
    amp_dt = neuron.amplitude / dt
    if _kind(neuron, synapse) == "if":
        gain_dt = _f32(neuron.gain) * _f32(dt)  # XLA folds constants in float32
        no_bias = neuron.bias == 0
        values = (
            neuron.gain,
            neuron.bias,
            dt,
            amp_dt,
            0.0,
            0.0,
            gain_dt,
            no_bias,
            a,  # the synapse's parameters sit at 8 and 9 for both kinds
            one_minus_a,
        )
        return np.array(values, np.float32)
    tau_rc = _f32(neuron.tau_rc)
    values = (
        neuron.gain,
        neuron.bias,
        dt,
        tau_rc,
        neuron.tau_ref,
        amp_dt,
        neuron.min_voltage,
        # XLA divides by a constant as a multiplication by its float32 inverse
        _f32(1) / tau_rc,
        a,
        one_minus_a,
        1.0 - 1e-7,
        _f32(neuron.bias) + _f32(-1),
    )
    return np.array(values, np.float32)


def _aligned_empty(shape):
    """A float32 array on a 64-byte boundary, so TensorFlow takes it uncopied."""
    n = int(np.prod(shape))
    raw = np.empty(n + 16, np.float32)
    offset = (-raw.ctypes.data % 64) // 4
    return raw[offset : offset + n].reshape(shape)


def fused_scan(neuron, synapse, dt, n_steps, static, count="all", rows=None):
    """`neuron_scan`'s contract, run by a fused kernel (call `supports` first).

    Returns ``fn(j, neuron_state, synapse_state, mask)`` for use inside a
    (non-XLA) `tf.function`: the kernel runs through `tf.numpy_function` on
    the tensors' memory.
    """
    import tensorflow as tf

    lif = _kind(neuron, synapse) == "lif"
    params = _params(neuron, synapse, dt)
    reset_sub = neuron.reset == "subtract"
    n_state = len(neuron.state_names)
    n_syn = synapse.n_stages if synapse is not None else 0

    def run(j, mask, *states):
        batch = mask.shape[0]
        n = j.size // (batch if static else batch * n_steps)
        j3 = j.reshape(1 if static else n_steps, batch, n)
        stack = [s.reshape(1, batch, n) for s in states]
        neuron_states = np.concatenate(stack[:n_state])
        if n_syn:
            syn = np.concatenate(stack[n_state:])
        else:
            syn = np.empty((0, batch, n), np.float32)
        n_rows = 0 if not count else min(rows or batch, batch)
        out, new, new_syn, counts = _kernel(
            j3,
            static,
            neuron_states,
            syn,
            mask,
            n_rows,
            reset_sub,
            n_steps,
            params,
            lif,
        )
        return (out, *new, *new_syn, counts)

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
