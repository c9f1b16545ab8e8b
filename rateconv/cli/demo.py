"""``rateconv demo``: evaluate a shipped pretrained network."""

from __future__ import annotations

from rateconv import datasets
from rateconv.cli._common import (
    RunSettings,
    UsageError,
    conversion,
    load_data,
    report,
    run_evaluation,
    save_plots,
)
from rateconv.cli._options import (
    CONVERT_OPTIONS,
    DATASETS,
    EVALUATION_OPTIONS,
    add_option,
    add_options,
    given,
)
from rateconv.pretrained import DEFAULT_NAME, available, load_pretrained, read_manifest


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
    x, y = load_data(dataset, args.n_images, None)
    print(f"rateconv demo: pretrained '{name}' ({entry.get('description', '')})")
    options = conversion(name, given(args, CONVERT_OPTIONS), tune=args.tune)
    result = run_evaluation(
        model,
        x,
        y,
        options,
        RunSettings.from_args(args),
        dataset=dataset,
        return_outputs=args.plot is not None,
    )
    print(
        f"converted to spiking LIF ({_describe(options)}), {args.n_steps} "
        f"steps of {1000 * result.dt:g} ms, on {len(x)} test images ({dataset})"
    )
    print(report(result, args.n_steps))
    image_steps = len(x) * args.n_steps
    print(
        f"  simulated {image_steps} image-steps in {result.seconds:.1f} s "
        f"({image_steps / result.seconds:.0f} image-steps/s, incl. rate pass)"
    )
    if args.plot:
        for p in save_plots(args.plot, x, y, result, datasets.FASHION_MNIST_CLASSES):
            print(f"wrote {p}")
