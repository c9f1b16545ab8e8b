"""Independent numpy transcriptions of the equations in DESIGN.md, for tests."""

import numpy as np

DT, TAU_RC, TAU_REF = 0.001, 0.02, 0.002


def lif_rate(j, tau_rc=TAU_RC, tau_ref=TAU_REF, amplitude=1.0):
    j = np.asarray(j, dtype=np.float64)
    out = np.zeros_like(j)
    above = j > 1
    out[above] = amplitude / (tau_ref + tau_rc * np.log1p(1 / (j[above] - 1)))
    return out


def lif_run(j, n_steps, dt=DT, tau_rc=TAU_RC, tau_ref=TAU_REF, amplitude=1.0):
    """Spike outputs of LIF neurons with constant input, shape (n_steps, *j)."""
    j = np.asarray(j, dtype=np.float64)
    v = np.zeros_like(j)
    ref = np.zeros_like(j)
    outs = np.zeros((n_steps,) + j.shape)
    for t in range(n_steps):
        ref = ref - dt
        delta_t = np.clip(dt - ref, 0, dt)
        v = v - (j - v) * np.expm1(-delta_t / tau_rc)
        spiked = v > 1
        with np.errstate(all="ignore"):
            t_spike = dt + tau_rc * np.log1p(-(v - 1) / (j - 1))
        ref = np.where(spiked, tau_ref + t_spike, ref)
        v = np.where(spiked, 0, np.maximum(v, 0))
        outs[t] = spiked * amplitude / dt
    return outs


def lowpass(x, tau, dt=DT):
    """Zero-order-hold lowpass along axis 0."""
    a = np.exp(-dt / tau)
    y = np.zeros_like(np.asarray(x, dtype=np.float64))
    s = np.zeros(y.shape[1:])
    for t in range(len(x)):
        s = a * s + (1 - a) * x[t]
        y[t] = s
    return y
