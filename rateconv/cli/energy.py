"""``rateconv energy MODEL``: operations and energy per inference, measured."""

from __future__ import annotations

import json

from rateconv.cli._common import conversion, open_model
from rateconv.cli._options import CONVERT_OPTIONS, add_option, add_options, given
from rateconv.cli.evaluate import DATA_OPTIONS, load_data
from rateconv.energy import DEVICES, energy
from rateconv.tuning import convert


def add_parser(subparsers):
    p = subparsers.add_parser(
        "energy",
        help="count spikes, synaptic operations and MACs on test images and "
        "estimate the energy per inference on CPU, GPU, Loihi, SpiNNaker...",
    )
    p.add_argument(
        "model",
        help="a model file (Keras 3 .keras, Keras 2 or 3 .h5, a tf.keras "
        "SavedModel directory) or a pretrained name",
    )
    add_options(p, ("n_steps", *DATA_OPTIONS, "calibration_data", "json"))
    add_options(p, ("minibatch_size",))
    add_option(p, "n_images", default=1000)
    p.add_argument(
        "--hardware",
        nargs="+",
        choices=sorted(DEVICES),
        default=None,
        help="devices to estimate (default: all)",
    )
    p.set_defaults(func=cmd_energy)
    return p


def cmd_energy(args):
    model, loaded = open_model(args.model)
    dataset, data, _ = load_data(args, model)
    x, y = data.x, data.y
    net = convert(model, **conversion(args.model, given(args, CONVERT_OPTIONS)))
    report = energy(
        net,
        x,
        y=y,
        n_steps=args.n_steps,
        devices=args.hardware,
        minibatch_size=args.minibatch_size,
    )
    if args.json:
        print(
            json.dumps(
                {
                    "model": args.model,
                    "loaded": loaded,
                    "data": data.to_json(),
                    **report.as_dict(),
                },
                indent=2,
            )
        )
    else:
        print(f"{args.model} on {len(x)} samples")
        if loaded:
            print(f"  {loaded}")
        print(f"  {data.text()}")
        print(report.summary())
