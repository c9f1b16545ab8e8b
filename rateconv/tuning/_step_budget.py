"""Conversion for a step budget: choose the options that spike best in N steps.

`convert` (``rateconv.convert``) with ``calibration_data`` and ``n_steps``
converts a Keras model, then searches, on the calibration data only, for the
spiking options that make the spiking network agree best with the Keras model
after ``n_steps`` steps:

1. **Firing-rate scale per layer** (data-based normalization, Diehl et al.
   2015, Rueckauer et al. 2017): each scalable spiking layer (ReLU /
   integrate-and-fire, LIF) is rescaled so that the given percentile of its
   rate-mode firing rate on the calibration data becomes a target number of
   spikes per step, never above the neurons' spike budget
   (``max_spikes_per_step``: 1 for binary spikes, and for LIF); with a
   budget, lower percentiles are tried too.  Rescaling is exact in rate
   mode for these neurons (ReLU: input times k, amplitude over k; LIF: time
   constants over k), so rate mode still equals ``model.predict``.
2. **Initial membrane voltage** (zero, half threshold, uniform) and **reset**
   (to zero or by subtraction).
3. **Connection synapses** (none or a short lowpass).
4. **Readout**: the output probe's filter and whether to classify from its
   last value or its running mean (the spike count).  These are stored on the
   returned network, and `Simulator.predict` / `evaluate` use them unless
   told otherwise.

The score is the fraction of calibration samples whose spiking class at step
``n_steps`` equals the Keras model's class (no labels needed, never test
data); for outputs that are not class scores it is the mean squared error to
rate mode.  Candidates are compared on the same samples and seeds; ties go to
the earlier, simpler candidate.  Every candidate is first scored on
`SCREENED` samples and the best `KEPT` of each round on all the scored
samples; candidates run on the step engine, which compiles little (the
time-batched engine compiles a loop per neuron layer and candidate).  A
progress bar shows the candidates tried, the best agreement so far and the
time left.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import time
import warnings
from typing import NamedTuple

import numpy as np

from rateconv import _checks
from rateconv.converter import build_network
from rateconv.layers import MeanOverSteps
from rateconv.neurons import DT, LIFRate, RectifiedLinear
from rateconv.simulator import Simulator
from rateconv.synapses import Lowpass, as_synapse
from rateconv.tuning._calibration import calibrate as calibrate_layers
from rateconv.tuning._calibration import is_if_family_stage, rate_activations
from rateconv.tuning._result import TuningResult

_LOG = logging.getLogger(__name__)

TARGETS = (0.5, 1.0, 2.0, 4.0, 8.0)
"""Spikes per step given to a layer's percentile firing rate.

Integrate-and-fire neurons with reset by subtraction fire several spikes in a
step when their input is above one spike per step, so a target above 1 is a
finer code in fewer steps (measured: a 7-layer residual network at 10 steps
agrees with Keras on 52% of calibration images at 1 spike per step, 91% at 2,
99% at 4).  LIF neurons fire at most once a step: their target is capped at
`LIF_MAX_TARGET`; with a spike budget (``max_spikes_per_step``) only the
targets within it are searched (binary spikes: 0.5 and 1).
"""
LIF_MAX_TARGET = 1.0
CAPPED_PERCENTILES = (99.0, 95.0, 90.0)
"""Lower percentiles searched as well when neurons have a spike budget:
with at most ``m`` spikes per step a layer's top rates cannot be coded
anyway, and mapping a lower percentile to ``m`` codes the bulk finer (the
rest saturates)."""
SCREENED = 128
"""Calibration samples every candidate is first scored on."""
KEPT = 3
"""Candidates of each search round then scored on every scored sample."""
CALIBRATE_MAX_LAYERS = 16
"""Networks with more neuron layers are not calibrated by `tune`."""
INITIAL_STATES = ("half", "uniform")
"""Initial voltages searched (a zero start was never best in our measurements:
every neuron then waits a whole threshold before its first spike); an explicit
``initial_state="zero"`` is still honoured."""
SYNAPSES = (None, 0.005)
PROBES = (
    (Lowpass(0.1), "last"),
    (None, "mean"),
    (Lowpass(0.02), "last"),
    (Lowpass(0.005), "last"),
    (Lowpass(0.1), "mean"),
)
"""Readout candidates: (probe filter, "last" or "mean")."""
MAX_SCORED = 500

_log = logging.getLogger("rateconv.tuning")


def convert(
    model,
    *,
    calibration_data=None,
    n_steps=None,
    probe_synapse="default",
    readout="default",
    progress=None,
    **options,
):
    """Convert a Keras model; with ``calibration_data``, tuned for ``n_steps``.

    Without ``calibration_data`` this is `rateconv.converter.build_network`: the
    Keras model's neurons replaced one for one, no data needed.  With it,
    the conversion is chosen for a run of ``n_steps`` steps as the module
    docstring says.

    Parameters
    ----------
    model : keras.Model
        A built Sequential or functional model.
    calibration_data : array or list of arrays or None
        Training inputs (a few hundred to a few thousand), in the form the
        model takes them; never the test set.
    n_steps : int or None
        The number of steps the network will be simulated for (required with
        ``calibration_data``).
    probe_synapse : float, Lowpass, Alpha, None or "default"
        The network's own output probe (`SpikingNetwork.probe_synapse`):
        ``"default"`` is a 0.1 s lowpass, or what tuning chose; None for a
        model from `rateconv.train_for_steps`.
    readout : {"last", "mean", "default"}
        The network's own readout (`SpikingNetwork.readout`); ``"default"``
        is ``"mean"`` for a model from `rateconv.train_for_steps` (which is
        converted as trained: ``calibration_data`` is not used), so that its
        spiking output after its ``n_steps`` is its ``predict``.
    progress : bool or None
        With calibration data: show the search's progress (candidates
        tried, best agreement so far, time left); False hides it.
    **options
        Options of `rateconv.converter.build_network` (``swap_activations``,
        ``max_to_avg_pool``, ``fold_batch_norm``, ``scale_firing_rates``,
        ``synapse``, ``reset``, ``initial_state``, ``max_spikes_per_step``).
        With calibration data, an option given explicitly is kept and not
        searched; ``max_spikes_per_step`` bounds the spikes per step the
        search aims at.

    Returns
    -------
    SpikingNetwork

    Examples
    --------
    >>> import numpy as np, keras, rateconv
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, "relu")])
    >>> x = np.random.default_rng(0).uniform(size=(64, 4)).astype("float32")
    >>> rateconv.convert(model).tuning is None          # one for one, no data
    True
    >>> net = rateconv.convert(model, calibration_data=x, n_steps=10)
    >>> net.tuning["readout"] in ("last", "mean")        # what was chosen
    True
    """
    layers = getattr(model, "layers", ())  # a non-model is refused below
    trained_for_steps = any(isinstance(la, MeanOverSteps) for la in layers)
    if trained_for_steps:
        # a model from train_for_steps: its output is the unfiltered mean over
        # the steps, and its thresholds are trained, not searched
        probe_synapse = None if probe_synapse == "default" else probe_synapse
        readout = "mean" if readout == "default" else readout
        if calibration_data is not None:
            _LOG.info(
                "%s was trained for its step budget (rateconv.train_for_steps): "
                "converted as trained, calibration_data unused",
                model.name,
            )
            calibration_data = n_steps = None
    if calibration_data is None:
        if n_steps is not None:
            raise ValueError(
                "n_steps needs calibration_data: give training inputs to tune the "
                "conversion for a step budget, e.g. convert(model, "
                "calibration_data=x_train[:1000], n_steps=30). Received: "
                f"n_steps={n_steps!r}, calibration_data=None"
            )
        net = build_network(model, **options)
    else:
        net = tune(
            model, calibration_data, n_steps=n_steps, progress=progress, **options
        ).network
    fields = {}
    if not (isinstance(probe_synapse, str) and probe_synapse == "default"):
        fields["probe_synapse"] = as_synapse(probe_synapse, "probe_synapse")
    _checks.check_choice("readout", readout, ("last", "mean", "default"))
    if readout != "default":
        fields["readout"] = readout
    return dataclasses.replace(net, **fields) if fields else net


def tune(
    model,
    calibration_data,
    *,
    n_steps,
    percentile=99.9,
    max_scored=MAX_SCORED,
    seed=0,
    dt=DT,
    progress=None,
    calibrate=True,
    **options,
):
    """Search the conversion of ``model`` that spikes best in ``n_steps``.

    Parameters
    ----------
    model : keras.Model
    calibration_data : array or list of arrays
        Training inputs; the percentiles use all of them, the spiking runs
        the first ``max_scored``.
    n_steps : int
    percentile : float
        Percentile of each layer's rate mapped to the target spikes per step.
        With a spike budget (``max_spikes_per_step``) the lower percentiles
        of `CAPPED_PERCENTILES` are searched too.
    max_scored : int
        Calibration samples simulated per candidate (each candidate is first
        screened on `SCREENED` of them; the best `KEPT` are scored on all).
    seed : int
        Simulation seed (uniform initial voltages, Poisson inputs).
    dt : float
        Timestep of the simulation the network is tuned for, in seconds.
    progress : bool or None
        Show a progress bar over the candidates (candidates tried, best
        agreement so far, time left); None shows it, False hides it.  Each
        candidate is also logged on the ``rateconv.tuning`` logger (INFO).
    calibrate : bool
        Last, try the chosen conversion calibrated layer by layer for
        ``n_steps`` (`rateconv.calibrate`: each integrate-and-fire layer's
        gain and bias shift set so its mean spiking output matches its rate
        on the screened samples) and keep it if it agrees better.  Skipped
        for networks of more than `CALIBRATE_MAX_LAYERS` neuron layers (each
        layer is simulated once more).
    **options
        As in `convert`; ``max_spikes_per_step`` bounds the targets searched.

    Returns
    -------
    TuningResult

    Examples
    --------
    >>> import numpy as np, keras, rateconv
    >>> model = keras.Sequential([
    ...     keras.Input((4,)),
    ...     keras.layers.Dense(16, activation="relu", name="hidden"),
    ...     keras.layers.Dense(3, name="out")])
    >>> x = np.random.default_rng(0).uniform(size=(64, 4)).astype("float32")
    >>> result = rateconv.tune(model, x, n_steps=10)
    >>> result.options["initial_state"] in ("zero", "half", "uniform")
    True
    >>> sorted(result.options["scales"])          # per-layer firing-rate scale
    ['hidden']
    """
    n_steps = _checks.check_int("n_steps", n_steps)
    dt = _checks.check_positive("dt", dt, unit="a time in seconds")
    _checks.check_range("percentile", percentile, 0, 100, low_open=True)
    max_scored = _checks.check_int("max_scored", max_scored)
    fixed = {k: options.pop(k) for k in list(options) if k in _SEARCHED}
    base = build_network(model, **options, **_base_options(fixed))
    xs = _as_list(calibration_data)
    scored = [a[:max_scored] for a in xs]
    # the Keras classes candidates are scored against: of the scored samples
    # only (the rates below read every calibration sample once)
    sim_rate = Simulator(base, dt=dt, progress=False)
    reference = _as_list(sim_rate.predict(scored, mode="rate"))[0]
    scalable = [s.name for s in base.neuron_stages if _scalable(s)]
    budget = base.max_spikes_per_step
    percentiles = (percentile,)
    if budget is not None:  # capped neurons: clipping the top rates may pay
        percentiles += tuple(p for p in CAPPED_PERCENTILES if p < percentile)
    rates = _percentile_rates(base, xs, scalable, percentiles)
    search = _Search(base, rates, scored, reference, n_steps, seed, dt, progress)

    targets = (None,) if "scale_firing_rates" in fixed else _targets(budget)
    initials = (fixed["initial_state"],) if "initial_state" in fixed else INITIAL_STATES
    own = {getattr(st.spiking_neuron, "reset", None) for st in base.neuron_stages}
    resets = (
        (fixed["reset"],)
        if "reset" in fixed
        # a reset every neuron has already is the same candidate as None
        else (None,) + tuple(r for r in ("subtract", "zero") if {r} != own)
    )
    synapses = (fixed["synapse"],) if "synapse" in fixed else SYNAPSES
    # coordinate search: scale and start first (with each neuron's own reset
    # and no synapse), then reset and synapse around the best of those
    with search:
        # more spikes per step code finer until the layers saturate or the
        # top rates are clipped: from the largest target down, a line stops
        # at its first candidate scoring below the line's best (pruning)
        first = []
        for p, initial in itertools.product(percentiles, initials):
            line_best = -np.inf
            for target in sorted(targets, key=lambda t: -(t or 0)):
                key, score = search.screen(
                    _Config(p, target, initial, resets[0], synapses[0])
                )
                first.append(key)
                if score < line_best:
                    break
                line_best = max(line_best, score)
        search.promote(first)
        top = search.best()
        search.round(
            dataclasses.replace(top.config, reset=reset, synapse=synapse)
            for reset, synapse in itertools.product(resets, synapses)
        )
    best = search.best()
    config = best.config
    net = _configure(base, rates[config.percentile], config, dt)
    calibration = None
    if calibrate and _calibratable(net):
        with search:
            net, calibration, best = search.calibrated(net, best)
    chosen = {
        "target": config.target,
        "initial_state": config.initial_state,
        "reset": config.reset,
        "synapse": config.synapse,
        "probe_synapse": best.probe,
        "readout": best.readout,
        "percentile": config.percentile,
        "scales": _scales(rates[config.percentile], config.target, dt),
        "max_spikes_per_step": options.get("max_spikes_per_step"),
        "calibration": calibration,
    }
    net = dataclasses.replace(
        net, probe_synapse=best.probe, readout=best.readout, tuning=chosen
    )
    return TuningResult(net, chosen, best.score, search.records())


def _calibratable(net):
    n_layers = len(net.neuron_stages)
    return 0 < n_layers <= CALIBRATE_MAX_LAYERS and any(
        is_if_family_stage(s) for s in net.neuron_stages
    )


def _targets(budget):
    """`TARGETS` within a spike budget (all of them without one)."""
    if budget is None:
        return TARGETS
    return tuple(t for t in TARGETS if t <= budget)


# options searched by `tune` (an explicit value is kept as given)
_SEARCHED = ("scale_firing_rates", "initial_state", "reset", "synapse")


def _base_options(fixed):
    return {k: v for k, v in fixed.items() if k == "scale_firing_rates"}


@contextlib.contextmanager
def _quiet_tensorflow():
    """Silence TensorFlow's retracing notes: each candidate is a new graph."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _scalable(stage):
    """Whether the stage's neurons can be rescaled exactly in rate mode."""
    rate = stage.rate_neuron
    if isinstance(rate, RectifiedLinear):
        return True
    return isinstance(rate, LIFRate) and rate.is_linear_in_scale


def _percentile_rates(net, xs, names, percentiles):
    """``{percentile: {layer: (rate in Hz over active neurons, spike cap)}}``.

    The cap is the most spikes per step the layer's spiking neurons fire
    (LIF: 1; integrate-and-fire: their ``max_spikes_per_step``, None
    unbounded).
    """
    out = {p: {} for p in percentiles}
    if not names:
        return out
    acts = rate_activations(net, xs, names)
    for name in names:
        hz = acts[name] / net[name].rate_neuron.amplitude
        active = hz[hz > 0]
        cap = net[name].spiking_neuron.max_spikes_per_step
        if isinstance(net[name].rate_neuron, LIFRate):
            cap = LIF_MAX_TARGET
        values = (
            np.percentile(active, percentiles)
            if active.size
            else [0.0] * len(percentiles)
        )
        for p, rate in zip(percentiles, values):
            out[p][name] = (float(rate), cap)
    return out


def _scales(rates, target, dt):
    """Per-layer factors: ``{name: k}`` mapping the layer's rate to its target.

    A layer's target is capped at its neurons' spikes per step.
    """
    if target is None:
        return {}
    scales = {}
    for name, (rate, cap) in rates.items():
        if rate > 0:
            layer_target = target if cap is None else min(target, cap)
            scales[name] = layer_target / (rate * dt)
    return scales


def _rescaled(neuron, k):
    if isinstance(neuron, RectifiedLinear):
        # scaling the bias too keeps max(k (g x + b), 0) a / k exact
        return dataclasses.replace(neuron.scaled(k), bias=neuron.bias * k)
    return neuron.scaled(k)


@dataclasses.dataclass(frozen=True)
class _Config:
    """One candidate conversion (``reset=None``: each neuron's own)."""

    percentile: float
    target: float | None
    initial_state: str
    reset: str | None
    synapse: object


def _configure(base, rates, config, dt):
    """``base`` with one candidate's options applied (a new network)."""
    updates = {}
    scales = _scales(rates, config.target, dt)
    for stage in base.neuron_stages:
        fields = {}
        k = scales.get(stage.name)
        if k is not None:
            fields["rate_neuron"] = _rescaled(stage.rate_neuron, k)
            fields["spiking_neuron"] = _rescaled(stage.spiking_neuron, k)
        spiking = fields.get("spiking_neuron", stage.spiking_neuron)
        if config.reset is not None and hasattr(spiking, "reset"):
            fields["spiking_neuron"] = dataclasses.replace(spiking, reset=config.reset)
        fields["initial_state"] = config.initial_state
        fields["synapse"] = as_synapse(config.synapse, "synapse")
        updates[stage.name] = fields
    return base.replace_stages(updates)


def _raw_outputs(net, xs, n_steps, seed, dt):
    """Unfiltered output of the first output stage, before its readout.

    Runs the step engine: a candidate network is run once, and the step
    engine traces one small graph where the time-batched engine compiles a
    loop per neuron layer (on MobileNetV2 that compilation was most of the
    search's time).
    """
    out = net.outputs[0]
    raw = net.replace_stages({out: {"readout": None}})
    # candidates may be silent or saturated: that is what the search scores
    sim = Simulator(raw, dt=dt, progress=False, warn_activity=False, engine="step")
    y = sim.predict(xs, n_steps=n_steps, probe_synapse=None, seed=seed)
    return _as_list(y)[0]


class _Search:
    """Runs and scores candidates: screened on `SCREENED` samples, the best
    `KEPT` of each round then on all scored samples; shows progress."""

    def __init__(self, base, rates, scored, reference, n_steps, seed, dt, progress):
        self.base, self.rates = base, rates
        self.n_steps, self.seed, self.dt = n_steps, seed, dt
        self.n_total = len(scored[0])
        self.n_screen = min(SCREENED, self.n_total)
        self.screen_xs = [a[: self.n_screen] for a in scored]
        self.rest = [a[self.n_screen :] for a in scored]
        self.reference = reference
        self.raw = {}  # key -> raw outputs on the screened samples
        self.entries = []  # (key, config, probe, readout, score, n_samples)
        self.configs = {}  # key -> first config giving it
        self.progress = progress
        self.bar = None
        self.start = time.perf_counter()

    def __enter__(self):
        if self.progress is not False:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=0,
                desc=f"rateconv.convert: tuning for {self.n_steps} steps",
                unit="candidate",
            )
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()

    def key(self, config):
        # candidates giving the same scales (capped layers) are one
        scales = _scales(self.rates[config.percentile], config.target, self.dt)
        return (
            tuple(sorted(scales.items())),
            config.initial_state,
            config.reset,
            config.synapse,
        )

    def _run(self, config, xs):
        net = _configure(self.base, self.rates[config.percentile], config, self.dt)
        with _quiet_tensorflow():
            return _raw_outputs(net, xs, self.n_steps, self.seed, self.dt)

    def _record(self, key, raw, n):
        config = self.configs[key]
        reference = self.reference[:n]
        for probe, readout in PROBES:
            score = _score(self.base, raw, reference, probe, readout, self.dt)
            self.entries.append((key, config, probe, readout, score, n))
        best = self.best()
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(best=f"{best.score:.4f}", refresh=False)
        _log.info(
            "tuning for %d steps: %s on %d samples: agreement %.4f; best %.4f (%.0f s)",
            self.n_steps,
            _describe(config),
            n,
            max(e[4] for e in self.entries if e[0] == key and e[5] == n),
            best.score,
            time.perf_counter() - self.start,
        )

    def screen(self, config):
        """Score ``config`` on the screened samples: ``(key, best score)``."""
        key = self.key(config)
        if key not in self.configs:
            self.configs[key] = config
            if self.bar is not None:
                self.bar.total += 1
                self.bar.refresh()
            self.raw[key] = self._run(config, self.screen_xs)
            self._record(key, self.raw[key], self.n_screen)
        score = max(e[4] for e in self.entries if e[0] == key and e[5] == self.n_screen)
        return key, score

    def round(self, configs):
        """Screen ``configs``; score the best `KEPT` on every sample."""
        self.promote([self.screen(config)[0] for config in configs])

    def promote(self, keys):
        """Score the best `KEPT` screened of ``keys`` on every scored sample."""
        if self.n_total <= self.n_screen:
            return
        new = set(keys)
        screened = [e for e in self.entries if e[0] in new and e[5] == self.n_screen]
        ranked = []
        for e in sorted(screened, key=lambda e: -e[4]):  # stable: ties keep order
            if e[0] not in ranked:
                ranked.append(e[0])
        done = {e[0] for e in self.entries if e[5] == self.n_total}
        ranked = [k for k in ranked[:KEPT] if k not in done]
        if self.bar is not None:
            self.bar.total += len(ranked)
            self.bar.refresh()
        for key in ranked:
            rest = self._run(self.configs[key], self.rest)
            raw = np.concatenate([self.raw[key], rest])
            self._record(key, raw, self.n_total)

    def calibrated(self, net, best):
        """``net`` calibrated layer by layer, if that agrees better than ``best``.

        Returns ``(network, calibration or None, best)``.
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # LIF layers left as they are
            with _quiet_tensorflow():
                calibrated, info = calibrate_layers(
                    net,
                    self.screen_xs,
                    n_steps=self.n_steps,
                    dt=self.dt,
                    seed=self.seed,
                    return_info=True,
                )
        if self.bar is not None:
            self.bar.total += 1
            self.bar.refresh()
        with _quiet_tensorflow():
            raw = np.concatenate(
                [
                    _raw_outputs(calibrated, xs, self.n_steps, self.seed, self.dt)
                    for xs in (self.screen_xs, self.rest)
                    if len(xs[0])
                ]
            )
        key = ("calibrated",)
        self.configs[key] = best.config
        self._record(key, raw, self.n_total)
        mine = [e for e in self.entries if e[0] == key]
        top = max(enumerate(mine), key=lambda ie: (ie[1][4], -ie[0]))[1]
        if top[4] <= best.score:
            return net, None, best
        shifts = {
            name: {"gain": v["gain"], "shift": v["shift"]} for name, v in info.items()
        }
        return calibrated, shifts, _Best(best.config, top[2], top[3], top[4])

    def best(self):
        """The best candidate scored on the most samples (ties: the earliest)."""
        n = max(e[5] for e in self.entries)
        pool = [e for e in self.entries if e[5] == n]
        e = max(enumerate(pool), key=lambda ie: (ie[1][4], -ie[0]))[1]
        return _Best(e[1], e[2], e[3], e[4])

    def records(self):
        """Every candidate scored, as dicts (`TuningResult.candidates`)."""
        return [
            {
                "percentile": c.percentile,
                "target": c.target,
                "initial_state": c.initial_state,
                "reset": c.reset,
                "synapse": c.synapse,
                "probe_synapse": probe,
                "readout": readout,
                "score": score,
                "n_samples": n,
                "calibrated": key == ("calibrated",),
            }
            for key, c, probe, readout, score, n in self.entries
        ]


class _Best(NamedTuple):
    config: _Config
    probe: object
    readout: str
    score: float


def _describe(config):
    target = "given scales" if config.target is None else f"target {config.target:g}"
    return (
        f"{target} at p{config.percentile:g}, start {config.initial_state}, reset "
        f"{config.reset or 'own'}, synapse {config.synapse}"
    )


def _score(net, raw, reference, probe, readout, dt):
    y = raw if probe is None else probe.filter(raw, dt=dt, axis=1)
    final = net[net.outputs[0]].readout
    if final is not None:
        y = np.asarray(final(y))
    y = y.mean(axis=1) if readout == "mean" else y[:, -1]
    if reference.ndim == 2 and reference.shape[1] > 1:
        return float(np.mean(np.argmax(y, -1) == np.argmax(reference, -1)))
    return -float(np.mean((y - reference) ** 2))
