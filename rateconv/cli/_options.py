"""The command line's options, each declared once and added to every verb using it.

A verb's parser lists the names it takes (`add_options`); a verb that needs
another default or help line for an option passes only that change, never a
second declaration.  Conversion flags default to `UNSET` (argparse leaves
them out of the namespace), so that flags not given defer to the network's
own options.
"""

from __future__ import annotations

import argparse

UNSET = argparse.SUPPRESS  # flags not given defer to the network's own options

# the `rateconv.convert` options a flag can set (absent from the namespace unless
# given), in the order they are applied
CONVERT_OPTIONS = ("synapse", "scale_firing_rates", "reset", "initial_state")

DATASETS = ("fashion_mnist", "fashion_mnist_sample", "mnist")


class ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr, exit status 2.

    argparse prints the whole usage block before the error; for a command with
    many options that buries the one line that matters.  Subparsers inherit
    this class, so every subcommand behaves the same.
    """

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def synapse(text):
    """argparse type: a lowpass time constant in seconds (> 0), or None."""
    if text.lower() in ("none", "0"):
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(
            f"expected a time constant in seconds (> 0) or 'none', got {text!r}"
        )
    return value


def count_or_all(text):
    """argparse type: an integer >= 1, or ``all``."""
    if text.strip().lower() == "all":
        return "all"
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= 1 or 'all', got {text!r}"
        ) from None


def two_names(text):
    """argparse type: ``X,Y``, two array names."""
    names = tuple(n.strip() for n in text.split(","))
    if len(names) != 2 or not all(names):
        raise argparse.ArgumentTypeError(
            f"expected two array names, inputs then labels (X,Y), got {text!r}"
        )
    return names


def positive_float(text):
    """argparse type: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


# name -> (flags, argparse keywords); the one declaration of each option
OPTIONS = {
    "n_steps": (("--n-steps",), {"type": positive_int, "default": 30}),
    "synapse": (
        ("--synapse",),
        {
            "type": synapse,
            "default": UNSET,
            "help": "lowpass on connections leaving spiking layers, s or 'none' "
            "(default none, or the pretrained network's own setting)",
        },
    ),
    "probe_synapse": (
        ("--probe-synapse",),
        {
            "type": synapse,
            "default": UNSET,
            "help": "lowpass on the output probe, s or 'none' (default: the "
            "network's own: 0.1, unless --tune chose another)",
        },
    ),
    "scale_firing_rates": (
        ("--scale-firing-rates",),
        {
            "type": positive_float,
            "default": UNSET,
            "help": "more spikes per step, each smaller (default 1, or the "
            "pretrained network's own setting)",
        },
    ),
    "n_images": (
        ("--n-images",),
        {
            "type": count_or_all,
            "default": None,
            "help": "evaluate the first N samples, or 'all' (default: all up to "
            "1000, else a seeded random 1000)",
        },
    ),
    "minibatch_size": (("--minibatch-size",), {"type": positive_int, "default": None}),
    "reset": (
        ("--reset",),
        {
            "choices": ["zero", "subtract"],
            "default": UNSET,
            "help": "voltage after a spike (default: zero for LIF, subtract for IF)",
        },
    ),
    "initial_state": (
        ("--initial-state",),
        {
            "choices": ["zero", "half", "uniform"],
            "default": UNSET,
            "help": "initial membrane voltage, fraction of threshold (default zero)",
        },
    ),
    "readout": (
        ("--readout",),
        {
            "choices": ["last", "mean"],
            "default": UNSET,
            "help": "classify from the probe at each step or its running mean "
            "(default: the network's own: last, unless --tune chose another)",
        },
    ),
    "precision": (
        ("--precision",),
        {
            "choices": ["auto", "int8", "float32", "bfloat16"],
            "default": "auto",
            "help": "arithmetic of layers reading spikes (default auto: int8, "
            "exact integer sums of whole spikes, the same on every CPU; "
            "float32 with a GPU)",
        },
    ),
    "tune": (
        ("--tune",),
        {
            "action": "store_true",
            "help": "choose the conversion for --n-steps on --calibration-images "
            "training images (rateconv.convert(model, calibration_data=..., "
            "n_steps=...)): per-layer scale, initial state, reset, synapse and "
            "readout; flags given explicitly are kept",
        },
    ),
    "normalize": (
        ("--normalize",),
        {
            "action": "store_true",
            "help": "ReLU nets: scale each layer so its 99.9th-percentile rate is "
            "one spike per step (uses training images)",
        },
    ),
    "calibrate": (
        ("--calibrate",),
        {
            "action": "store_true",
            "help": "ReLU nets: calibrate IF neurons to --n-steps on training images",
        },
    ),
    "calibration_images": (
        ("--calibration-images",),
        {"type": positive_int, "default": 1000},
    ),
    "dataset": (
        ("--dataset",),
        {
            "choices": list(DATASETS),
            "default": None,
            "help": f"a built-in test set (default {DATASETS[0]}, unless --data)",
        },
    ),
    "data": (
        ("--data",),
        {
            "default": None,
            "metavar": "FILE",
            "help": "your own data, fed as stored (no rescaling): an .npz with "
            "arrays x (inputs) and y (labels), or an .npy of inputs with --labels",
        },
    ),
    "labels": (
        ("--labels",),
        {"default": None, "metavar": "FILE", "help": "labels .npy for an .npy --data"},
    ),
    "data_keys": (
        ("--data-keys",),
        {
            "type": two_names,
            "default": ("x", "y"),
            "metavar": "X,Y",
            "help": "the names of the inputs and labels in the --data .npz "
            "(default x,y)",
        },
    ),
    "calibration_data": (
        ("--calibration-data",),
        {
            "default": None,
            "metavar": "FILE",
            "help": "training inputs for --tune/--normalize/--calibrate with "
            "--data (.npz with x, or .npy); never the evaluated samples",
        },
    ),
    "pixels": (
        ("--pixels",),
        {
            "choices": ["auto", "unit", "raw"],
            "default": "auto",
            "help": "built-in datasets' uint8 pixels: unit (/255, as rateconv's "
            "networks are trained), raw (0..255), auto (raw when the model "
            "starts with Rescaling, else unit)",
        },
    ),
    "plot_dir": (
        ("--plot-dir",),
        {
            "default": None,
            "metavar": "DIR",
            "help": "write figures there: error vs steps, spike raster (most "
            "active neurons), firing-rate histogram, output probes",
        },
    ),
    "verbose": (
        ("--verbose", "-v"),
        {
            "action": "store_true",
            "help": "show TensorFlow's log lines (hidden by default)",
        },
    ),
    "data_dir": (("--data-dir",), {"default": None}),
    "json": (("--json",), {"action": "store_true", "help": "machine-readable output"}),
    "plot": (("--plot",), {"default": None, "help": "write figures to this path"}),
}

# what demo and evaluate share: simulate a converted network and score it
EVALUATION_OPTIONS = (
    "n_steps",
    "synapse",
    "probe_synapse",
    "scale_firing_rates",
    "n_images",
    "minibatch_size",
    "reset",
    "initial_state",
    "readout",
    "precision",
    "tune",
    "normalize",
    "calibrate",
    "calibration_images",
)


def add_option(parser, name, **changes):
    """Add the declared option `name` to `parser`.

    ``changes`` replace argparse keywords of the declaration for this verb
    only (another default, help line or ``nargs``); the flag and its type stay.
    """
    flags, keywords = OPTIONS[name]
    parser.add_argument(*flags, **{**keywords, **changes})


def add_options(parser, names):
    """Add each declared option in `names`, in that order."""
    for name in names:
        add_option(parser, name)


def given(args, names):
    """The options of `names` given on the command line, as a dict.

    Options declared with ``default=UNSET`` are absent from the namespace
    unless given.
    """
    return {name: getattr(args, name) for name in names if hasattr(args, name)}
