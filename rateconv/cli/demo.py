"""``rateconv demo``: evaluate a shipped pretrained network."""

from __future__ import annotations

from rateconv import datasets
from rateconv.cli import _data
from rateconv.cli._common import (
    RunSettings,
    UsageError,
    conversion,
    provenance,
    report,
    run_evaluation,
)
from rateconv.cli._figures import save_plot_dir, save_plots
from rateconv.cli._options import (
    CONVERT_OPTIONS,
    DATASETS,
    EVALUATION_OPTIONS,
    add_option,
    add_options,
    given,
)
from rateconv.zoo.pretrained import (
    DEFAULT_NAME,
    available,
    load_pretrained,
    read_manifest,
)


def add_parser(subparsers):
    p = subparsers.add_parser("demo", help="evaluate the shipped pretrained network")
    add_options(p, EVALUATION_OPTIONS)
    add_option(
        p,
        "dataset",
        choices=["auto", *DATASETS[:2]],
        default="fashion_mnist_sample",
        help="test images: the shipped 2,000-image sample (default), the full "
        "test set if installed, or 'auto' (full set when found)",
    )
    add_option(p, "plot", default="rateconv_demo.png", help="figure path")
    add_option(p, "plot_dir")
    p.add_argument(
        "--model",
        default=None,
        help="shipped network to run (default fashion_mnist_softlif; "
        "fashion_mnist_softlif_aware is it fine-tuned for spiking)",
    )
    p.set_defaults(func=cmd_demo)
    return p


def demo_dataset(choice):
    """The test set `choice` names; ``"auto"``: the full one when installed."""
    if choice != "auto":
        return choice
    try:
        datasets.load_fashion_mnist(download=False)
    except FileNotFoundError:
        return "fashion_mnist_sample"
    return "fashion_mnist"


def _describe(options):
    return ", ".join(f"{k}={v}" for k, v in options.items()) or "default options"


def cmd_demo(args):
    dataset = demo_dataset(args.dataset)
    name = args.model or DEFAULT_NAME
    if name not in available():
        raise UsageError(
            f"--model must be a shipped pretrained network {available()}; got {name!r}"
        )
    # load first: it explains a missing file; then the entry exists
    model = load_pretrained(name)
    entry = read_manifest()[name]
    # the demo's sample is small enough to run whole by default
    data = _data.load(model, dataset=dataset, n_images=args.n_images or "all")
    x, y = data.x, data.y
    print(f"rateconv demo: pretrained '{name}' ({entry.get('description', '')})")
    options = conversion(name, given(args, CONVERT_OPTIONS), tune=args.tune)
    settings = RunSettings.from_args(args)
    result = run_evaluation(
        model,
        x,
        y,
        options,
        settings,
        calibration=lambda: _data.calibration_inputs(
            model, n=args.calibration_images, dataset=dataset
        ),
        return_outputs=bool(args.plot),
    )
    print(
        f"converted to spiking LIF ({_describe(options)}), {args.n_steps} "
        f"steps of {1000 * result.dt:g} ms, on {len(x)} test images ({dataset})"
    )
    print(f"  {data.text()}")
    print(f"  {provenance(settings)}")
    print(report(result, args.n_steps))
    image_steps = len(x) * args.n_steps
    print(
        f"  simulated {image_steps} image-steps in {result.seconds:.1f} s "
        f"({image_steps / result.seconds:.0f} image-steps/s, incl. rate pass)"
    )
    names = datasets.FASHION_MNIST_CLASSES
    written = save_plots(args.plot, x, y, result, names) if args.plot else []
    if args.plot_dir:
        written += save_plot_dir(args.plot_dir, x, y, result, args.n_steps, names)
    for p in written:
        print(f"wrote {p}")
