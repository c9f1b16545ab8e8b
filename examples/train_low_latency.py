"""Train the shipped low-latency network: Fashion-MNIST, binary spikes, 4-8 steps.

Two phases, each checkpointed after every epoch and resumed where it stopped
(run the same command again after an interruption):

1. ``ann``: a VGG-style convnet (3x3 convolutions 32-32 / 64-64 / 128-128,
   batch norm, average pooling, one dense readout) with `rateconv.QuantizedReLU`
   activations (QCFS, ``levels`` = 4, trainable thresholds), trained in rate
   mode with AdamW, a cosine learning-rate schedule, label smoothing and
   random-shift / horizontal-flip augmentation (mixed bfloat16 precision: the
   CPU has AVX512-BF16);
2. ``steps``: `rateconv.train_for_steps` fine-tunes it through time for
   ``--n-steps`` steps with the converter's own binary integrate-and-fire
   neurons (float32), so the converted network spikes as it was trained.

The result converts with ``rateconv.convert(model, probe_synapse=None,
readout="mean")``; ``--evaluate`` measures it with `rateconv.Simulator`
(binary spikes, all 10,000 test images) at 1, 2, 4, 8, 16 and 32 steps.

Run it in the background (2 CPU cores)::

    nohup nice -n 10 python examples/train_low_latency.py --output-dir runs/lowlat \\
        > runs/lowlat.log 2>&1 &
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
from rateconv.layers import (
    QuantizedReLU,  # noqa: E402
    step_model,  # noqa: E402
)

L = keras.layers


def build(widths=(32, 64, 128), levels=4, threshold=2.0):
    """The convnet: two 3x3 convolutions per width, each batch norm + QCFS."""
    x = inputs = keras.Input((28, 28, 1), name="image")
    for i, width in enumerate(widths):
        for j in range(2):
            x = L.Conv2D(
                width, 3, padding="same", use_bias=False, name=f"conv{i + 1}{j + 1}"
            )(x)
            x = L.BatchNormalization(name=f"bn{i + 1}{j + 1}")(x)
            x = QuantizedReLU(
                levels=levels, threshold=threshold, name=f"act{i + 1}{j + 1}"
            )(x)
        x = L.AveragePooling2D(2, name=f"pool{i + 1}")(x)
    x = L.Flatten(name="flatten")(x)
    outputs = L.Dense(10, name="logits")(x)
    return keras.Model(inputs, outputs, name="fashion_mnist_lowlatency")


def augment(images, rng, shift=2):
    """Random shifts of up to ``shift`` pixels (zero padding) and horizontal flips."""
    n, h, w = images.shape[:3]
    padded = np.pad(images, ((0, 0), (shift, shift), (shift, shift), (0, 0)))
    out = np.empty_like(images)
    dy = rng.integers(0, 2 * shift + 1, n)
    dx = rng.integers(0, 2 * shift + 1, n)
    for oy in range(2 * shift + 1):
        for ox in range(2 * shift + 1):
            idx = np.flatnonzero((dy == oy) & (dx == ox))
            out[idx] = padded[idx, oy : oy + h, ox : ox + w]
    flip = rng.random(n) < 0.5
    out[flip] = out[flip, :, ::-1]
    return out


def load_data():
    (x_train, y_train), (x_test, y_test) = datasets.load_fashion_mnist(download=False)
    prep = lambda x: (x.astype(np.float32) / 255.0)[..., None]  # noqa: E731
    return (prep(x_train), y_train.astype(np.int32)), (
        prep(x_test),
        y_test.astype(np.int32),
    )


class _State:
    """``state.json`` in the output directory: finished epochs per phase, history."""

    def __init__(self, directory):
        self.path = Path(directory) / "state.json"
        self.data = json.loads(self.path.read_text()) if self.path.exists() else {}

    def get(self, key, default=None):
        return self.data.get(key, default)

    def set(self, key, value):
        self.data[key] = value
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        tmp.replace(self.path)


def _loss():
    return keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)


def train_ann(args, out, state, data):
    """Phase 1: rate-mode training with QCFS activations (resumable)."""
    (x_train, y_train), (x_test, y_test) = data
    ckpt = out / "ann_last.keras"
    done = state.get("ann_epochs", 0)
    if done >= args.ann_epochs and (out / "ann.keras").exists():
        return keras.models.load_model(out / "ann.keras")
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    steps = args.ann_epochs * int(np.ceil(len(x_train) / args.batch_size))
    warmup = min(300, steps // 10)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, steps - warmup, warmup_target=args.learning_rate, warmup_steps=warmup
    )
    if done and ckpt.exists():
        model = keras.models.load_model(ckpt)
        # the cosine runs over --ann-epochs of this invocation (a resumed run
        # may be given fewer or more epochs than the first)
        model.optimizer.learning_rate = schedule
        print(f"resuming phase ann after epoch {done}", flush=True)
    else:
        keras.utils.set_random_seed(args.seed)
        model = build(levels=args.levels)
        model.compile(
            optimizer=keras.optimizers.AdamW(schedule, weight_decay=args.weight_decay),
            loss=_loss(),
            metrics=["accuracy"],
        )
    y_hot = keras.utils.to_categorical(y_train, 10)
    y_test_hot = keras.utils.to_categorical(y_test, 10)
    for epoch in range(done, args.ann_epochs):
        rng = np.random.default_rng(args.seed * 1000 + epoch)
        start = time.perf_counter()
        hist = model.fit(
            augment(x_train, rng),
            y_hot,
            batch_size=args.batch_size,
            epochs=1,
            shuffle=True,
            verbose=0,
        )
        _, acc = model.evaluate(x_test, y_test_hot, batch_size=500, verbose=0)
        model.save(ckpt)
        record = {
            "epoch": epoch + 1,
            "loss": float(hist.history["loss"][-1]),
            "train_accuracy": float(hist.history["accuracy"][-1]),
            "test_accuracy": float(acc),
            "seconds": round(time.perf_counter() - start, 1),
        }
        state.set("ann_history", state.get("ann_history", []) + [record])
        state.set("ann_epochs", epoch + 1)
        print(json.dumps(record), flush=True)
    keras.mixed_precision.set_global_policy("float32")
    final = _as_float32(model)
    final.save(out / "ann.keras")
    return final


def _as_float32(model):
    """A float32 copy of a mixed-precision model (same layers and weights)."""
    keras.mixed_precision.set_global_policy("float32")
    copy = build(levels=model.get_layer("act11").levels)
    for layer in model.layers:
        if layer.weights:
            copy.get_layer(layer.name).set_weights(
                [np.asarray(w, np.float32) for w in layer.get_weights()]
            )
    return copy


def train_steps(args, out, state, data, ann):
    """Phase 2: fine-tune through time at ``--n-steps`` (resumable)."""
    (x_train, y_train), (x_test, y_test) = data
    final = out / "fashion_mnist_lowlatency.keras"
    ckpt = out / "steps_last.keras"
    done = state.get("steps_epochs", 0)
    if done >= args.steps_epochs and final.exists():
        return keras.models.load_model(final)
    per_epoch = min(args.steps_train, len(x_train))
    total = args.steps_epochs * int(np.ceil(per_epoch / args.steps_batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(args.steps_learning_rate, total)
    if done and ckpt.exists():
        model = keras.models.load_model(ckpt)
        model.optimizer.learning_rate = schedule
        print(f"resuming phase steps after epoch {done}", flush=True)
    else:
        # the QCFS thresholds trained in phase 1 are the initial IF thresholds
        model = step_model(ann, args.n_steps)
        model.compile(
            optimizer=keras.optimizers.Adam(schedule),
            loss=_loss(),
            metrics=["accuracy"],
        )
    y_hot = keras.utils.to_categorical(y_train, 10)
    for epoch in range(done, args.steps_epochs):
        rng = np.random.default_rng(args.seed * 1000 + 500 + epoch)
        idx = rng.permutation(len(x_train))[:per_epoch]
        start = time.perf_counter()
        hist = model.fit(
            augment(x_train[idx], rng),
            y_hot[idx],
            batch_size=args.steps_batch_size,
            epochs=1,
            verbose=0,
        )
        acc = float(
            np.mean(
                model.predict(x_test[:2000], batch_size=200, verbose=0).argmax(1)
                == y_test[:2000]
            )
        )
        model.save(ckpt)
        record = {
            "epoch": epoch + 1,
            "loss": float(hist.history["loss"][-1]),
            "train_accuracy": float(hist.history["accuracy"][-1]),
            "spiking_accuracy_2000": acc,
            "seconds": round(time.perf_counter() - start, 1),
        }
        state.set("steps_history", state.get("steps_history", []) + [record])
        state.set("steps_epochs", epoch + 1)
        print(json.dumps(record), flush=True)
    _without_optimizer(model).save(final)
    return model


def _without_optimizer(model):
    """An uncompiled copy with the same weights (the shipped file: no Adam state)."""
    copy = keras.Model.from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


def evaluate(model, ann, data, n_test, steps=(1, 2, 4, 8, 16, 32)):
    """Binary-spike accuracy of the converted network at each of ``steps``."""
    _, (x_test, y_test) = data
    x, y = x_test[:n_test], y_test[:n_test]
    net = rateconv.convert(model, probe_synapse=None, readout="mean")
    sim = rateconv.Simulator(
        net, precision="float32", progress=False, minibatch_size=500
    )
    start = time.perf_counter()
    # one run of max(steps): the running mean at step t is a t-step run's
    # output (deterministic start at half threshold, no input noise)
    out = np.asarray(sim.predict(x, n_steps=max(steps)))
    result = {
        "n_test_images": int(n_test),
        "spikes": "binary (at most one spike per neuron per step)",
        "accuracy_by_n_steps": {
            str(t): float(np.mean(out[:, t - 1].argmax(-1) == y)) for t in steps
        },
        "rate_accuracy": float(np.mean(sim.predict(x, mode="rate").argmax(-1) == y)),
        "keras_ann_accuracy": float(
            np.mean(ann.predict(x, batch_size=500, verbose=0).argmax(-1) == y)
        ),
        "simulate_seconds": round(time.perf_counter() - start, 1),
    }
    return result


def register(out, state, args, directory="pretrained"):
    """Copy the network to ``directory`` and write its manifest entry."""
    import shutil

    from rateconv.zoo.pretrained import register_pretrained

    result = json.loads((out / "evaluation.json").read_text())
    name = "fashion_mnist_lowlatency"
    target = Path(directory) / f"{name}.keras"
    shutil.copyfile(out / f"{name}.keras", target)
    errors = {t: round(1 - a, 4) for t, a in result["accuracy_by_n_steps"].items()}
    ann = state.get("ann_history", [])
    steps = state.get("steps_history", [])
    return register_pretrained(
        target,
        name,
        directory=directory,
        description=(
            "VGG-style convnet (3x3 conv 32-32 / 64-64 / 128-128, batch norm, "
            "average pooling, dense 10) trained with QCFS activations (4 levels), "
            f"then fine-tuned through {args.n_steps} steps with "
            "rateconv.train_for_steps: its binary integrate-and-fire neurons "
            "(one spike per neuron per step at most, threshold trained, membrane "
            "starting at half threshold) run in the forward pass, so the "
            f"converted network's output after {args.n_steps} steps is "
            "model.predict"
        ),
        dataset=(
            "fashion_mnist (60,000 training images; errors on the 10,000 test images)"
        ),
        training={
            "dataset": "fashion_mnist",
            "ann_epochs": len(ann),
            "ann": {
                "levels": args.levels,
                "batch_size": args.batch_size,
                "learning_rate": args.learning_rate,
                "weight_decay": args.weight_decay,
                "optimizer": "AdamW, cosine schedule, label smoothing 0.1",
                "augmentation": "random shifts up to 2 px, horizontal flips",
                "seconds": round(sum(r["seconds"] for r in ann), 1),
                "test_accuracy": ann[-1]["test_accuracy"] if ann else None,
            },
            "steps": {
                "n_steps": args.n_steps,
                "epochs": len(steps),
                "images_per_epoch": args.steps_train,
                "batch_size": args.steps_batch_size,
                "learning_rate": args.steps_learning_rate,
                "seconds": round(sum(r["seconds"] for r in steps), 1),
            },
            "seed": args.seed,
            "notes": state.get("notes"),
            "keras_version": keras.__version__,
            "cpu": "2 cores of an AMD EPYC (shared with other jobs)",
        },
        convert={"probe_synapse": None, "readout": "mean"},
        keras_test_error=errors[str(args.n_steps)],
        keras_ann_test_error=round(1 - result["keras_ann_accuracy"], 4),
        rate_error=round(1 - result["rate_accuracy"], 4),
        spiking={
            "probe_synapse": None,
            "readout": "mean",
            "dt": 0.001,
            "max_spikes_per_step": 1,
            "n_test_images": result["n_test_images"],
            "errors_by_n_steps": errors,
        },
        reproduce=[
            "nohup nice -n 10 python examples/train_low_latency.py --output-dir "
            "runs/lowlat --evaluate 10000 --register > runs/lowlat.log 2>&1 &",
        ],
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output-dir", default="runs/lowlatency")
    parser.add_argument("--ann-epochs", type=int, default=10)
    parser.add_argument("--levels", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-train", type=int, default=60000, help="smoke tests")
    parser.add_argument("--n-steps", type=int, default=4)
    parser.add_argument("--steps-epochs", type=int, default=1)
    parser.add_argument(
        "--steps-train",
        type=int,
        default=30000,
        help="training images per phase-2 epoch (a random subset)",
    )
    parser.add_argument("--steps-batch-size", type=int, default=64)
    parser.add_argument("--steps-learning-rate", type=float, default=2e-4)
    parser.add_argument(
        "--evaluate",
        type=int,
        default=0,
        metavar="N",
        help="then evaluate on the first N test images (binary spikes)",
    )
    parser.add_argument(
        "--register",
        action="store_true",
        help="copy the network to pretrained/ with a manifest entry "
        "(needs the evaluation: --evaluate 10000)",
    )
    args = parser.parse_args(argv)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = _State(out)
    (x_train, y_train), test = load_data()
    data = (x_train[: args.n_train], y_train[: args.n_train]), test
    ann = train_ann(args, out, state, data)
    model = train_steps(args, out, state, data, ann)
    if args.evaluate:
        result = evaluate(model, ann, data, args.evaluate)
        (out / "evaluation.json").write_text(json.dumps(result, indent=1))
        print(json.dumps(result), flush=True)
    if args.register:
        entry = register(out, state, args)
        print(f"registered {entry['file']} (sha256 {entry['sha256']})", flush=True)


if __name__ == "__main__":
    main()
