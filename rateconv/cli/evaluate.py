"""``rateconv evaluate MODEL``: convert a Keras model and evaluate it."""

from __future__ import annotations

import json
import sys

from rateconv import datasets
from rateconv.cli._common import (
    RunSettings,
    conversion,
    describe_probe,
    load_data,
    load_model,
    report,
    run_evaluation,
    save_plots,
    settings_json,
    tuning_json,
    versions,
)
from rateconv.cli._options import (
    CONVERT_OPTIONS,
    EVALUATION_OPTIONS,
    add_option,
    add_options,
    given,
)


def add_parser(subparsers):
    p = subparsers.add_parser("evaluate", help="convert a Keras model and evaluate it")
    p.add_argument("model", help="a .keras file or a pretrained name")
    add_options(p, EVALUATION_OPTIONS)
    add_options(p, ("dataset", "data_dir", "json"))
    add_option(p, "plot")
    p.set_defaults(func=cmd_evaluate)
    return p


def cmd_evaluate(args):
    model = load_model(args.model)
    x, y = load_data(args.dataset, args.n_images, args.data_dir)
    options = conversion(args.model, given(args, CONVERT_OPTIONS), tune=args.tune)
    settings = RunSettings.from_args(args)
    result = run_evaluation(
        model,
        x,
        y,
        options,
        settings,
        dataset=args.dataset,
        data_dir=args.data_dir,
        return_outputs=args.plot is not None,
    )
    if args.json:
        out = {
            "model": args.model,
            "dataset": args.dataset,
            "data_dir": args.data_dir,
            "n_images": len(x),
            "versions": versions(),
            "settings": settings_json(settings),
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
            f"{args.model} on {len(x)} images of {args.dataset}, {args.n_steps} steps "
            f"({result.seconds:.1f} s); convert options {options}"
        )
        v = versions()
        print(
            f"  rateconv {v['rateconv']}, Keras {v['keras']}, TensorFlow "
            f"{v['tensorflow']}; settings {settings_json(settings)}"
        )
        print(report(result, args.n_steps))
    if args.plot:
        names = datasets.FASHION_MNIST_CLASSES if "fashion" in args.dataset else None
        for p in save_plots(args.plot, x, y, result, names):
            print(f"wrote {p}", file=sys.stderr if args.json else sys.stdout)
