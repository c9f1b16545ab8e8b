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


def _round32(x):
    """Rounded to float32 (subnormals flushed to zero), back in float64."""
    y = x.astype(np.float32)
    return np.where(np.abs(y) < np.finfo(np.float32).tiny, 0, y).astype(np.float64)


def lif_steps(
    j,
    v,
    ref,
    *,
    dt=DT,
    tau_rc=TAU_RC,
    tau_ref=TAU_REF,
    gain=1.0,
    bias=0.0,
    min_voltage=0.0,
    reset="zero",
    float32_states=False,
):
    """Nengo's LIF step over a sequence of inputs ``j`` (time first), float64.

    Starts from voltage ``v`` and refractory time ``ref``; returns the spike
    count of each neuron at each step, shape ``j.shape``.  With
    ``float32_states`` the states are rounded to float32 after each step (as
    stored by the simulator).
    """
    j = np.asarray(j, np.float64) * gain + bias
    v = np.array(v, np.float64)
    ref = np.array(ref, np.float64)
    spikes = np.zeros(j.shape)
    for t in range(len(j)):
        ref = ref - dt
        delta_t = np.clip(dt - ref, 0, dt)
        v = v - (j[t] - v) * np.expm1(-delta_t / tau_rc)
        spiked = v > 1
        with np.errstate(all="ignore"):
            overshoot = np.minimum((v - 1) / (j[t] - 1), 1 - 1e-7)
            t_spike = dt + tau_rc * np.log1p(-overshoot)
        ref = np.where(spiked, tau_ref + t_spike, ref)
        after = v - 1 if reset == "subtract" else np.zeros_like(v)
        v = np.where(spiked, after, np.maximum(v, min_voltage))
        if float32_states:
            v, ref = _round32(v), _round32(ref)
        spikes[t] = spiked
    return spikes


def if_steps(
    j,
    v,
    *,
    dt=DT,
    gain=1.0,
    bias=0.0,
    reset="subtract",
    max_spikes=None,
    float32_states=False,
):
    """Integrate-and-fire steps over inputs ``j`` (time first), float64.

    Returns the spike count of each neuron at each step (whole numbers:
    ``floor(v)`` spikes, at most ``max_spikes``); ``float32_states`` as in
    `lif_steps`.
    """
    j = np.asarray(j, np.float64) * gain + bias
    v = np.array(v, np.float64)
    spikes = np.zeros(j.shape)
    for t in range(len(j)):
        v = v + j[t] * dt
        n = np.maximum(np.floor(v), 0)
        if max_spikes is not None:
            n = np.minimum(n, max_spikes)
        v = np.where(n > 0, 0.0, v) if reset == "zero" else v - n
        if float32_states:
            v = _round32(v)
        spikes[t] = n
    return spikes
