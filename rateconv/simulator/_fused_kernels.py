"""The numba kernels behind `rateconv.simulator._fused` (imported on first use).

See `rateconv.simulator._fused` for what they compute and why.
"""

from __future__ import annotations

import numpy as np
from llvmlite import binding as _llvm
from numba import njit, prange

from rateconv.simulator import _xla_math as xm

BLOCK = 1024
"""Neurons of one sample a thread advances together (their state stays in cache)."""


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
def _lif_row(jb, vb, rb, ob, cb, pb, p, w, static, reset_sub):
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
        pb[i] = w if (spiked and w > pb[i]) else pb[i]
        ob[i] = amp_dt if spiked else xm.ZERO


@njit(nogil=True, cache=True, **_OPTS)
def _if_row(jb, vb, ob, cb, pb, p, w, static, reset_sub):
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
        wk = w * k
        pb[i] = wk if wk > pb[i] else pb[i]
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
def kernel(j, static, ins, outs, n_syn, mask, n_rows, reset_sub, p, lif, out):
    """A chunk of steps of LIF (``lif``) or IF neurons into ``out`` (T, B, N).

    ``j``: (T or 1, B, N) input currents; ``ins``, ``outs``: tuples of four
    (B, N) states, read and written: voltage, refractory time (LIF; any array
    for IF) and the synapse's stages (the first ``n_syn``; any array for the
    others).  ``p``: float32 parameters (`_params`), the synapse's decay and
    its complement at 8 and 9.  Returns the spike count of each neuron and
    its peak (the most spikes it fired in one step), over the first
    ``n_rows`` samples weighted by ``mask``.
    """
    n_steps, batch, n = out.shape
    a, one_minus_a = p[8], p[9]
    n_states = 2 if lif else 1
    counts = np.zeros(n, np.float32)
    peaks = np.zeros(n, np.float32)
    for blk in prange((n + BLOCK - 1) // BLOCK):
        lo = blk * BLOCK
        hi = min(lo + BLOCK, n)
        cb = counts[lo:hi]
        pb = peaks[lo:hi]
        for b in range(batch):
            w = mask[b] if b < n_rows else xm.ZERO
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
                    _lif_row(jb, vb, rb, ob, cb, pb, p, w, static, reset_sub)
                else:
                    _if_row(jb, vb, ob, cb, pb, p, w, static, reset_sub)
                if n_syn >= 1:
                    _synapse_row(ob, s1, a, one_minus_a)
                if n_syn >= 2:
                    _synapse_row(ob, s2, a, one_minus_a)
    return counts, peaks
