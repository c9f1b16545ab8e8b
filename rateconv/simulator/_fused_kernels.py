"""The numba kernels behind `rateconv.simulator._fused` (imported on first use).

Every neuron-step is computed in float64 from the float32 states and input,
and each new state is rounded to float32 once (`rateconv.simulator._exact`
gives the XLA loop the same arithmetic), so the kernels and the XLA loop
agree bit for bit whatever multiply-add contractions or ``expm1`` / ``log1p``
approximations either side uses, up to a float64 rounding that lands on a
float32 rounding boundary (about one value in 2**29).

The LIF update is cheap for most neurons: a neuron out of its refractory
period integrates over the whole step, ``v - (J - v) * expm1(-dt / tau_rc)``
with the ``expm1`` a constant, and one still refractory keeps its voltage.
Only the neurons that spike (the time of the crossing needs a ``log1p`` and a
division) or leave their refractory period within the step (a partial
``expm1``) are finished in a second, scalar pass: a few percent of them.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import binding as _llvm
from numba import njit, prange

BLOCK = 1024
"""Neurons of one sample a thread advances together (their state stays in cache)."""

FLT_MIN = float(np.finfo(np.float32).tiny)
"""States below this in magnitude are flushed to zero (as TensorFlow's CPU
threads do with subnormal float32 numbers)."""

# The inner loops touch up to eight arrays; LLVM's default budget of
# runtime alias checks (8) would leave them scalar.
_llvm.set_option("rateconv", "-runtime-memory-check-threshold=64")

# no fastmath: every float64 operation is rounded as written (IEEE), which is
# what makes the single float32 rounding of each state reproducible
_OPTS = {"fastmath": False, "error_model": "numpy"}  # no Python div checks


@njit(inline="always", **_OPTS)
def _f32(x):
    """``x`` rounded to float32, subnormal results flushed to zero."""
    y = np.float32(x)
    return np.float32(0.0) if abs(y) < FLT_MIN else y


@njit(inline="always", **_OPTS)
def _copy(src, dst):
    for i in range(src.shape[0]):
        dst[i] = src[i]


# The row functions advance one sample's block of neurons by one step.
# Kept out of line, their loops see only 1-D arrays and vectorize.


@njit(nogil=True, cache=True, **_OPTS)
def _lif_cheap(jb, vb, rb, ob, flags, p, min_v, amp_dt):
    """The vectorized pass: neurons that neither spike nor leave their
    refractory period this step; flags the others (left untouched)."""
    gain, bias, dt, e_full = p[0], p[1], p[2], p[3]
    for i in range(vb.shape[0]):
        cur = np.float64(jb[i]) * gain + bias
        v0 = np.float64(vb[i])
        ref = np.float64(rb[i]) - dt
        # delta_t = clip(dt - ref, 0, dt): dt (out of the refractory period),
        # 0 (still in it: expm1(-0) = -0, the voltage kept) or in between
        full = ref <= 0.0
        e = e_full if full else -0.0
        v = v0 - (cur - v0) * e
        # bitwise, not `or`: no branch, so the loop vectorizes well
        hard = (v > 1.0) | ~(full | (ref >= dt))
        flags[i] = hard
        low = max(v, min_v)
        vb[i] = vb[i] if hard else _f32(low)
        rb[i] = rb[i] if hard else _f32(ref)
        ob[i] = np.float32(0.0)


@njit(nogil=True, cache=True, **_OPTS)
def _lif_hard(jb, vb, rb, ob, cb, flags, p, w, reset_sub, min_v, amp_dt):
    """The scalar pass over the flagged neurons: the whole step as written."""
    gain, bias, dt, e_full, tau_rc, tau_ref, lim = p[0], p[1], p[2], p[3], p[4], p[5], p[6]
    words = flags.view(np.uint64)
    for k in range(words.shape[0]):
        if words[k] == 0:
            continue
        for i in range(8 * k, 8 * k + 8):
            if not flags[i]:
                continue
            cur = np.float64(jb[i]) * gain + bias
            v0 = np.float64(vb[i])
            ref = np.float64(rb[i]) - dt
            delta = min(max(dt - ref, 0.0), dt)
            e = e_full if delta == dt else math.expm1(-delta / tau_rc)
            v = v0 - (cur - v0) * e
            if v > 1.0:
                over = min((v - 1.0) / (cur - 1.0), lim)
                rb[i] = _f32(tau_ref + (dt + tau_rc * math.log1p(-over)))
                vb[i] = _f32(v - 1.0) if reset_sub else np.float32(0.0)
                ob[i] = amp_dt
                cb[i] += w
            else:
                rb[i] = _f32(ref)
                vb[i] = _f32(v if v > min_v else min_v)


@njit(nogil=True, cache=True, **_OPTS)
def _if_row(jb, vb, ob, ob64, cb, p, w, reset_sub, max_spikes, keep64):
    gain, bias, dt, amp_dt = p[0], p[1], p[2], p[7]
    for i in range(vb.shape[0]):
        v = np.float64(vb[i]) + (np.float64(jb[i]) * gain + bias) * dt
        k = max(math.floor(v), 0.0)
        k = min(k, max_spikes)
        kept = v - k if reset_sub else v
        vb[i] = np.float32(0.0) if (k > 0.0 and not reset_sub) else _f32(kept)
        cb[i] += w * np.float32(k)
        y = k * amp_dt
        if keep64:  # for a synapse
            ob64[i] = y
        ob[i] = np.float32(y)


@njit(nogil=True, cache=True, **_OPTS)
def _lif_out64(ob, ob64, amp_dt):
    # the float64 output the synapse filters (as in the XLA loop)
    for i in range(ob.shape[0]):
        ob64[i] = amp_dt if ob[i] != 0 else 0.0


@njit(nogil=True, cache=True, **_OPTS)
def _synapse_row(ob, ob64, sb, a, one_minus_a):
    # Lowpass.step: y = a * s + (1 - a) * x, x the float64 output of the
    # stage before (an alpha synapse's second stage reads the first's)
    for i in range(ob.shape[0]):
        y = a * np.float64(sb[i]) + one_minus_a * ob64[i]
        sb[i] = _f32(y)
        ob64[i] = y
        ob[i] = sb[i]


@njit(parallel=True, nogil=True, cache=True, **_OPTS)
def kernel(j, static, ins, outs, n_syn, mask, n_rows, reset_sub, p, lif, out):
    """A chunk of steps of LIF (``lif``) or IF neurons into ``out`` (T, B, N).

    ``j``: (T or 1, B, N) input currents; ``ins``, ``outs``: tuples of four
    (B, N) states, read and written: voltage, refractory time (LIF; any array
    for IF) and the synapse's stages (the first ``n_syn``; any array for the
    others).  ``p``: float64 parameters (`rateconv.simulator._fused._params`).
    Returns the spike count of each neuron.
    """
    n_steps, batch, n = out.shape
    a, one_minus_a = p[8], p[9]
    min_v, amp_dt, max_spikes = p[10], np.float32(p[7]), p[11]
    n_states = 2 if lif else 1
    counts = np.zeros(n, np.float32)
    for blk in prange((n + BLOCK - 1) // BLOCK):
        lo = blk * BLOCK
        hi = min(lo + BLOCK, n)
        cb = counts[lo:hi]
        flags = np.zeros(BLOCK, np.uint8)[: ((hi - lo + 7) // 8) * 8]
        ob64 = np.empty(hi - lo, np.float64)
        for b in range(batch):
            w = mask[b] if b < n_rows else np.float32(0.0)
            for k in range(4):
                if k < n_states or 2 <= k < 2 + n_syn:
                    _copy(ins[k][b, lo:hi], outs[k][b, lo:hi])
            vb = outs[0][b, lo:hi]
            rb = outs[1][b, lo:hi]
            s1 = outs[2][b, lo:hi]
            s2 = outs[3][b, lo:hi]
            for t in range(n_steps):
                jb = j[0 if static else t, b, lo:hi]
                ob = out[t, b, lo:hi]
                if lif:
                    _lif_cheap(jb, vb, rb, ob, flags, p, min_v, amp_dt)
                    _lif_hard(jb, vb, rb, ob, cb, flags, p, w, reset_sub, min_v, amp_dt)
                    if n_syn >= 1:
                        _lif_out64(ob, ob64, p[7])
                else:
                    _if_row(jb, vb, ob, ob64, cb, p, w, reset_sub, max_spikes, n_syn > 0)
                if n_syn >= 1:
                    _synapse_row(ob, ob64, s1, a, one_minus_a)
                if n_syn >= 2:
                    _synapse_row(ob, ob64, s2, a, one_minus_a)
    return counts
