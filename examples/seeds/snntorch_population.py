"""snnTorch's population coding tutorial, as train-then-convert, at one step.

snnTorch (tutorial "Population coding"): Fashion-MNIST, 784 -> 128 Leaky ->
10 Leaky against 784 -> 128 Leaky -> 500 Leaky (50 neurons per class, a
class's score = its population's spike count), trained for a single time step
with a surrogate gradient: 59.4% / 61.9% test accuracy after epochs 1 / 2
with 10 outputs, 80.5% / 82.7% with 500.  At one step an output neuron either
spikes or not, so ten of them tie often; fifty per class give graded scores.

Here both networks are trained in rate mode (soft-LIF neurons: ``tau_rc`` 2
steps, a one-step refractory period, outputs in spikes per step), the
population pooled into class scores by `rateconv.PopulationPooling` in the
loss (cross-entropy on 10 x the mean rate of each class's neurons as logits), then
fine-tuned for one step with `rateconv.spiking_aware_model(model, n_steps=1)`
(spikes of one step forward, the soft-LIF gradient backward: what snnTorch's
surrogate gradient does at one step).  The converted networks (without the
pooling: `Simulator.evaluate(population_size=50)` pools the spike counts) are
evaluated at 1 to 10 steps, classified by spike count.

Run (``--quick``: about a minute; in full about 10 minutes on 2 cores)::

    python examples/seeds/snntorch_population.py --output-dir seeds_out/snntorch

writes ``snntorch_population.json`` and ``accuracy_vs_steps.png``.
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
MAX_STEPS = 10


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a small, fast setting")
    p.add_argument("--epochs", type=int, default=3, help="rate-mode epochs")
    p.add_argument("--aware-epochs", type=int, default=2, help="one-step epochs")
    p.add_argument("--n-train", type=int, default=60000)
    p.add_argument("--n-test", type=int, default=10000)
    p.add_argument("--population", type=int, default=50)
    p.add_argument("--output-dir", type=Path, default=Path("seeds_out/snntorch"))
    p.add_argument("--seed", type=int, default=0)
    return p


def lif(name):
    """Soft-LIF rate neurons, outputs in spikes per step (at most one)."""
    return rateconv.SoftLIF(
        sigma=0.1, tau_rc=2 * DT, tau_ref=DT, amplitude=DT, name=name
    )


def network(population_size, seed):
    """784 -> 128 LIF -> 10 * population_size LIF -> class scores."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((28, 28)),
            keras.layers.Flatten(),
            keras.layers.Dense(128, name="fc1"),
            lif("lif1"),
            keras.layers.Dense(10 * population_size, name="fc2"),
            lif("lif2"),
            rateconv.PopulationPooling(population_size, name="pool"),
            # logits: 10 x the mean rate of a class's neurons, whatever the
            # population (a layer, not a custom loss, so the model clones)
            keras.layers.Rescaling(10.0 / population_size, name="logits"),
        ],
        name=f"population_{population_size}",
    )


def fit(model, x, y, *, epochs, learning_rate):
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.Adam(learning_rate), loss=loss)
    model.fit(x, y, batch_size=128, epochs=epochs, verbose=0)
    return model


def spiking_curve(model, population_size, x, y):
    """Accuracy after 1..MAX_STEPS steps, by spike count, and in rate mode."""
    # convert the population itself; evaluate pools its spike counts
    bare = keras.Model(model.inputs, model.get_layer("lif2").output)
    bare.set_weights(model.get_weights())
    sim = rateconv.Simulator(rateconv.convert(bare), progress=False)
    options = dict(population_size=population_size)
    rate = 1 - sim.evaluate(x, y, mode="rate", **options).error
    ev = sim.evaluate(
        x, y, n_steps=MAX_STEPS, probe_synapse=None, readout="mean", **options
    )
    return rate, (1 - ev.errors).tolist()


def run(args):
    (x_train, y_train), (x_test, y_test) = datasets.load_fashion_mnist()
    x_train = x_train[: args.n_train].astype("f4") / 255
    y_train = y_train[: args.n_train]
    x_test = x_test[: args.n_test].astype("f4") / 255
    y_test = y_test[: args.n_test]
    print(f"Fashion-MNIST: training on {len(x_train)}, testing on {len(x_test)}")
    rows = {}
    for k in (1, args.population):
        label = f"{10 * k} outputs"
        start = time.time()
        model = fit(
            network(k, args.seed),
            x_train,
            y_train,
            epochs=args.epochs,
            learning_rate=1e-3,
        )
        rate, curve = spiking_curve(model, k, x_test, y_test)
        rows[f"{label}, rate-trained"] = {
            "population_size": k,
            "rate_accuracy": rate,
            "accuracy_by_steps": curve,
            "train_seconds": time.time() - start,
        }
        # fine-tune with one step of spikes forward (membrane from 0, as
        # snnTorch's), the soft-LIF gradient backward
        start = time.time()
        aware = rateconv.spiking_aware_model(model, n_steps=1, initial_state="zero")
        fit(
            aware,
            x_train,
            y_train,
            epochs=args.aware_epochs,
            learning_rate=5e-4,
        )
        tuned = rateconv.remove_spiking_aware(aware)
        rate, curve = spiking_curve(tuned, k, x_test, y_test)
        rows[f"{label}, + one-step spiking-aware"] = {
            "population_size": k,
            "rate_accuracy": rate,
            "accuracy_by_steps": curve,
            "train_seconds": time.time() - start,
        }
    print("\naccuracy (%) after n steps, spike-count readout")
    header = " | ".join(f"{t:>5}" for t in range(1, MAX_STEPS + 1))
    print(f"{'network':>40} |  rate | {header}")
    for name, r in rows.items():
        cells = " | ".join(f"{100 * a:5.2f}" for a in r["accuracy_by_steps"])
        print(f"{name:>40} | {100 * r['rate_accuracy']:5.2f} | {cells}")
    best = {
        k: max(
            r["accuracy_by_steps"][0]
            for r in rows.values()
            if r["population_size"] == k
        )
        for k in (1, args.population)
    }
    one, pop = best[1], best[args.population]
    print(
        f"\nat one step: {10 * args.population} outputs {100 * pop:.2f}%, "
        f"10 outputs {100 * one:.2f}% ({100 * (pop - one):+.2f} points)"
    )
    return rows, {"population": pop, "ten_outputs": one}


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, r in rows.items():
        steps = np.arange(1, len(r["accuracy_by_steps"]) + 1)
        ls = "-" if "aware" in name else ":"
        color = "C1" if r["population_size"] > 1 else "C0"
        ax.plot(
            steps,
            100 * np.array(r["accuracy_by_steps"]),
            ls=ls,
            color=color,
            marker="o",
            label=name,
        )
    ax.set_xlabel("simulated steps")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Fashion-MNIST, spike-count readout")
    ax.set_xticks(range(1, MAX_STEPS + 1))
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.quick:
        args.epochs, args.aware_epochs = 1, 1
        args.n_train, args.n_test = 6000, 1000
    args.output_dir.mkdir(parents=True, exist_ok=True)
    rows, one_step = run(args)
    result = {
        "workflow": "snnTorch population coding (784-128-10 vs 784-128-500)",
        "dataset": "fashion_mnist",
        "settings": {k: str(v) for k, v in vars(args).items()},
        "rows": rows,
        "one_step": one_step,
    }
    path = args.output_dir / "snntorch_population.json"
    path.write_text(json.dumps(result, indent=1))
    plot(rows, args.output_dir / "accuracy_vs_steps.png")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
