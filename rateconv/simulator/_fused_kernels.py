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

HARD_FRACTION = 0.1
"""Above this fraction of flagged neurons in a block, the LIF kernel finishes
them in one vectorized pass over the whole block, else one at a time."""

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
    n_hard = 0
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
        n_hard += hard
        low = max(v, min_v)
        vb[i] = vb[i] if hard else _f32(low)
        rb[i] = rb[i] if hard else _f32(ref)
        ob[i] = np.float32(0.0)
    return n_hard


# expm1 and log1p in float64 as straight-line code (no libm call, no
# branch), so that the loop over the neurons that spike or leave their
# refractory period vectorizes too; accurate to a few float64 ulps, which the
# float32 rounding of the states hides.

_LN2_HI = 6.93147180369123816490e-01  # fdlibm's split: e * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_SQRT_HALF = math.sqrt(0.5)
_SQRT_TWO = math.sqrt(2.0)


@njit(inline="always", **_OPTS)
def _expm1(x, halvings, scale):
    """``expm1(x)`` for ``-2**(halvings-2) <= x <= 0`` (``scale`` =
    ``2**-halvings``, at most 8 halvings): Taylor series on ``x * scale``,
    then ``expm1(2y) = expm1(y) * (expm1(y) + 2)`` ``halvings`` times
    (unrolled, constants written out: the loop around it must vectorize)."""
    y = x * scale
    q = 7.647163731819816e-13
    q = 1.1470745597729725e-11 + y * q
    q = 1.6059043836821613e-10 + y * q
    q = 2.08767569878681e-09 + y * q
    q = 2.505210838544172e-08 + y * q
    q = 2.755731922398589e-07 + y * q
    q = 2.7557319223985893e-06 + y * q
    q = 2.48015873015873e-05 + y * q
    q = 0.0001984126984126984 + y * q
    q = 0.001388888888888889 + y * q
    q = 0.008333333333333333 + y * q
    q = 0.041666666666666664 + y * q
    q = 0.16666666666666666 + y * q
    q = 0.5 + y * q
    q = 1.0 + y * q
    e = y * q
    e = e * (e + 2.0) if halvings > 0 else e
    e = e * (e + 2.0) if halvings > 1 else e
    e = e * (e + 2.0) if halvings > 2 else e
    e = e * (e + 2.0) if halvings > 3 else e
    e = e * (e + 2.0) if halvings > 4 else e
    e = e * (e + 2.0) if halvings > 5 else e
    e = e * (e + 2.0) if halvings > 6 else e
    e = e * (e + 2.0) if halvings > 7 else e
    return e


@njit(inline="always", **_OPTS)
def _log1p(y):
    """``log1p(y)`` for ``-1 + 2**-30 <= y < 2**1000`` (unrolled)."""
    u = 1.0 + y
    # what the rounding of 1 + y lost, over u: zero unless -0.5 < y; 2 - u
    # is 1 / u to within (1 - u)**2 (no division) and the term is below half
    # an ulp of the result where u > 1.5
    corr = (y - (u - 1.0)) * (2.0 - u)
    corr = 0.0 if u > 1.5 else corr
    m, e = u, 0.0
    small = m < 1.52587890625e-05
    m = m * 65536.0 if small else m
    e = e - 16.0 if small else e
    small = m < 0.00390625
    m = m * 256.0 if small else m
    e = e - 8.0 if small else e
    small = m < 0.0625
    m = m * 16.0 if small else m
    e = e - 4.0 if small else e
    small = m < 0.25
    m = m * 4.0 if small else m
    e = e - 2.0 if small else e
    small = m < 0.5
    m = m * 2.0 if small else m
    e = e - 1.0 if small else e
    large = m >= 1.3407807929942597e154
    m = m * 7.458340731200207e-155 if large else m
    e = e + 512.0 if large else e
    large = m >= 1.157920892373162e77
    m = m * 8.636168555094445e-78 if large else m
    e = e + 256.0 if large else e
    large = m >= 3.402823669209385e38
    m = m * 2.938735877055719e-39 if large else m
    e = e + 128.0 if large else e
    large = m >= 1.8446744073709552e19
    m = m * 5.421010862427522e-20 if large else m
    e = e + 64.0 if large else e
    large = m >= 4294967296.0
    m = m * 2.3283064365386963e-10 if large else m
    e = e + 32.0 if large else e
    large = m >= 65536.0
    m = m * 1.52587890625e-05 if large else m
    e = e + 16.0 if large else e
    large = m >= 256.0
    m = m * 0.00390625 if large else m
    e = e + 8.0 if large else e
    large = m >= 16.0
    m = m * 0.0625 if large else m
    e = e + 4.0 if large else e
    large = m >= 4.0
    m = m * 0.25 if large else m
    e = e + 2.0 if large else e
    large = m >= 2.0
    m = m * 0.5 if large else m
    e = e + 1.0 if large else e
    small = m < _SQRT_HALF
    m = m * 2.0 if small else m
    e = e - 1.0 if small else e
    large = m > _SQRT_TWO
    m = m * 0.5 if large else m
    e = e + 1.0 if large else e
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    t = 0.043478260869565216
    t = 0.047619047619047616 + z * t
    t = 0.05263157894736842 + z * t
    t = 0.058823529411764705 + z * t
    t = 0.06666666666666667 + z * t
    t = 0.07692307692307693 + z * t
    t = 0.09090909090909091 + z * t
    t = 0.1111111111111111 + z * t
    t = 0.14285714285714285 + z * t
    t = 0.2 + z * t
    t = 0.3333333333333333 + z * t
    t = 1.0 + z * t
    return e * _LN2_HI + (e * _LN2_LO + (2.0 * s * t + corr))


@njit(inline="always", **_OPTS)
def _lif_full(i, jb, vb, rb, p):
    """The whole LIF step of neuron ``i``: ``(v, ref, spiked)`` in float64."""
    gain, bias, dt, e_full, tau_rc, tau_ref, lim = (
        p[0],
        p[1],
        p[2],
        p[3],
        p[4],
        p[5],
        p[6],
    )
    cur = np.float64(jb[i]) * gain + bias
    v0 = np.float64(vb[i])
    ref = np.float64(rb[i]) - dt
    delta = dt - ref
    delta = 0.0 if delta < 0.0 else delta
    delta = dt if delta > dt else delta
    part = _expm1(-delta * p[14], p[12], p[13])
    e = e_full if delta == dt else (-0.0 if delta == 0.0 else part)
    v = v0 - (cur - v0) * e
    spiked = v > 1.0
    den = cur - 1.0 if spiked else 1.0
    over = (v - 1.0) / den
    over = lim if over > lim else over
    over = over if spiked else 0.0
    ref = (tau_ref + (dt + tau_rc * _log1p(-over))) if spiked else ref
    return v, ref, spiked


@njit(nogil=True, cache=True, **_OPTS)
def _lif_hard(jb, vb, rb, ob, cb, flags, n_hard, p, w, reset_sub, min_v, amp_dt):
    """The ``n_hard`` flagged neurons (spiking, or leaving their refractory
    period): one at a time where they are few, else a vectorized pass over
    all of them."""
    if n_hard == 0:
        return
    words = flags.view(np.uint64)
    if HARD_FRACTION * vb.shape[0] < n_hard:
        _lif_hard_all(jb, vb, rb, ob, cb, flags, p, w, reset_sub, min_v, amp_dt)
        return
    for k in range(words.shape[0]):
        if words[k] == 0:
            continue
        for i in range(8 * k, 8 * k + 8):
            if not flags[i]:
                continue
            v, ref, spiked = _lif_full(i, jb, vb, rb, p)
            if spiked:
                rb[i] = _f32(ref)
                vb[i] = _f32(v - 1.0) if reset_sub else np.float32(0.0)
                ob[i] = amp_dt
                cb[i] += w
            else:
                rb[i] = _f32(ref)
                vb[i] = _f32(max(v, min_v))


@njit(nogil=True, cache=True, **_OPTS)
def _lif_hard_all(jb, vb, rb, ob, cb, flags, p, w, reset_sub, min_v, amp_dt):
    for i in range(vb.shape[0]):
        v, ref, spiked = _lif_full(i, jb, vb, rb, p)
        sel = flags[i] != 0
        fire = sel & spiked
        after = _f32(v - 1.0) if reset_sub else np.float32(0.0)
        new_v = after if spiked else _f32(v if v > min_v else min_v)
        vb[i] = new_v if sel else vb[i]
        rb[i] = _f32(ref) if sel else rb[i]
        ob[i] = amp_dt if fire else ob[i]
        cb[i] += w if fire else np.float32(0.0)


@njit(nogil=True, cache=True, **_OPTS)
def _if_row(jb, vb, ob, ob64, cb, pb, p, w, reset_sub, max_spikes, keep64):
    gain, bias, dt, amp_dt = p[0], p[1], p[2], p[7]
    for i in range(vb.shape[0]):
        v = np.float64(vb[i]) + (np.float64(jb[i]) * gain + bias) * dt
        k = max(math.floor(v), 0.0)
        k = min(k, max_spikes)
        kept = v - k if reset_sub else v
        vb[i] = np.float32(0.0) if (k > 0.0 and not reset_sub) else _f32(kept)
        wk = w * np.float32(k)
        cb[i] += wk
        pb[i] = wk if wk > pb[i] else pb[i]
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
    Returns the spike count of each neuron and its peak (the most spikes it
    fired in one step; a LIF neuron's is 1 once it has spiked), over the
    first ``n_rows`` samples weighted by ``mask``.
    """
    n_steps, batch, n = out.shape
    a, one_minus_a = p[8], p[9]
    min_v, amp_dt, max_spikes = p[10], np.float32(p[7]), p[11]
    n_states = 2 if lif else 1
    counts = np.zeros(n, np.float32)
    peaks = np.zeros(n, np.float32)
    for blk in prange((n + BLOCK - 1) // BLOCK):
        lo = blk * BLOCK
        hi = min(lo + BLOCK, n)
        cb = counts[lo:hi]
        pb = peaks[lo:hi]
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
                    n_hard = _lif_cheap(jb, vb, rb, ob, flags, p, min_v, amp_dt)
                    _lif_hard(
                        jb,
                        vb,
                        rb,
                        ob,
                        cb,
                        flags,
                        n_hard,
                        p,
                        w,
                        reset_sub,
                        min_v,
                        amp_dt,
                    )
                    if n_syn >= 1:
                        _lif_out64(ob, ob64, p[7])
                else:
                    _if_row(
                        jb, vb, ob, ob64, cb, pb, p, w, reset_sub, max_spikes, n_syn > 0
                    )
                if n_syn >= 1:
                    _synapse_row(ob, ob64, s1, a, one_minus_a)
                if n_syn >= 2:
                    _synapse_row(ob, ob64, s2, a, one_minus_a)
    if lif:  # at most one spike a step: the peak is whether it spiked
        for i in range(n):
            peaks[i] = np.float32(1.0) if counts[i] > 0 else np.float32(0.0)
    return counts, peaks


@njit(parallel=True, nogil=True, cache=True, **_OPTS)
def moved_synapse_kernel(x, state, out, multiplier, bias, a, n_stages):
    """Scale integer sums ``x`` (T, B, N) by the per-unit ``multiplier``,
    filter them by a lowpass (``n_stages`` 1) or alpha (2) synapse whose
    (n_stages, B, N) ``state`` is updated in place, add ``bias``: into
    ``out``.  Float64 arithmetic, float32 states (as
    `rateconv.simulator._integer.moved_synapse_scan`)."""
    n_steps, batch, n = x.shape
    one_minus_a = 1.0 - a
    for blk in prange((n + BLOCK - 1) // BLOCK):
        lo = blk * BLOCK
        hi = min(lo + BLOCK, n)
        for b in range(batch):
            for t in range(n_steps):
                for i in range(lo, hi):
                    y = np.float64(x[t, b, i]) * multiplier[i]
                    y = a * np.float64(state[0, b, i]) + one_minus_a * y
                    state[0, b, i] = _f32(y)
                    if n_stages == 2:
                        y = a * np.float64(state[1, b, i]) + one_minus_a * y
                        state[1, b, i] = _f32(y)
                    out[t, b, i] = _f32(y + bias[i])
