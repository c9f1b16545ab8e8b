"""Conversion for a step budget: choose the options that spike best in N steps.

`convert` (``rateconv.convert``) with ``calibration_data`` and ``n_steps``
converts a Keras model, then searches, on the calibration data only, for the
spiking options that make the spiking network agree best with the Keras model
after ``n_steps`` steps:

1. **Firing-rate scale per layer** (data-based normalization, Diehl et al.
   2015, Rueckauer et al. 2017): each scalable spiking layer (ReLU /
   integrate-and-fire, LIF) is rescaled so that the given percentile of its
   rate-mode firing rate on the calibration data becomes a target number of
   spikes per step.  Rescaling is exact in rate mode for these neurons (ReLU:
   input times k, amplitude over k; LIF: time constants over k), so rate mode
   still equals ``model.predict``.
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
the earlier, simpler candidate.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging

import numpy as np

from rateconv import _checks
from rateconv.converter import build_network
from rateconv.layers import MeanOverSteps
from rateconv.neurons import DT, LIFRate, RectifiedLinear
from rateconv.simulator import Simulator
from rateconv.synapses import Lowpass, as_synapse
from rateconv.tuning._calibration import rate_activations

_LOG = logging.getLogger(__name__)

TARGETS = (0.5, 1.0, 2.0, 4.0)
"""Spikes per step given to a layer's percentile firing rate.

Integrate-and-fire neurons with reset by subtraction fire several spikes in a
step when their input is above one spike per step, so a target above 1 is a
finer code in fewer steps (measured: a 7-layer residual network at 10 steps
agrees with Keras on 52% of calibration images at 1 spike per step, 91% at 2,
99% at 4).  LIF neurons fire at most once a step: their target is capped at
`LIF_MAX_TARGET`.
"""
LIF_MAX_TARGET = 1.0
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


@dataclasses.dataclass(frozen=True)
class TuningResult:
    """What `tune` chose and how each candidate scored.

    Attributes
    ----------
    network : SpikingNetwork
        The converted network with the chosen options and readout.
    options : dict
        The chosen options: ``percentile``, ``target`` (spikes per step),
        ``initial_state``, ``reset``, ``synapse``, ``probe_synapse``,
        ``readout``, and the per-layer ``scales``.
    agreement : float
        Score of the chosen conversion on the scored calibration samples
        (fraction agreeing with the Keras model's class at ``n_steps``).
    candidates : list of dict
        Every candidate tried, with its score.

    Examples
    --------
    >>> import numpy as np, keras, rateconv
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, "relu")])
    >>> result = rateconv.tune(model, np.ones((8, 4), "float32"), n_steps=4)
    >>> net = rateconv.convert(model, **result.convert_options)  # no data needed
    """

    network: object
    options: dict
    agreement: float
    candidates: list

    @property
    def convert_options(self):
        """Options of `rateconv.convert` that rebuild `network` without data.

        Per-layer ``scale_firing_rates``, ``initial_state``, ``reset``,
        ``synapse``, ``probe_synapse`` and ``readout``: what a manifest
        stores so that the tuned network loads without calibration data.
        """
        o = self.options
        out = {"initial_state": o["initial_state"]}
        if o["scales"]:
            out["scale_firing_rates"] = dict(o["scales"])
        if o["reset"] is not None:
            out["reset"] = o["reset"]
        if o["synapse"] is not None:
            out["synapse"] = o["synapse"]
        out["probe_synapse"] = o["probe_synapse"]
        out["readout"] = o["readout"]
        return out


def convert(
    model,
    *,
    calibration_data=None,
    n_steps=None,
    probe_synapse="default",
    readout="default",
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
    **options
        Options of `rateconv.converter.build_network` (``swap_activations``,
        ``max_to_avg_pool``, ``fold_batch_norm``, ``scale_firing_rates``,
        ``synapse``, ``reset``, ``initial_state``).  With calibration data,
        an option given explicitly is kept and not searched.

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
    trained_for_steps = any(isinstance(la, MeanOverSteps) for la in model.layers)
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
        net = tune(model, calibration_data, n_steps=n_steps, **options).network
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
    max_scored : int
        Calibration samples simulated per candidate.
    seed : int
        Simulation seed (uniform initial voltages, Poisson inputs).
    dt : float
        Timestep of the simulation the network is tuned for, in seconds.
    **options
        As in `convert`.

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
    rates = _percentile_rates(base, xs, scalable, percentile)

    # coordinate search: scale and start first (with each neuron's own reset
    # and no synapse), then reset and synapse around the best of those
    tried = {}

    def run(target, initial, reset, synapse):
        # targets that give the same scales (LIF layers are capped) are one
        scales = tuple(sorted(_scales(rates, target, dt).items()))
        key = (scales, initial, reset, synapse)
        if key in tried:
            return
        net = _configure(base, rates, target, initial, reset, synapse, dt)
        with _quiet_tensorflow():
            raw = _raw_outputs(net, scored, n_steps, seed, dt)
        config = {
            "target": target,
            "initial_state": initial,
            "reset": reset,
            "synapse": synapse,
        }
        tried[key] = [
            {
                **config,
                "probe_synapse": probe,
                "readout": readout,
                "score": _score(net, raw, reference, probe, readout, dt),
            }
            for probe, readout in PROBES
        ]

    def best_so_far():
        flat = [c for cands in tried.values() for c in cands]
        return max(enumerate(flat), key=lambda ic: (ic[1]["score"], -ic[0]))[1]

    targets = (None,) if "scale_firing_rates" in fixed else TARGETS
    initials = (fixed["initial_state"],) if "initial_state" in fixed else INITIAL_STATES
    own = {getattr(st.spiking_neuron, "reset", None) for st in base.neuron_stages}
    resets = (
        (fixed["reset"],)
        if "reset" in fixed
        # a reset every neuron has already is the same candidate as None
        else (None,) + tuple(r for r in ("subtract", "zero") if {r} != own)
    )
    synapses = (fixed["synapse"],) if "synapse" in fixed else SYNAPSES
    for target, initial in itertools.product(targets, initials):
        run(target, initial, resets[0], synapses[0])
    top = best_so_far()
    for reset, synapse in itertools.product(resets, synapses):
        run(top["target"], top["initial_state"], reset, synapse)
    candidates = [c for cands in tried.values() for c in cands]
    best = max(enumerate(candidates), key=lambda ic: (ic[1]["score"], -ic[0]))[1]
    net = _configure(
        base,
        rates,
        best["target"],
        best["initial_state"],
        best["reset"],
        best["synapse"],
        dt,
    )
    chosen = {k: v for k, v in best.items() if k != "score"}
    chosen["percentile"] = percentile
    chosen["scales"] = _scales(rates, best["target"], dt)
    net = dataclasses.replace(
        net,
        probe_synapse=best["probe_synapse"],
        readout=best["readout"],
        tuning=chosen,
    )
    return TuningResult(net, chosen, best["score"], candidates)


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


def _percentile_rates(net, xs, names, percentile):
    """``{layer: (percentile rate in Hz over active neurons, is LIF)}``."""
    if not names:
        return {}
    acts = rate_activations(net, xs, names)
    rates = {}
    for name in names:
        hz = acts[name] / net[name].rate_neuron.amplitude
        active = hz[hz > 0]
        rate = float(np.percentile(active, percentile)) if active.size else 0.0
        rates[name] = (rate, isinstance(net[name].rate_neuron, LIFRate))
    return rates


def _scales(rates, target, dt):
    """Per-layer factors: ``{name: k}`` mapping the layer's rate to its target."""
    if target is None:
        return {}
    scales = {}
    for name, (rate, is_lif) in rates.items():
        if rate > 0:
            layer_target = min(target, LIF_MAX_TARGET) if is_lif else target
            scales[name] = layer_target / (rate * dt)
    return scales


def _rescaled(neuron, k):
    if isinstance(neuron, RectifiedLinear):
        # scaling the bias too keeps max(k (g x + b), 0) a / k exact
        return dataclasses.replace(neuron.scaled(k), bias=neuron.bias * k)
    return neuron.scaled(k)


def _configure(base, rates, target, initial, reset, synapse, dt):
    """``base`` with one candidate's options applied (a new network).

    ``reset=None`` keeps each neuron's own reset.
    """
    updates = {}
    scales = _scales(rates, target, dt)
    for stage in base.neuron_stages:
        fields = {}
        k = scales.get(stage.name)
        if k is not None:
            fields["rate_neuron"] = _rescaled(stage.rate_neuron, k)
            fields["spiking_neuron"] = _rescaled(stage.spiking_neuron, k)
        spiking = fields.get("spiking_neuron", stage.spiking_neuron)
        if reset is not None and hasattr(spiking, "reset"):
            fields["spiking_neuron"] = dataclasses.replace(spiking, reset=reset)
        fields["initial_state"] = initial
        fields["synapse"] = as_synapse(synapse, "synapse")
        updates[stage.name] = fields
    return base.replace_stages(updates)


def _raw_outputs(net, xs, n_steps, seed, dt):
    """Unfiltered output of the first output stage, before its readout."""
    out = net.outputs[0]
    raw = net.replace_stages({out: {"readout": None}})
    # candidates may be silent or saturated: that is what the search scores
    sim = Simulator(raw, dt=dt, progress=False, warn_activity=False)
    y = sim.predict(xs, n_steps=n_steps, probe_synapse=None, seed=seed)
    return _as_list(y)[0]


def _score(net, raw, reference, probe, readout, dt):
    y = raw if probe is None else probe.filter(raw, dt=dt, axis=1)
    final = net[net.outputs[0]].readout
    if final is not None:
        y = np.asarray(final(y))
    y = y.mean(axis=1) if readout == "mean" else y[:, -1]
    if reference.ndim == 2 and reference.shape[1] > 1:
        return float(np.mean(np.argmax(y, -1) == np.argmax(reference, -1)))
    return -float(np.mean((y - reference) ** 2))
