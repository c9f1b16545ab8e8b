"""What the verbs share: loading models and data, one evaluation run, reporting.

Every function takes the values it needs (never an argparse namespace) and
returns data; the verbs print.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from rateconv._version import __version__
from rateconv.loading import read_model
from rateconv.metrics import Evaluation
from rateconv.simulator import Simulator, auto_precision
from rateconv.synapses import Alpha, Lowpass
from rateconv.tuning import calibrate, convert, normalize
from rateconv.zoo.pretrained import (
    available,
    conversion_options,
    load_pretrained,
)

# the error-vs-steps table's rows (those up to the run's n_steps)
CURVE_STEPS = (1, 2, 3, 5, 10, 15, 20, 30, 50, 100, 200, 300)


class UsageError(Exception):
    """A wrong argument: reported as one line, exit status 2."""


def one_line(error):
    """An exception's message on one line (some messages list places searched)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return " ".join(lines) or type(error).__name__


def open_model(spec):
    """``(model, note)`` from a model file or a pretrained name.

    A file is read by `rateconv.loading.read_model` (Keras 3 archives, Keras 2
    HDF5 files of any extension, tf.keras SavedModel directories); ``note``
    is the line the report prints about it (what the file was, and that a
    Keras 2 compile state was dropped), None for a pretrained name.
    """
    path = Path(spec)
    # anything that looks like a path is a file, never a pretrained name (whose
    # lookup would fail with a confusing message about the manifest)
    if path.suffix or os.sep in spec or path.exists():
        try:
            loaded = read_model(path)
        except FileNotFoundError as e:
            raise UsageError(f"model file not found: {spec}") from e
        except Exception as e:
            raise UsageError(one_line(e)) from e
        return loaded.model, loaded.describe() if loaded.format != "keras" else None
    if spec in available():
        return load_pretrained(spec), None
    raise UsageError(
        "MODEL must be a model file (.keras, .h5, a SavedModel directory) or a "
        f"pretrained name {available()}; got {spec!r}"
    )


def load_model(spec):
    """A Keras model from a model file or a pretrained name (see `open_model`)."""
    return open_model(spec)[0]


def conversion(spec, flags, *, tune=False):
    """`convert` options: a pretrained network's own, then the explicit `flags`.

    Parameters
    ----------
    spec : str or None
        The model as named on the command line.
    flags : dict
        The conversion flags given on the command line (`_options.given`).
    tune : bool
        ``--tune``: the conversion is searched anew, so a pretrained
        network's stored options do not apply (explicit flags still do).
    """
    options = {}
    if spec in available() and not tune:
        options.update(conversion_options(spec))
    options.update(flags)
    return options


@dataclass(frozen=True)
class RunSettings:
    """How demo and evaluate simulate: the flags, read once from the namespace."""

    n_steps: int
    probe_synapse: object  # seconds, None, or "default" (the network's own)
    readout: str
    precision: str
    minibatch_size: int | None
    tune: bool
    normalize: bool
    calibrate: bool
    calibration_images: int

    @classmethod
    def from_args(cls, args):
        return cls(
            n_steps=args.n_steps,
            probe_synapse=getattr(args, "probe_synapse", "default"),
            readout=getattr(args, "readout", "default"),
            # the report names the arithmetic that ran, not "auto"
            precision=(
                auto_precision() if args.precision == "auto" else args.precision
            ),
            minibatch_size=args.minibatch_size,
            tune=args.tune,
            normalize=args.normalize,
            calibrate=args.calibrate,
            calibration_images=args.calibration_images,
        )


@dataclass(frozen=True)
class RunResult:
    """Rate and spiking evaluations of one run, its seconds and the step ``dt``.

    ``probe_synapse`` and ``readout`` are the ones the run used; ``tuning``
    what ``--tune`` chose (None without it); ``simulator`` the one that ran.
    """

    rate: Evaluation
    spiking: Evaluation
    seconds: float
    dt: float
    probe_synapse: object = None
    readout: str = "last"
    tuning: dict | None = None
    simulator: Simulator | None = None  # for figures that run the network again


def run_evaluation(
    model,
    x,
    y,
    options,
    settings,
    *,
    calibration=None,
    return_outputs=False,
    strategy=None,
):
    """Convert `model` with `options`, then evaluate it in rate mode and spiking.

    `calibration` returns the training inputs that ``settings.tune``,
    ``settings.normalize`` and ``settings.calibrate`` use (called only then).
    `strategy` (``--devices``, ``--multi-worker``) spreads the evaluation
    over devices.
    """
    x_cal = None
    if settings.tune or settings.normalize or settings.calibrate:
        x_cal = calibration()
    if settings.tune:
        net = convert(
            model, calibration_data=x_cal, n_steps=settings.n_steps, **options
        )
    else:
        net = convert(model, **options)
    if x_cal is not None:
        if settings.normalize:
            net = normalize(net, x_cal)
        if settings.calibrate:
            net = calibrate(net, x_cal, n_steps=settings.n_steps)
    sim = Simulator(
        net,
        minibatch_size=settings.minibatch_size,
        precision=settings.precision,
        strategy=strategy,
    )
    start = time.perf_counter()
    rate = sim.evaluate(x, y, mode="rate")
    spiking = sim.evaluate(
        x,
        y,
        n_steps=settings.n_steps,
        probe_synapse=settings.probe_synapse,
        readout=settings.readout,
        return_outputs=return_outputs,
    )
    return RunResult(
        rate,
        spiking,
        time.perf_counter() - start,
        sim.dt,
        probe_synapse=(
            net.probe_synapse
            if settings.probe_synapse == "default"
            else settings.probe_synapse
        ),
        readout=net.readout if settings.readout == "default" else settings.readout,
        tuning=net.tuning,
        simulator=sim,
    )


def report(result, n_steps):
    """What ``--tune`` chose (if it ran) and the error table of `result`."""
    lines = []
    if result.tuning is not None:
        lines.append(f"  tuned for {n_steps} steps: {tuning_text(result.tuning)}")
    table = error_table(
        result.spiking, result.rate.error, result.probe_synapse, result.readout
    )
    return "\n".join([*lines, table])


def versions():
    """The versions that shape a run's figures, for reports."""
    import tensorflow as tf

    return {
        "rateconv": __version__,
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
    }


def provenance(settings):
    """The report line naming the versions and every run setting."""
    v = versions()
    return (
        f"rateconv {v['rateconv']}, Keras {v['keras']}, TensorFlow "
        f"{v['tensorflow']}; settings {settings_json(settings)}"
    )


def settings_json(settings):
    """Every run setting, defaults included, JSON-serializable."""
    out = dataclasses.asdict(settings)
    out["probe_synapse"] = describe_probe(out["probe_synapse"])
    return out


def describe_probe(probe_synapse):
    """A probe filter as text and JSON: seconds, ``"alpha <s>"`` or None."""
    if isinstance(probe_synapse, Alpha):
        return f"alpha {probe_synapse.tau:g}"
    if isinstance(probe_synapse, Lowpass):
        return probe_synapse.tau
    return probe_synapse


def _readout_text(probe_synapse, readout):
    probe = describe_probe(probe_synapse)
    what = "unfiltered probe" if probe is None else f"probe lowpass {probe} s"
    if readout == "mean":
        return f"{what}, running mean"
    return f"{what}, read at the last step"


def tuning_json(tuning):
    """What `--tune` chose, JSON-serializable (None without tuning)."""
    if tuning is None:
        return None
    out = dict(tuning)
    out["probe_synapse"] = describe_probe(out.get("probe_synapse"))
    out["synapse"] = describe_probe(out.get("synapse"))
    return out


def tuning_text(tuning):
    """What `--tune` chose, on one line."""
    t = tuning_json(tuning)
    scales = ", ".join(f"{k} x{v:.3g}" for k, v in t.get("scales", {}).items())
    return (
        f"target {t['target']} spikes/step at the {t['percentile']:g}th "
        f"percentile ({scales or 'no layer scaled'}), initial state "
        f"{t['initial_state']}, reset {t['reset'] or 'per neuron'}, synapse "
        f"{t['synapse']}, probe {t['probe_synapse']}, readout {t['readout']}"
    )


def error_table(evaluation, rate_error, probe_synapse=0.1, readout="last"):
    """The rate error, the spiking error curve and the firing rates, as text."""
    lines = [f"  rate mode error:           {100 * rate_error:6.2f}%"]
    errors = evaluation.errors
    lines.append(
        f"  spiking error at step {len(errors):<4d} {100 * errors[-1]:6.2f}%  "
        f"({_readout_text(probe_synapse, readout)})"
    )
    lines.append("  error vs steps:")
    for n in CURVE_STEPS:
        if n <= len(errors):
            lines.append(f"    {n:4d} steps  {100 * errors[n - 1]:6.2f}%")
    lines.append("  firing rates (Hz, mean over neurons):")
    for name, activity in evaluation.activity.items():
        lines.append(
            f"    {name:10s} {activity.mean_rate:7.2f}  "
            f"({100 * activity.silent_fraction:.0f}% silent, "
            f"{activity.n_neurons} neurons)"
        )
    return "\n".join(lines)
