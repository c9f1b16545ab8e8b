"""SpikingJelly's single-layer fully connected SNN, as train-then-convert.

SpikingJelly's clock-driven tutorial (``lif_fc_mnist.py``): Flatten -> Linear
784 -> 10 without bias -> LIF output neurons (membrane time constant 2 steps,
threshold 1, hard reset to 0), Poisson-coded input images, T = 100 steps,
loss = MSE between the output firing rate and the one-hot label (92.5% on
MNIST after 100 epochs of BPTT).

Here the same network is trained in rate mode: the LIF outputs are soft-LIF
rate neurons with ``tau_rc`` = 2 steps and a one-step refractory period (a
neuron that fires at most once a step; it keeps the rate curve, in spikes per
step, below 1 as the one-hot target is), loss = MSE between that rate and the
one-hot label (and, as a second row, cross-entropy on the rates).  It is then
converted to spiking LIF neurons, run for 100 steps on Poisson-coded test
images (``input_encoding="poisson"``) and classified by output spike count
(``probe_synapse=None, readout="mean"``).

Run (``--quick``: a minute or two; in full about 5 minutes on 2 cores)::

    python examples/seeds/spikingjelly_fc.py --output-dir seeds_out/spikingjelly

writes ``spikingjelly_fc.json`` (every figure) and ``accuracy_vs_steps.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import keras
import numpy as np

import rateconv
from rateconv import datasets

DT = 0.001
STEPS_SHOWN = (1, 2, 5, 10, 20, 50, 100)


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a small, fast setting")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--n-train", type=int, default=60000)
    p.add_argument("--n-test", type=int, default=10000)
    p.add_argument("--n-steps", type=int, default=100)
    p.add_argument("--output-dir", type=Path, default=Path("seeds_out/spikingjelly"))
    p.add_argument("--seed", type=int, default=0)
    return p


def fc_network(name):
    """Flatten -> Dense 784 -> 10 (no bias) -> LIF (tau_rc 2 steps) rate neurons.

    The output is the firing rate in spikes per step (``amplitude = dt``).
    """
    return keras.Sequential(
        [
            keras.Input((28, 28)),
            keras.layers.Flatten(),
            keras.layers.Dense(10, use_bias=False, name="fc"),
            rateconv.SoftLIF(
                sigma=0.05, tau_rc=2 * DT, tau_ref=DT, amplitude=DT, name="lif"
            ),
        ],
        name=name,
    )


def train(loss, x, y, *, epochs, seed):
    keras.utils.set_random_seed(seed)
    model = fc_network(f"fc_{loss}")
    if loss == "mse":  # SpikingJelly's: MSE of the rate against one-hot
        fn, target = "mse", keras.utils.to_categorical(y, 10)
    else:  # cross-entropy on the rates (spikes per step), as logits x 10
        fn = lambda t, r: keras.losses.sparse_categorical_crossentropy(  # noqa: E731
            t, 10 * r, from_logits=True
        )
        target = y
    model.compile(keras.optimizers.Adam(1e-3), loss=fn)
    model.fit(x, target, batch_size=64, epochs=epochs, verbose=0)
    return model


def run(args):
    (x_train, y_train), (x_test, y_test) = datasets.load_fashion_mnist()
    x_train = x_train[: args.n_train].astype("f4") / 255
    y_train = y_train[: args.n_train]
    x_test = x_test[: args.n_test].astype("f4") / 255
    y_test = y_test[: args.n_test]
    print(f"Fashion-MNIST: training on {len(x_train)}, testing on {len(x_test)}")
    rows = {}
    for loss in ("mse", "cross_entropy"):
        start = time.time()
        model = train(loss, x_train, y_train, epochs=args.epochs, seed=args.seed)
        trained = time.time() - start
        # plain conversion: the same LIF neurons, membrane from 0, reset to 0
        sim = rateconv.Simulator(rateconv.convert(model), progress=False)
        rate = 1 - sim.evaluate(x_test, y_test, mode="rate").error
        spiking = sim.evaluate(
            x_test,
            y_test,
            n_steps=args.n_steps,
            input_encoding="poisson",
            seed=args.seed,
            probe_synapse=None,
            readout="mean",  # the spike count so far
        )
        curve = (1 - spiking.errors).tolist()
        rows[loss] = {
            "rate_accuracy": rate,
            "spiking_accuracy": curve[-1],
            "accuracy_by_steps": curve,
            "output_rate_hz": float(spiking.activity["lif"].rates.mean()),
            "train_seconds": trained,
        }
        print(
            f"{loss:>13}: rate {100 * rate:.2f}%, spiking (Poisson, "
            f"T={args.n_steps}) {100 * curve[-1]:.2f}% "
            f"({100 * (curve[-1] - rate):+.2f}), trained {trained:.0f} s"
        )
    shown = [t for t in STEPS_SHOWN if t <= args.n_steps]
    print("\naccuracy (%) by T, Poisson input, spike-count readout")
    print(f"{'loss':>13} | rate | " + " | ".join(f"{t:>5}" for t in shown))
    for loss, r in rows.items():
        cells = " | ".join(f"{100 * r['accuracy_by_steps'][t - 1]:5.2f}" for t in shown)
        print(f"{loss:>13} | {100 * r['rate_accuracy']:.2f} | {cells}")
    return rows


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for (loss, r), color in zip(rows.items(), ("C0", "C1")):
        steps = np.arange(1, len(r["accuracy_by_steps"]) + 1)
        ax.plot(
            steps,
            100 * np.array(r["accuracy_by_steps"]),
            color=color,
            label=f"{loss}, spiking",
        )
        ax.axhline(
            100 * r["rate_accuracy"], color=color, ls="--", label=f"{loss}, rate mode"
        )
    ax.set_xscale("log")
    ax.set_xlabel("T (steps)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("784-10 LIF (tau 2 steps), Poisson input, spike count")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.quick:
        args.epochs, args.n_train, args.n_test = 2, 10000, 1000
    args.output_dir.mkdir(parents=True, exist_ok=True)
    rows = run(args)
    result = {
        "workflow": "SpikingJelly lif_fc_mnist (784-10 LIF, Poisson, T=100)",
        "dataset": "fashion_mnist",
        "settings": {k: str(v) for k, v in vars(args).items()},
        "rows": rows,
    }
    (args.output_dir / "spikingjelly_fc.json").write_text(json.dumps(result, indent=1))
    plot(rows, args.output_dir / "accuracy_vs_steps.png")
    print(f"\nwrote {args.output_dir / 'spikingjelly_fc.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
