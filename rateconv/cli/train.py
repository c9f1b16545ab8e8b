"""``rateconv train``: train the reference network, or fine-tune a trained one."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import keras

from rateconv import datasets
from rateconv.cli._common import UsageError, load_model
from rateconv.cli._options import add_option, positive_float, positive_int
from rateconv.layers import remove_spiking_aware, spiking_aware_model
from rateconv.zoo.models import (
    compile_classifier,
    prepare_images,
    reference_network,
    train_classifier,
)


def add_parser(subparsers):
    p = subparsers.add_parser(
        "train",
        help="train the reference network in rate mode, or fine-tune a trained one",
    )
    add_option(
        p,
        "dataset",
        choices=["fashion_mnist", "mnist"],
        default="fashion_mnist",
        help="training set (default fashion_mnist)",
    )
    add_option(p, "data_dir")
    p.add_argument(
        "--activation",
        choices=["softlif", "relu", "qcfs"],
        default="softlif",
        help="neurons to train with: soft-LIF (converts to LIF), ReLU or "
        "quantized clip-floor-shift ReLU (both convert to integrate-and-fire)",
    )
    p.add_argument(
        "--levels", type=positive_int, default=8, help="qcfs quantization levels"
    )
    p.add_argument("--epochs", type=positive_int, default=18)
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--learning-rate", type=positive_float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    add_option(
        p,
        "n_images",
        type=positive_int,
        help="train on the first N training images (default all)",
    )
    p.add_argument(
        "--init",
        default=None,
        metavar="MODEL",
        help="start from this trained model (a model file or a pretrained name) "
        "instead of new weights: fine-tuning (--activation is then ignored)",
    )
    p.add_argument(
        "--spiking-aware",
        type=positive_int,
        default=None,
        metavar="N_STEPS",
        help="train with rateconv.SpikingAware: the forward pass is the spike "
        "count of N_STEPS steps from a random start (uniform), the backward pass "
        "the rate gradient; the saved model has plain activation layers",
    )
    add_option(
        p,
        "scale_firing_rates",
        default=1.0,
        help="with --spiking-aware: the scale_firing_rates the model will be "
        "converted with",
    )
    p.add_argument("--output", "-o", default="reference.keras")
    p.set_defaults(func=cmd_train)
    return p


def _start_model(args, input_shape):
    """The model to train: `args.init` loaded, or a new reference network."""
    if args.init:
        return load_model(args.init)
    return reference_network(
        input_shape, activation=args.activation, levels=args.levels
    )


def _settings(args, seconds, history, test_error):
    """What the ``.json`` beside the saved model records."""
    return {
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
        "test_error": test_error,
        "keras_version": keras.__version__,
    }


def cmd_train(args):
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
    model = _start_model(
        args, x_train.shape[1:] + (1,) if x_train.ndim == 3 else x_train.shape[1:]
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
    _, accuracy = model.evaluate(prepare_images(x_test), y_test, verbose=0)[:2]
    info = _settings(args, seconds, history, 1 - float(accuracy))
    output.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"wrote {output} (test error {100 * info['test_error']:.2f}%)")
