"""Command line: ``rateconv train | evaluate | demo`` (also ``python -m rateconv``).

Only this module prints and writes files; everything it calls returns data.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

# keep TensorFlow's start-up chatter out of the user's terminal
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CURVE_STEPS = (1, 2, 3, 5, 10, 15, 20, 30, 50, 100, 200, 300)


_UNSET = argparse.SUPPRESS  # flags not given defer to the network's own options


class UsageError(Exception):
    """A wrong argument: reported as one line, exit status 2."""


class _ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr, exit status 2.

    argparse prints the whole usage block before the error; for a command with
    many options that buries the one line that matters.  Subparsers inherit
    this class, so every subcommand behaves the same.
    """

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _one_line(error):
    """An exception's message on one line (some messages list places searched)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return " ".join(lines) or type(error).__name__


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _synapse(text):
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


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _load_data(dataset, n_images, data_dir=None):
    from rateconv import datasets
    from rateconv.models import prepare_images

    if dataset == "fashion_mnist_sample":
        x, y = datasets.load_fashion_mnist_sample()
    else:
        _, (x, y) = datasets.load_dataset(dataset, path=data_dir)
    if n_images is not None:
        x, y = x[:n_images], y[:n_images]
    return prepare_images(x), y


def _load_model(spec):
    import keras

    from rateconv.pretrained import available, load_pretrained

    path = Path(spec)
    # anything that looks like a path is a file, never a pretrained name (whose
    # lookup would fail with a confusing message about the manifest)
    if path.suffix or os.sep in spec or path.exists():
        if not path.is_file():
            raise UsageError(f"model file not found: {spec}")
        if path.suffix == ".keras" and not zipfile.is_zipfile(path):
            # Keras itself reports such a file as "File not found"
            raise UsageError(
                f"{spec} is not a Keras .keras archive (not a zip file): it is "
                "corrupt or truncated; save or train the model again"
            )
        try:
            return keras.models.load_model(path)
        except Exception as e:
            raise UsageError(
                f"could not load {spec} as a Keras model: {_one_line(e)}"
            ) from e
    if spec in available():
        return load_pretrained(spec)
    raise UsageError(
        f"MODEL must be a .keras file or a pretrained name {available()}; got {spec!r}"
    )


def _error_table(evaluation, rate_error):
    lines = [f"  rate mode error:           {100 * rate_error:6.2f}%"]
    errors = evaluation.errors
    lines.append(
        f"  spiking error at step {len(errors):<4d} {100 * errors[-1]:6.2f}%  "
        f"(probe filtered, read at the last step)"
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


CONVERT_OPTIONS = ("synapse", "scale_firing_rates", "reset", "initial_state")


def _conversion(args, spec):
    """`convert` options: a pretrained network's own, then the explicit flags."""
    from rateconv.pretrained import available, conversion_options

    options = {}
    if spec in available():
        options.update(conversion_options(spec))
    for key in CONVERT_OPTIONS:
        value = getattr(args, key, _UNSET)
        if value is not _UNSET:
            options[key] = value
    return options


def _run_evaluation(model, x, y, args, spec=None):
    import rateconv

    args.conversion = _conversion(args, spec)
    net = rateconv.convert(model, **args.conversion)
    if args.normalize or args.calibrate:
        x_cal = _calibration_images(args)
        if args.normalize:
            net = rateconv.normalize(net, x_cal)
        if args.calibrate:
            net = rateconv.calibrate(net, x_cal, n_steps=args.n_steps)
    sim = rateconv.Simulator(
        net, minibatch_size=args.minibatch_size, precision=args.precision
    )
    start = time.perf_counter()
    rate = sim.evaluate(x, y, mode="rate")
    spiking = sim.evaluate(
        x,
        y,
        n_steps=args.n_steps,
        probe_synapse=args.probe_synapse,
        readout=args.readout,
        return_outputs=args.plot is not None,
    )
    return rate, spiking, time.perf_counter() - start


def _calibration_images(args):
    """Training images for normalization/calibration: never the test set."""
    from rateconv import datasets
    from rateconv.models import prepare_images

    name = "fashion_mnist" if args.dataset == "fashion_mnist_sample" else args.dataset
    try:
        (x_train, _), _ = datasets.load_dataset(
            name, path=getattr(args, "data_dir", None)
        )
    except FileNotFoundError as e:
        raise UsageError(
            f"--normalize/--calibrate need the {name} training set (calibration "
            f"never uses test images), which was not found: {e}"
        ) from None
    rng = np.random.default_rng(0)
    pick = rng.choice(len(x_train), args.calibration_images, replace=False)
    return prepare_images(x_train[np.sort(pick)])


def _save_plots(path, x, y, rate, spiking, dt, class_names=None):
    from rateconv import plots

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = plots.plot_error_vs_steps(
        spiking.errors, rate_error=rate.error, title="Spiking error vs timesteps"
    )
    fig.savefig(path, dpi=100, bbox_inches="tight")
    probes_path = path.with_name(path.stem + "_probes" + path.suffix)
    n = min(4, len(x))
    fig = plots.plot_output_probes(
        x[:n], spiking.outputs[:n], labels=y[:n], class_names=class_names, dt=dt
    )
    fig.savefig(probes_path, dpi=100, bbox_inches="tight")
    return [path, probes_path]


def cmd_evaluate(args):
    from rateconv import datasets

    model = _load_model(args.model)
    x, y = _load_data(args.dataset, args.n_images, args.data_dir)
    rate, spiking, seconds = _run_evaluation(model, x, y, args, args.model)
    if args.json:
        out = {
            "model": args.model,
            "dataset": args.dataset,
            "n_images": len(x),
            "convert": args.conversion,
            "probe_synapse": args.probe_synapse,
            "readout": args.readout,
            "rate_error": rate.error,
            "spiking": spiking.to_dict(),
            "seconds": seconds,
        }
        print(json.dumps(out, indent=2))
    else:
        print(
            f"{args.model} on {len(x)} images of {args.dataset}, {args.n_steps} steps "
            f"({seconds:.1f} s); convert options {args.conversion}"
        )
        print(_error_table(spiking, rate.error))
    if args.plot:
        names = datasets.FASHION_MNIST_CLASSES if "fashion" in args.dataset else None
        for p in _save_plots(args.plot, x, y, rate, spiking, 0.001, names):
            print(f"wrote {p}", file=sys.stderr if args.json else sys.stdout)


def _describe(options):
    return ", ".join(f"{k}={v}" for k, v in options.items()) or "default options"


def cmd_demo(args):
    from rateconv import datasets
    from rateconv.pretrained import (
        DEFAULT_NAME,
        available,
        load_pretrained,
        read_manifest,
    )

    if args.dataset == "auto":
        try:
            datasets.load_fashion_mnist(download=False)
            args.dataset = "fashion_mnist"
        except FileNotFoundError:
            args.dataset = "fashion_mnist_sample"
    name = args.model or DEFAULT_NAME
    if name not in available():
        raise UsageError(
            f"--model must be a shipped pretrained network {available()}; got {name!r}"
        )
    # load first: it explains a missing file; then the entry exists
    model = load_pretrained(name)
    entry = read_manifest()[name]
    x, y = _load_data(args.dataset, args.n_images, None)
    print(f"rateconv demo: pretrained '{name}' ({entry.get('description', '')})")
    rate, spiking, seconds = _run_evaluation(model, x, y, args, name)
    print(
        f"converted to spiking LIF ({_describe(args.conversion)}), {args.n_steps} "
        f"steps of 1 ms, probe lowpass {args.probe_synapse} s, on {len(x)} test "
        f"images ({args.dataset})"
    )
    print(_error_table(spiking, rate.error))
    print(
        f"  simulated {len(x) * args.n_steps} image-steps in {seconds:.1f} s "
        f"({len(x) * args.n_steps / seconds:.0f} image-steps/s, incl. rate pass)"
    )
    if args.plot:
        for p in _save_plots(
            args.plot, x, y, rate, spiking, 0.001, datasets.FASHION_MNIST_CLASSES
        ):
            print(f"wrote {p}")


def cmd_train(args):
    import keras

    from rateconv import datasets
    from rateconv.models import (
        compile_classifier,
        reference_network,
        train_classifier,
    )
    from rateconv.spiking_aware import remove_spiking_aware, spiking_aware_model

    if args.scale_firing_rates != 1.0 and not args.spiking_aware:
        raise UsageError(
            "--scale-firing-rates applies to --spiking-aware training only; add "
            "--spiking-aware N_STEPS or leave it out"
        )
    (x_train, y_train), (x_test, y_test) = datasets.load_dataset(
        args.dataset, path=args.data_dir
    )
    if x_train is None:
        raise UsageError(f"dataset {args.dataset!r} has no training split")
    if args.n_images:
        x_train, y_train = x_train[: args.n_images], y_train[: args.n_images]
    if args.init:
        model = _load_model(args.init)
    else:
        model = reference_network(
            x_train.shape[1:] + (1,) if x_train.ndim == 3 else x_train.shape[1:],
            activation=args.activation,
            levels=args.levels,
        )
    trained = model
    if args.spiking_aware:
        trained = spiking_aware_model(
            model,
            args.spiking_aware,
            initial_state="uniform",
            scale_firing_rates=args.scale_firing_rates,
            seed=args.seed,
        )
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    history = train_classifier(
        trained,
        x_train,
        y_train,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    seconds = time.perf_counter() - start
    if args.spiking_aware:
        model = remove_spiking_aware(trained)
        compile_classifier(model)
        # a built optimizer, so that loading the file does not warn about it
        model.optimizer.build(model.trainable_variables)
    model.save(output)
    from rateconv.models import prepare_images

    _, accuracy = model.evaluate(prepare_images(x_test), y_test, verbose=0)[:2]
    info = {
        "dataset": args.dataset,
        "activation": None if args.init else args.activation,
        "init": args.init,
        "spiking_aware_steps": args.spiking_aware,
        "scale_firing_rates": args.scale_firing_rates if args.spiking_aware else None,
        "levels": args.levels if args.activation == "qcfs" else None,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "seed": args.seed,
        "train_seconds": round(seconds, 1),
        "final_loss": float(history.history["loss"][-1]),
        "test_error": 1 - float(accuracy),
        "keras_version": keras.__version__,
    }
    output.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"wrote {output} (test error {100 * info['test_error']:.2f}%)")


def cmd_bench(args):
    from rateconv import benchmark, datasets
    from rateconv.converter import convert
    from rateconv.models import prepare_images

    model = _load_model(args.model)
    conversion = _conversion(args, args.model)
    net = convert(model, **conversion)
    x, _ = datasets.load_fashion_mnist_sample()
    shape = tuple(net.input_shapes[0])
    if prepare_images(x[:1]).shape[1:] == shape:
        x = prepare_images(x[: max(args.batch_sizes)])
    else:  # not an MNIST-shaped model: random inputs in [0, 1]
        x = np.random.default_rng(0).random((max(args.batch_sizes),) + shape)
    log = (lambda line: print(line, file=sys.stderr)) if args.json else print
    result = benchmark.run_benchmark(
        net,
        x,
        batch_sizes=args.batch_sizes,
        n_steps=args.n_steps,
        probe_synapse=args.probe_synapse,
        precision=args.precision,
        min_seconds=args.min_seconds,
        log=None if args.quiet else log,
    )
    result["model"] = args.model
    result["convert"] = conversion
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print()
        print(benchmark.format_table(result))


def build_parser():
    parser = _ArgumentParser(
        prog="rateconv",
        description="Convert trained Keras networks to spiking networks and "
        "evaluate them.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    datasets_choices = ["fashion_mnist", "fashion_mnist_sample", "mnist"]

    def sim_options(p, n_steps=30):
        p.add_argument("--n-steps", type=_positive_int, default=n_steps)
        p.add_argument(
            "--synapse",
            type=_synapse,
            default=_UNSET,
            help="lowpass on connections leaving spiking layers, s or 'none' "
            "(default none, or the pretrained network's own setting)",
        )
        p.add_argument(
            "--probe-synapse",
            type=_synapse,
            default=0.1,
            help="lowpass on the output probe, s (default 0.1)",
        )
        p.add_argument(
            "--scale-firing-rates",
            type=_positive_float,
            default=_UNSET,
            help="more spikes per step, each smaller (default 1, or the "
            "pretrained network's own setting)",
        )
        p.add_argument("--n-images", type=_positive_int, default=None)
        p.add_argument("--minibatch-size", type=_positive_int, default=None)
        p.add_argument(
            "--reset",
            choices=["zero", "subtract"],
            default=_UNSET,
            help="voltage after a spike (default: zero for LIF, subtract for IF)",
        )
        p.add_argument(
            "--initial-state",
            choices=["zero", "half", "uniform"],
            default=_UNSET,
            help="initial membrane voltage, fraction of threshold (default zero)",
        )
        p.add_argument(
            "--readout",
            choices=["last", "mean"],
            default="last",
            help="classify from the probe at each step or its running mean",
        )
        p.add_argument(
            "--precision",
            choices=["float32", "bfloat16"],
            default="float32",
            help="arithmetic of layers reading spikes (bfloat16: faster)",
        )
        p.add_argument(
            "--normalize",
            action="store_true",
            help="ReLU nets: scale each layer so its 99.9th-percentile rate is "
            "one spike per step (uses training images)",
        )
        p.add_argument(
            "--calibrate",
            action="store_true",
            help="ReLU nets: calibrate IF neurons to --n-steps on training images",
        )
        p.add_argument("--calibration-images", type=_positive_int, default=1000)

    p = sub.add_parser("demo", help="evaluate the shipped pretrained network")
    sim_options(p)
    p.add_argument(
        "--dataset",
        choices=["auto"] + datasets_choices[:2],
        default="fashion_mnist_sample",
        help="test images: the shipped 2,000-image sample (default), the full "
        "test set if installed, or 'auto' (full set when found)",
    )
    p.add_argument("--plot", default="rateconv_demo.png", help="figure path")
    p.add_argument(
        "--model",
        default=None,
        help="shipped network to run (default fashion_mnist_softlif; "
        "fashion_mnist_softlif_aware is it fine-tuned for spiking)",
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("evaluate", help="convert a Keras model and evaluate it")
    p.add_argument("model", help="a .keras file or a pretrained name")
    sim_options(p)
    p.add_argument("--dataset", choices=datasets_choices, default="fashion_mnist")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--plot", default=None, help="write figures to this path")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "bench",
        help="measure spiking throughput, dense ratio and roofline fraction",
        description="Time the spiking simulation of MODEL (default: the pretrained "
        "reference network) against a ReLU forward pass of the same network and a "
        "large matrix product, all in this process and run.",
    )
    p.add_argument("model", nargs="?", default="fashion_mnist_softlif")
    p.add_argument("--batch-sizes", type=_positive_int, nargs="+", default=[1, 32, 200])
    p.add_argument("--n-steps", type=_positive_int, nargs="+", default=[10, 30, 100])
    p.add_argument(
        "--synapse",
        type=_synapse,
        default=_UNSET,
        help="connection lowpass, s or 'none' (default: the network's own)",
    )
    p.add_argument("--probe-synapse", type=_synapse, default=0.1)
    p.add_argument("--precision", choices=["float32", "bfloat16"], default="float32")
    p.add_argument(
        "--min-seconds",
        type=_positive_float,
        default=2.0,
        help="repeat each timing for at least this long (median of repeats)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser(
        "train",
        help="train the reference network in rate mode, or fine-tune a trained one",
    )
    p.add_argument(
        "--dataset", choices=["fashion_mnist", "mnist"], default="fashion_mnist"
    )
    p.add_argument("--data-dir", default=None)
    p.add_argument(
        "--activation",
        choices=["softlif", "relu", "qcfs"],
        default="softlif",
        help="neurons to train with: soft-LIF (converts to LIF), ReLU or "
        "quantized clip-floor-shift ReLU (both convert to integrate-and-fire)",
    )
    p.add_argument(
        "--levels", type=_positive_int, default=8, help="qcfs quantization levels"
    )
    p.add_argument("--epochs", type=_positive_int, default=18)
    p.add_argument("--batch-size", type=_positive_int, default=128)
    p.add_argument("--learning-rate", type=_positive_float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-images", type=_positive_int, default=None)
    p.add_argument(
        "--init",
        default=None,
        metavar="MODEL",
        help="start from this trained model (a .keras file or a pretrained name) "
        "instead of new weights: fine-tuning (--activation is then ignored)",
    )
    p.add_argument(
        "--spiking-aware",
        type=_positive_int,
        default=None,
        metavar="N_STEPS",
        help="train with rateconv.SpikingAware: the forward pass is the spike "
        "count of N_STEPS steps from a random start (uniform), the backward pass "
        "the rate gradient; the saved model has plain activation layers",
    )
    p.add_argument(
        "--scale-firing-rates",
        type=_positive_float,
        default=1.0,
        help="with --spiking-aware: the scale_firing_rates the model will be "
        "converted with",
    )
    p.add_argument("--output", "-o", default="reference.keras")
    p.set_defaults(func=cmd_train)
    return parser


def main(argv=None):
    """Run the command line; returns the exit status (set RATECONV_DEBUG=1 for
    tracebacks instead of one-line errors)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help or a bad argument: return, not raise
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    try:
        args.func(args)
    except (UsageError, ValueError, TypeError, FileNotFoundError) as e:
        if os.environ.get("RATECONV_DEBUG"):
            raise
        print(f"rateconv {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
