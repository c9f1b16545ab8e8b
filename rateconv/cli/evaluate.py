"""``rateconv evaluate MODEL``: convert a Keras model and evaluate it."""

from __future__ import annotations

import json
import sys

from rateconv import datasets
from rateconv.cli import _data
from rateconv.cli._common import (
    RunSettings,
    UsageError,
    conversion,
    describe_probe,
    open_model,
    provenance,
    report,
    run_evaluation,
    settings_json,
    tuning_json,
    versions,
)
from rateconv.cli._devices import add_device_options, strategy_from_args
from rateconv.cli._figures import save_plot_dir, save_plots
from rateconv.cli._options import (
    CONVERT_OPTIONS,
    DATASETS,
    EVALUATION_OPTIONS,
    add_option,
    add_options,
    given,
)

DATA_OPTIONS = ("dataset", "data_dir", "data", "labels", "data_keys", "pixels")


def add_parser(subparsers):
    p = subparsers.add_parser(
        "evaluate",
        help="convert a Keras model and evaluate it",
        description="Convert a Keras model to a spiking network and report its "
        "error at every step, on your own data (--data, fed exactly as stored) "
        "or a built-in test set (--dataset).",
    )
    p.add_argument(
        "model",
        help="a model file (Keras 3 .keras, Keras 2 or 3 .h5, a tf.keras "
        "SavedModel directory) or a pretrained name",
    )
    add_options(p, EVALUATION_OPTIONS)
    add_options(p, (*DATA_OPTIONS, "calibration_data", "json"))
    add_option(p, "plot")
    add_option(p, "plot_dir")
    add_device_options(p)
    p.set_defaults(func=cmd_evaluate)
    return p


def load_data(args, model):
    """``(dataset name or None, Data, calibration inputs callable)`` from
    the data options (`DATA_OPTIONS`)."""
    if args.data is not None and args.dataset is not None:
        raise UsageError("give --data or --dataset, not both")
    if args.data is None and (args.labels or args.calibration_data):
        raise UsageError("--labels and --calibration-data go with --data")
    if args.data is not None and args.pixels != "auto":
        raise UsageError("--pixels prepares built-in datasets; --data is fed as stored")
    dataset = None if args.data is not None else args.dataset or DATASETS[0]
    data = _data.load(
        model,
        data=args.data,
        labels=args.labels,
        keys=args.data_keys,
        dataset=dataset,
        data_dir=args.data_dir,
        pixels=args.pixels,
        n_images=args.n_images,
    )

    def calibration():
        if args.data is not None and args.calibration_data is None:
            raise UsageError(
                "--tune/--normalize/--calibrate with --data need "
                "--calibration-data TRAIN.npz: training inputs in the form of "
                "--data (calibration never uses the evaluated samples)"
            )
        return _data.calibration_inputs(
            model,
            n=args.calibration_images,
            calibration_data=args.calibration_data,
            dataset=dataset,
            data_dir=args.data_dir,
            pixels=args.pixels,
        )

    return dataset, data, calibration


def cmd_evaluate(args):
    strategy = strategy_from_args(args)  # first: before TensorFlow starts devices
    model, loaded = open_model(args.model)
    dataset, data, calibration = load_data(args, model)
    options = conversion(args.model, given(args, CONVERT_OPTIONS), tune=args.tune)
    settings = RunSettings.from_args(args)
    result = run_evaluation(
        model,
        data.x,
        data.y,
        options,
        settings,
        calibration=calibration,
        return_outputs=bool(args.plot),
        strategy=strategy,
    )
    # the time all the samples would take, from this run's
    full_seconds = result.seconds * data.n_total / len(data.x)
    if args.json:
        out = {
            "model": args.model,
            "loaded": loaded,
            "dataset": dataset,
            "data_dir": args.data_dir,
            "data": {**data.to_json(), "seconds_for_all": full_seconds},
            "n_images": len(data.x),
            "versions": versions(),
            "settings": {**settings_json(settings), "pixels": args.pixels},
            "convert": options,
            "probe_synapse": describe_probe(result.probe_synapse),
            "readout": result.readout,
            "tuning": tuning_json(result.tuning),
            "rate_error": result.rate.error,
            "spiking": result.spiking.to_dict(),
            "seconds": result.seconds,
        }
        print(json.dumps(out, indent=2))
    else:
        print(
            f"{args.model} on {len(data.x)} samples, {args.n_steps} steps "
            f"({result.seconds:.1f} s); convert options {options}"
        )
        if loaded:
            print(f"  {loaded}")
        print(f"  {data.text()}")
        if len(data.x) < data.n_total:
            print(
                f"  all {data.n_total} samples would take about "
                f"{_duration(full_seconds)} (--n-images all)"
            )
        print(f"  {provenance(settings)}")
        print(report(result, args.n_steps))
    names = datasets.FASHION_MNIST_CLASSES if "fashion" in (dataset or "") else None
    written = []
    if args.plot:
        written += save_plots(args.plot, data.x, data.y, result, names)
    if args.plot_dir:
        written += save_plot_dir(
            args.plot_dir, data.x, data.y, result, args.n_steps, names
        )
    for p in written:
        print(f"wrote {p}", file=sys.stderr if args.json else sys.stdout)


def _duration(seconds):
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
