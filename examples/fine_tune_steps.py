"""Fine-tune trained Keras models for a step budget and measure their spikes.

`rateconv.train_for_steps` fine-tunes each model through time with the
converter's own binary neurons (at most one spike per neuron per step); the
result is converted by ``rateconv.convert(model, probe_synapse=None,
readout="mean")`` and simulated by `rateconv.Simulator` for ``--n-steps``
steps on the first ``--n-test`` Fashion-MNIST test images.  Printed (and
written to ``--json``): the original Keras accuracy, the spiking accuracy of
the calibrated step model before fine-tuning, and after it.

- ``--softlif``: the shipped soft-LIF reference (`fashion_mnist_softlif`, LIF
  neurons), fine-tuned on the first ``--n-train`` training images::

      python examples/fine_tune_steps.py --softlif --n-train 12000 --epochs 1 \\
          --n-test 10000 --json softlif_4steps.json

- ``--byo DIR``: the six user models of `examples/byo_models.py` saved in DIR
  (trained on the first 20,000 training images), fine-tuned on the same
  images::

      python examples/byo_models.py --output-dir byo_models
      python examples/fine_tune_steps.py --byo byo_models --epochs 2 \\
          --n-test 2000 --json byo_4steps.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import rateconv  # noqa: E402
from rateconv import datasets  # noqa: E402
from rateconv.layers import step_model, train_for_steps  # noqa: E402

RAW_PIXELS = {"rescaling"}  # byo models fed 0-255 pixels (examples/byo_models.py)
BYO = ("simple_convnet", "residual", "mobilenet", "leaky", "rescaling", "softlif")


def inputs(name, images):
    x = images.astype(np.float32)[..., None]
    return x if name in RAW_PIXELS else x / 255.0


def spiking_accuracy(model, x, y, n_steps):
    net = rateconv.convert(model, probe_synapse=None, readout="mean")
    sim = rateconv.Simulator(
        net, precision="float32", progress=False, minibatch_size=500
    )
    out = np.asarray(sim.predict(x, n_steps=n_steps))[:, -1]
    return float(np.mean(out.argmax(-1) == y))


def run(name, model, train, test, args):
    (x_train, y_train), (x_test, y_test) = train, test
    keras_acc = float(
        np.mean(model.predict(x_test, batch_size=500, verbose=0).argmax(-1) == y_test)
    )
    options = dict(
        percentile=args.percentile,
        initial_state=args.initial_state,
        lif_gradient=args.lif_gradient,
    )
    before = spiking_accuracy(
        step_model(model, args.n_steps, x_train[: args.calibration_size], **options),
        x_test,
        y_test,
        args.n_steps,
    )
    keras.utils.set_random_seed(args.seed)
    start = time.perf_counter()
    tuned = train_for_steps(
        model,
        x_train,
        y_train,
        n_steps=args.n_steps,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        calibration_size=args.calibration_size,
        verbose=2,
        **options,
    )
    seconds = time.perf_counter() - start
    after = spiking_accuracy(tuned, x_test, y_test, args.n_steps)
    if args.save_dir:
        Path(args.save_dir).mkdir(parents=True, exist_ok=True)
        tuned.save(Path(args.save_dir) / f"{name}_{args.n_steps}steps.keras")
    record = {
        "model": name,
        "n_steps": args.n_steps,
        "n_test_images": len(y_test),
        "spikes": "binary",
        "keras_accuracy": keras_acc,
        "spiking_accuracy_before_fine_tune": before,
        "spiking_accuracy_after_fine_tune": after,
        "gap_to_keras_points": round(100 * (keras_acc - after), 2),
        "epochs": args.epochs,
        "n_train": len(y_train),
        "learning_rate": args.learning_rate,
        "lif_gradient": args.lif_gradient,
        "train_seconds": round(seconds, 1),
    }
    print(json.dumps(record), flush=True)
    return record


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--softlif", action="store_true")
    group.add_argument("--byo", metavar="DIR")
    parser.add_argument("--models", nargs="+", default=list(BYO))
    parser.add_argument("--n-steps", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--n-train", type=int, default=20000)
    parser.add_argument("--n-test", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--calibration-size", type=int, default=500)
    parser.add_argument("--percentile", type=float, default=99.0)
    parser.add_argument(
        "--initial-state",
        default="zero",
        choices=("zero", "half"),
        help="of the LIF neurons (IF neurons start at half)",
    )
    parser.add_argument(
        "--lif-gradient",
        default="step",
        choices=("step", "mean"),
        help="StepLIF's gradient: at each step's input or at its mean",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-dir")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    (x_train, y_train), (x_test, y_test) = datasets.load_fashion_mnist(download=False)
    y_train, y_test = y_train.astype(np.int32), y_test.astype(np.int32)
    n, m = args.n_train, args.n_test
    records = []
    if args.softlif:
        name = "fashion_mnist_softlif"
        model = rateconv.load_pretrained(name)
        train = (inputs(name, x_train[:n]), y_train[:n])
        records.append(
            run(name, model, train, (inputs(name, x_test[:m]), y_test[:m]), args)
        )
    else:
        for name in args.models:
            model = keras.models.load_model(Path(args.byo) / f"{name}.keras")
            train = (inputs(name, x_train[:n]), y_train[:n])
            test = (inputs(name, x_test[:m]), y_test[:m])
            records.append(run(name, model, train, test, args))
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
