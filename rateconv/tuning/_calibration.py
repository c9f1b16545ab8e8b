"""Data-based tuning of a converted network for spiking at few timesteps.

Two post-conversion steps, both driven by calibration data only (never the
test set), both returning a new `SpikingNetwork` and leaving the input alone:

`normalize`
    Layer-wise data-based normalization for ReLU -> integrate-and-fire
    conversion (Diehl et al. 2015, "Fast-classifying, high-accuracy spiking
    deep networks through weight and threshold balancing"; Rueckauer et al.
    2017, "Conversion of continuous-valued deep networks to efficient
    event-driven networks for image classification").  Each ReLU layer's
    neurons are rescaled with `NeuronType.scaled` so that the p-th percentile
    of the layer's rate-mode firing rate becomes one spike per step (or
    ``max_rate``).  Rescaling ReLU is exact in rate mode, so the rate-mode
    function does not change at all.

`calibrate`
    Per-layer correction of the spiking neurons for a target number of steps,
    in the spirit of Li et al. 2021 ("A free lunch from ANN: towards
    efficient, accurate spiking neural networks calibration", bias and
    threshold calibration) and Deng & Gu 2021 ("Optimal conversion of
    conventional artificial neural networks to spiking neural networks", the
    shift of half a threshold per run).  Layer by layer in topological order,
    with the layers before already calibrated and spiking, the spiking
    neuron's current ``J = gain * x + bias`` becomes
    ``J = c * gain * x + bias + shift / (n_steps * dt)`` with ``(c, shift)``
    picked from a small grid to minimize the mean squared error between the
    layer's mean spiking output over ``n_steps`` and its rate-mode output on
    the calibration data.  Only the spiking neurons change: rate mode stays
    exactly the original.

Both apply to integrate-and-fire layers (rate neuron `RectifiedLinear`,
spiking neuron `SpikingRectifiedLinear`); `calibrate` also to clipped and
leaky integrate-and-fire layers and to neurons with a spike budget
(``max_spikes_per_step``), whose candidates it runs through the neuron's own
step.  LIF layers are skipped with a
warning: a LIF neuron's rate curve is not scale-invariant (its maximum rate is
fixed by ``tau_ref`` and its curve by ``tau_rc``), so rescaling it would change
rate mode, and a shift in "spikes per run" has no fixed meaning in its current
units.  Naming a LIF layer explicitly in ``layers=`` is an error.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np

from rateconv._checks import (
    check_finite,
    check_int,
    check_optional_int,
    check_positive,
    check_range,
    check_type,
)
from rateconv.network import SpikingNetwork
from rateconv.neurons import DT, RectifiedLinear, SpikingRectifiedLinear
from rateconv.simulator import Simulator, initial_voltage

DEFAULT_SHIFTS = tuple(np.round(np.arange(-1.0, 1.0 + 1e-9, 0.125), 6))
"""Default grid of `calibrate` bias shifts, in spikes per run (threshold units)."""
DEFAULT_GAINS = (0.8, 0.9, 1.0, 1.1, 1.25)
"""Default grid of `calibrate` gain corrections (1 = unchanged)."""


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _is_if_stage(stage):
    """Whether a stage has ReLU rate / integrate-and-fire spiking neurons."""
    return isinstance(stage.rate_neuron, RectifiedLinear) and isinstance(
        stage.spiking_neuron, SpikingRectifiedLinear
    )


def is_if_family_stage(stage):
    """Plain, clipped or leaky integrate-and-fire neurons (what `calibrate`
    corrects: its gain and shift act on the spiking neuron's current only)."""
    spiking = stage.spiking_neuron
    return (
        isinstance(stage.rate_neuron, RectifiedLinear)
        and spiking is not None
        and any(f.name == "max_spikes_per_step" for f in dataclasses.fields(spiking))
    )


_SKIP_REASON = (
    "A LIF neuron's curve and maximum rate are fixed by tau_rc and tau_ref, "
    "and capped (relu6, ReLU(max_value)) or leaky IF neurons are not handled: "
    "their cap or negative slope would have to move with the rescaling."
)


_LIF_REASON = (
    "A LIF neuron's current has no fixed meaning in spikes per run "
    "(its rate curve is not linear in it)."
)


def _select_stages(net, layers, what, accept=_is_if_stage):
    """Names of the IF stages to process; warns about skipped LIF stages."""
    check_type(
        "net", net, SpikingNetwork, "a rateconv.SpikingNetwork (from rateconv.convert)"
    )
    neuron_stages = net.neuron_stages
    if layers is None:
        chosen = [s.name for s in neuron_stages if accept(s)]
        skipped = [s.name for s in neuron_stages if not accept(s)]
        if not chosen:  # nothing to do: say why, once, and nothing before
            raise ValueError(_cannot_help(net, what))
        if skipped:
            kinds = ", ".join(
                f"'{s.name}' ({type(s.spiking_neuron).__name__})"
                for s in neuron_stages
                if not accept(s)
            )
            reason = _SKIP_REASON if accept is _is_if_stage else _LIF_REASON
            only = "plain " if accept is _is_if_stage else ""
            warnings.warn(
                f"{what}() leaves layers {kinds} unchanged: it applies to {only}"
                "ReLU / integrate-and-fire layers only. " + reason,
                stacklevel=3,
            )
        return chosen
    layers = [layers] if isinstance(layers, str) else list(layers)
    by_name = {s.name: s for s in neuron_stages}
    for name in layers:
        if name not in by_name:
            raise ValueError(
                f"layers names '{name}', which is not a neuron layer of network "
                f"'{net.name}'. Neuron layers: {list(by_name)}"
            )
        if not accept(by_name[name]):
            plain = accept is _is_if_stage
            raise ValueError(
                f"Layer '{name}' has {type(by_name[name].spiking_neuron).__name__} "
                f"neurons; {what}() applies only to {'plain ' if plain else ''}"
                "ReLU / integrate-and-fire layers. "
                + (_SKIP_REASON if plain else _LIF_REASON)
            )
    # keep the network's topological order whatever order the user gave
    return [s.name for s in neuron_stages if s.name in layers]


def _cannot_help(net, what):
    """The one-line reason `what` cannot change ``net`` (no IF layer)."""
    kinds = [
        f"'{s.name}' ({type(s.spiking_neuron).__name__})" for s in net.neuron_stages
    ]
    has = (
        f"its neuron layers are {', '.join(kinds)} ({_SKIP_REASON[:-1]})"
        if kinds
        else "it has no neuron layers"
    )
    return (
        f"{what}() cannot help network '{net.name}': it rescales ReLU / "
        f"integrate-and-fire layers only, and {has}. For a step budget, "
        "rateconv.convert(model, calibration_data=x_train[:1000], n_steps=N) "
        "tunes LIF layers too."
    )


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _n_samples(xs):
    return len(xs[0])


def _check_grid(name, values, check):
    """A non-empty list of floats, each passing ``check(name[i], value)``."""
    values = list(values)
    if not values:
        raise ValueError(
            f"{name} must be a non-empty sequence of numbers. Received: {name}=[]"
        )
    return [check(f"{name}[{i}]", v) for i, v in enumerate(values)]


def rate_activations(net, x, layers, *, batch_size=256):
    """Rate-mode outputs of hidden layers, as the simulator computes them.

    Runs the simulator's own rate path on a copy of ``net`` whose outputs are
    ``layers``, so the values are exactly those rate mode feeds downstream.

    Parameters
    ----------
    net : SpikingNetwork
    x : array or list of arrays
        Network inputs, as for `Simulator.predict`.
    layers : list of str
        Stage names.
    batch_size : int
        Samples run at once.

    Returns
    -------
    dict
        ``{name: array of shape (n_samples, *output_shape)}``.
    """
    probe = dataclasses.replace(net, outputs=layers)
    sim = Simulator(probe, minibatch_size=batch_size, progress=False)
    out = sim.predict(x, mode="rate")
    out = _as_list(out) if len(layers) > 1 else [out]
    return dict(zip(layers, out))


def _input_network(net, name):
    """The part of ``net`` feeding stage ``name``, which outputs its input current.

    Stage ``name`` keeps its operation but loses its neurons, synapse and
    readout, so the simulator returns the pre-activation ``x`` of its neurons
    at every step, with everything before it spiking as in ``net``.
    """
    needed = {name}
    for stage in reversed(net.stages):
        if stage.name in needed:
            needed.update(stage.inputs)
    needed.update(net.inputs)  # the simulator takes one array per input
    part = SpikingNetwork(
        [s for s in net.stages if s.name in needed],
        net.inputs,
        [name],
        name=f"{net.name}/{name}",
    )
    no_neurons = dict(rate_neuron=None, spiking_neuron=None, synapse=None, readout=None)
    return part.replace_stages({name: no_neurons})


def _initial_voltage(net, stage, n_samples, seed, start):
    """The stage's initial voltages for samples ``start..``, flat per sample.

    The simulator's own draw (per sample, from the sample's index in the run),
    so a uniform start is scored as it will be simulated.
    """
    voltage = initial_voltage(net, stage.name, n_samples, seed, start)
    return np.asarray(voltage, np.float32).reshape(n_samples, -1)


def _mean_spiking_output(neuron, currents, v0, dt):
    """Mean output over time of IF neurons driven by time-major ``currents``.

    Mirrors `rateconv.neurons.if_step` in numpy, for many candidate parameters
    at once without recompiling the simulator for each.
    """
    voltage = v0.copy()
    total = np.zeros_like(v0)
    for j in currents:
        voltage = voltage + j * dt
        n_spikes = np.maximum(np.floor(voltage), 0.0)
        if neuron.reset == "zero":
            voltage = np.where(n_spikes > 0, 0.0, voltage)
        else:
            voltage = voltage - n_spikes
        total += n_spikes
    return total * (neuron.amplitude / (dt * len(currents)))


def _mean_subtract_output(neuron, charge, v0, dt):
    """`_mean_spiking_output` for reset by subtraction, from the charge alone.

    With reset by subtraction the spike count after step t is
    ``N_t = max(N_{t-1}, floor(v0 + Q_t))``, ``Q_t`` the charge ``sum(j) * dt``
    integrated up to t (since ``floor(v - N) = floor(v) - N`` for an integer
    ``N``), so the count over a run is ``max(0, floor(v0 + max_t Q_t))``: one
    pass over time instead of a loop of a dozen array operations per step.
    """
    count = np.maximum(np.floor(v0 + np.max(charge, axis=0)), 0.0)
    return count * (neuron.amplitude / (dt * len(charge)))


def _mean_neuron_output(neuron, pre, v0, dt):
    """Mean output over time of any spiking ``neuron`` fed time-major ``pre``.

    Runs the neuron's own `step` (its cap, clipping, negative spikes and
    reset included); the other states start at 0 as in the simulator.
    """
    state = (v0,) + tuple(np.zeros_like(v0) for _ in neuron.state_names[1:])
    total = np.zeros_like(v0)
    for x in pre:
        out, state = neuron.step(x, state, dt)
        total += np.asarray(out)
    return total / len(pre)


# ---------------------------------------------------------------------------
# Normalization
# ---------------------------------------------------------------------------


def normalize(
    net,
    x_cal,
    *,
    percentile=99.9,
    max_rate=None,
    dt=DT,
    layers=None,
    batch_size=256,
):
    """Data-based normalization of ReLU -> integrate-and-fire layers.

    For each ReLU layer, the ``percentile`` of its rate-mode firing rate (the
    activation divided by the neuron's amplitude, in Hz) over the positive
    activations on ``x_cal`` is mapped to one spike per step (``1 / dt``), or
    to ``max_rate``, by rescaling both the rate and the spiking neuron by the
    same factor ``k`` (input times ``k``, amplitude divided by ``k``; a bias is
    multiplied by ``k`` too).  This is Rueckauer et al.'s (2017) robust
    layer-wise normalization, written on the neurons instead of the weights:
    the weights stay as trained and rate mode computes exactly the same
    function, while spiking layers fire at a usable rate.

    The percentile is taken over the layer's nonzero activations (as in the
    SNN Toolbox), so silent ReLU units do not drag it down.  A layer with no
    activity on ``x_cal`` keeps its scale, with a warning.

    Parameters
    ----------
    net : SpikingNetwork
        A converted network; it is not modified.
    x_cal : array or list of arrays
        Calibration inputs (a few hundred training samples are plenty); never
        the test set.
    percentile : float
        In (0, 100]; 100 is the maximum (Diehl et al. 2015).  99.9 ignores
        rare outliers, which would otherwise make every other unit fire slowly.
    max_rate : float or None
        Firing rate, in Hz, for the percentile activation; None is one spike
        per step, ``1 / dt``.  Integrate-and-fire neurons with reset by
        subtraction may fire several spikes in one step, so activations above
        the percentile are not clipped.
    dt : float
        Simulation timestep, in seconds (as given to `Simulator`).
    layers : str, list of str or None
        Layers to normalize; None is every ReLU layer (LIF layers are then
        skipped with a warning).  Naming a LIF layer is an error.
    batch_size : int
        Samples run at once.

    Returns
    -------
    SpikingNetwork
        A new network with the neurons of the normalized stages rescaled; the
        other stages are shared with ``net`` (stages are immutable).

    Raises
    ------
    ValueError
        If there is no ReLU layer to normalize, or ``layers`` names a LIF or
        unknown layer.

    Examples
    --------
    >>> import numpy as np, keras, rateconv
    >>> model = keras.Sequential([
    ...     keras.Input((4,)),
    ...     keras.layers.Dense(16, activation="relu", name="hidden"),
    ...     keras.layers.Dense(3, name="out")])
    >>> x = np.random.default_rng(0).uniform(size=(64, 4)).astype("float32")
    >>> net = rateconv.normalize(rateconv.convert(model), x)  # 99.9th pct: 1 a step
    >>> sim = rateconv.Simulator(net, progress=False)
    >>> bool(np.allclose(sim.predict(x, mode="rate"), model.predict(x, verbose=0),
    ...                  atol=1e-5))                  # rate mode unchanged
    True
    """
    check_range("percentile", percentile, 0, 100, low_open=True)
    dt = check_positive("dt", dt, unit="in seconds")
    if max_rate is not None:
        check_positive(
            "max_rate", max_rate, unit="in Hz", hint="None is one spike per step"
        )
    check_int("batch_size", batch_size)
    names = _select_stages(net, layers, "normalize")
    target = float(max_rate) if max_rate is not None else 1.0 / dt
    acts = rate_activations(net, x_cal, names, batch_size=batch_size)

    updates = {}
    for name in names:
        stage = net[name]
        rates = acts[name] / stage.rate_neuron.amplitude  # Hz
        positive = rates[rates > 0]
        if positive.size == 0:
            warnings.warn(
                f"normalize(): layer '{name}' is silent on the calibration data; "
                "its scale is left unchanged.",
                stacklevel=2,
            )
            continue
        k = target / float(np.percentile(positive, percentile))
        updates[name] = {
            "rate_neuron": _rescale(stage.rate_neuron, k),
            "spiking_neuron": _rescale(stage.spiking_neuron, k),
        }
    return net.replace_stages(updates)


def _rescale(neuron, k):
    # scaled() multiplies the gain only; scaling the bias too keeps
    # max(k * (gain * x + bias), 0) * amplitude / k exact for any bias
    return dataclasses.replace(neuron.scaled(k), bias=neuron.bias * k)


# ---------------------------------------------------------------------------
# Calibration to a number of steps
# ---------------------------------------------------------------------------


def calibrate(
    net,
    x_cal,
    *,
    n_steps,
    shifts=DEFAULT_SHIFTS,
    gains=DEFAULT_GAINS,
    dt=DT,
    layers=None,
    input_encoding="constant",
    seed=0,
    batch_size=64,
    max_neurons=1024,
    return_info=False,
):
    """Tune each integrate-and-fire layer's spiking neurons for ``n_steps``.

    Layer by layer, in topological order, with the layers before it already
    calibrated and spiking, the spiking neuron's input current becomes
    ``c * gain * x + bias + shift / (n_steps * dt)``: ``c`` a gain correction
    and ``shift`` a bias shift in threshold units per run (0.5 is Deng & Gu's
    half-threshold shift, which removes the rounding-down of the spike count
    with a zero initial voltage).  The pair ``(c, shift)`` is picked from
    ``gains x shifts`` to minimize the mean squared error, over ``x_cal`` and
    the layer's neurons, between the layer's mean spiking output over
    ``n_steps`` (the spikes, before any synapse) and its rate-mode output.
    Ties go to the smallest change.  The rate neurons are untouched, so rate
    mode is exactly the original.

    The firing-rate scale (spikes per step) is not searched: with reset by
    subtraction more spikes per step always reduce the error, so that is a
    budget to set with `normalize` or ``scale_firing_rates``, before
    calibrating.  The correction is tuned for ``n_steps``; longer runs keep the
    small bias ``shift / (n_steps * dt)``, so recalibrate for another latency.

    Parameters
    ----------
    net : SpikingNetwork
        A converted (typically normalized) network; it is not modified.
    x_cal : array or list of arrays
        Calibration inputs, e.g. a few hundred training samples; never the
        test set.
    n_steps : int
        The number of timesteps the network will run for.
    shifts : sequence of float
        Candidate bias shifts, in spikes per run (threshold units).
    gains : sequence of float
        Candidate gain corrections (positive; 1 is unchanged).
    dt : float
        Simulation timestep, in seconds (as given to `Simulator`).
    layers : str, list of str or None
        Layers to calibrate; None is every ReLU / integrate-and-fire layer
        (LIF layers are simulated but left unchanged, with a warning).
    input_encoding : {"constant", "poisson"}
        As in `Simulator.predict`; calibrate with the encoding you will run.
    seed : int
        Seed of the input encoding and of ``"uniform"`` initial voltages.
    batch_size : int
        Calibration samples simulated at once (memory grows with
        ``batch_size * n_steps * neurons``).
    max_neurons : int or None
        Neurons per layer on which candidates are scored: a fixed random
        subset (seeded) of a larger layer, the same for every sample.  The
        search costs ``len(gains) * len(shifts) * n_steps`` IF updates per
        scored neuron and sample, so scoring all of a large layer at 64 steps
        takes minutes; a few thousand neurons estimate the layer's mean
        squared error closely.  None scores all of them.
    return_info : bool
        Also return, per calibrated layer, the chosen ``gain`` and ``shift``
        and the layer's mean squared error on ``x_cal`` before and after its
        own correction (both with the layers before it already calibrated).

    Returns
    -------
    SpikingNetwork or (SpikingNetwork, dict)
        The calibrated copy; with ``return_info``,
        ``{layer: {"gain", "shift", "bias", "mse_before", "mse_after"}}``.

    Examples
    --------
    >>> import numpy as np, keras, rateconv
    >>> model = keras.Sequential([
    ...     keras.Input((4,)),
    ...     keras.layers.Dense(16, activation="relu", name="hidden"),
    ...     keras.layers.Dense(3, name="out")])
    >>> x = np.random.default_rng(0).uniform(size=(64, 4)).astype("float32")
    >>> net = rateconv.normalize(rateconv.convert(model), x)
    >>> net = rateconv.calibrate(net, x, n_steps=8)   # IF gain and bias for 8 steps
    """
    n_steps = check_int("n_steps", n_steps)
    dt = check_positive("dt", dt, unit="in seconds")
    shifts = _check_grid("shifts", shifts, check_finite)
    gains = _check_grid("gains", gains, check_positive)
    check_int("batch_size", batch_size)
    max_neurons = check_optional_int("max_neurons", max_neurons)
    names = _select_stages(net, layers, "calibrate", accept=is_if_family_stage)
    xs = [np.asarray(a) for a in _as_list(x_cal)]

    # candidates ordered by size of the change, so ties keep the smaller one
    candidates = sorted(
        {(g, s) for g in gains for s in shifts} | {(1.0, 0.0)},
        key=lambda gs: (abs(gs[1]) + abs(math.log(gs[0])), gs),
    )
    unit = 1.0 / (n_steps * dt)  # current adding one spike per run
    rng = np.random.default_rng(seed)

    # rate mode is the target and calibration never changes it: compute once
    targets = rate_activations(net, xs, names, batch_size=batch_size)
    current = net
    info = {}
    for name in names:
        stage = current[name]
        neuron = stage.spiking_neuron
        feed = Simulator(
            _input_network(current, name),
            dt=dt,
            minibatch_size=batch_size,
            progress=False,
            warn_activity=False,  # a layer's input network, not the user's run
        )
        sse = np.zeros(len(candidates))
        count = 0
        size = int(np.prod(stage.output_shape))
        scored = (
            np.sort(rng.choice(size, max_neurons, replace=False))
            if max_neurons is not None and size > max_neurons
            else slice(None)
        )
        for start in range(0, _n_samples(xs), batch_size):
            batch = [a[start : start + batch_size] for a in xs]
            pre = feed.predict(
                batch,
                n_steps=n_steps,
                probe_synapse=None,
                input_encoding=input_encoding,
                seed=seed,
            )
            pre = np.moveaxis(np.asarray(pre, np.float32), 1, 0)  # time-major
            pre = pre.reshape(pre.shape[:2] + (size,))[:, :, scored]
            target = targets[name][start : start + batch_size]
            target = target.reshape(len(target), size)[:, scored]
            v0 = _initial_voltage(current, stage, len(target), seed, start)[:, scored]
            # plain IF without a cap: counted from the charge (fast); other IF
            # kinds (a cap, clipping, negative spikes) run their own step
            plain = type(neuron) is SpikingRectifiedLinear and (
                neuron.max_spikes_per_step is None
            )
            if plain and neuron.reset == "subtract":
                # charge integrated so far, per step, of the input term alone
                charge = np.cumsum(pre, axis=0) * np.float32(dt)
                elapsed = (np.arange(1, n_steps + 1, dtype=np.float32) * dt).reshape(
                    (-1,) + (1,) * target.ndim
                )
            for i, (g, s) in enumerate(candidates):
                if not plain:
                    changed = dataclasses.replace(
                        neuron, gain=neuron.gain * g, bias=neuron.bias + s * unit
                    )
                    mean = _mean_neuron_output(changed, pre, v0, dt)
                elif neuron.reset == "subtract":
                    mean = _mean_subtract_output(
                        neuron,
                        charge * np.float32(neuron.gain * g)
                        + elapsed * np.float32(neuron.bias + s * unit),
                        v0,
                        dt,
                    )
                else:
                    j = pre * (neuron.gain * g) + (neuron.bias + s * unit)
                    mean = _mean_spiking_output(neuron, j, v0, dt)
                sse[i] += float(np.sum((mean - target) ** 2, dtype=np.float64))
            count += target.size
        best = int(np.argmin(sse))
        g, s = candidates[best]
        new_neuron = dataclasses.replace(
            neuron, gain=neuron.gain * g, bias=neuron.bias + s * unit
        )
        current = current.replace_stages({name: {"spiking_neuron": new_neuron}})
        info[name] = {
            "gain": g,
            "shift": s,
            "bias": new_neuron.bias,
            "mse_before": sse[candidates.index((1.0, 0.0))] / count,
            "mse_after": sse[best] / count,
        }
    return (current, info) if return_info else current
