"""The LIF neuron and input encodings (the snnTorch introduction), in rateconv.

Four parts, each a figure or a check:

1. one LIF neuron as an RC circuit under a step input: its membrane voltage
   (a voltage probe, ``predict(..., probe_voltages=["lif"])``), threshold and
   spikes, against the analytic charging curve ``J (1 - exp(-t / tau_rc))``;
2. Poisson rate coding (``input_encoding="poisson"``): the mean spike count
   per step of each pixel tends to its value;
3. latency coding (``input_encoding="latency"`` / ``"latency_log"``): each
   pixel fires once, brighter earlier (snnTorch's ``spikegen.latency``,
   linear and logarithmic), a raster of one image;
4. a 784 -> 1000 -> 10 soft-LIF network trained in rate mode, converted, and
   its test accuracy over steps for constant, Poisson and latency inputs.

Run (``--quick``: about a minute; in full about 5 minutes on 2 cores)::

    python examples/seeds/lif_encodings.py --output-dir seeds_out/encodings

writes ``lif_encodings.json``, ``lif_step_input.png``, ``latency_raster.png``.
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
ENCODINGS = ("constant", "poisson", "latency", "latency_log")
STEPS_SHOWN = (1, 5, 10, 25, 50, 100)


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a small, fast setting")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--n-train", type=int, default=60000)
    p.add_argument("--n-test", type=int, default=10000)
    p.add_argument("--n-steps", type=int, default=100)
    p.add_argument("--output-dir", type=Path, default=Path("seeds_out/encodings"))
    p.add_argument("--seed", type=int, default=0)
    return p


def plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


# ---------------------------------------------------------------- 1. the LIF


def lif_step_input(path, *, current=1.5, tau_rc=0.02, tau_ref=0.002):
    """One LIF neuron, input 0 for 20 steps then ``current``: voltage probe."""
    model = keras.Sequential(
        [
            keras.Input((1,)),
            rateconv.SoftLIF(tau_rc=tau_rc, tau_ref=tau_ref, name="lif"),
        ]
    )
    net = rateconv.convert(model)
    n_steps, onset = 200, 20
    x = np.zeros((1, n_steps, 1), "f4")
    x[:, onset:] = current
    results = {}
    for engine in ("time_batched", "step"):
        sim = rateconv.Simulator(net, engine=engine, progress=False)
        out, probes = sim.predict(x, probe_synapse=None, probe_voltages=["lif"])
        results[engine] = (out[0, :, 0] > 0, probes["lif", "voltage"][0, :, 0])
    spikes, v = results["time_batched"]
    t = (np.arange(n_steps) + 1) * DT  # time after each step
    since = np.clip(t - onset * DT, 0, None)
    rc = current * (1 - np.exp(-since / tau_rc))
    first = int(np.flatnonzero(spikes)[0])
    analytic_first = onset + -tau_rc * np.log(1 - 1 / current) / DT
    checks = {
        "engines_max_voltage_difference": float(np.abs(results["step"][1] - v).max()),
        "rc_curve_max_error_before_first_spike": float(
            np.abs(v[:first] - rc[:first]).max()
        ),
        "first_spike_step": first + 1,
        "analytic_first_spike_time_steps": float(analytic_first),
        "n_spikes": int(spikes.sum()),
        "mean_rate_hz_after_onset": float(spikes[onset:].mean() / DT),
        "lif_rate_hz": float(
            rateconv.neurons.lif_rate(current, tau_rc=tau_rc, tau_ref=tau_ref)
        ),
    }
    pyplot = plt()
    fig, (ax, ax_in) = pyplot.subplots(
        2, 1, figsize=(7, 4.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ms = t * 1000
    ax.plot(ms, v, label="membrane voltage (probe)")
    ax.plot(ms[:first], rc[:first], "k:", label="RC curve J(1 - exp(-t/τ_rc))")
    ax.axhline(1.0, color="C3", ls="--", label="threshold")
    for s in ms[spikes]:
        ax.axvline(s, color="C2", alpha=0.5, lw=1)
    ax.plot([], [], color="C2", label="spikes")
    ax.set_ylabel("voltage (threshold = 1)")
    ax.set_ylim(0, 1.5)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(
        f"LIF neuron, τ_rc = {tau_rc * 1e3:g} ms, τ_ref = {tau_ref * 1e3:g} ms"
    )
    ax_in.plot(ms, x[0, :, 0], color="k")
    ax_in.set_ylabel("input J")
    ax_in.set_xlabel("time (ms)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot.close(fig)
    return checks


# ------------------------------------------------------- 2-3. the encodings


def probe_input(net, x, encoding, n_steps, seed=0):
    sim = rateconv.Simulator(net, progress=False, warn_activity=False)
    name = net.inputs[0]
    _, probes = sim.predict(
        x, n_steps=n_steps, input_encoding=encoding, seed=seed, probe_layers=[name]
    )
    return probes[name]


def poisson_check(net, x, n_steps):
    spikes = probe_input(net, x, "poisson", n_steps)
    mean = spikes.mean(axis=1)
    return {
        "n_images": len(x),
        "n_steps": n_steps,
        "mean_abs_error": float(np.abs(mean - x).mean()),
        "max_abs_error": float(np.abs(mean - x).max()),
        # binomial: the standard deviation of a mean of n draws of p
        "expected_mean_abs_error": float(
            np.mean(np.sqrt(x * (1 - x) / n_steps)) * np.sqrt(2 / np.pi)
        ),
        "correlation": float(np.corrcoef(mean.ravel(), x.ravel())[0, 1]),
    }


def latency_raster(net, image, n_steps, path):
    pyplot = plt()
    fig, axes = pyplot.subplots(1, 2, figsize=(9, 4), sharey=True)
    summary = {}
    for ax, encoding in zip(axes, ("latency", "latency_log")):
        spikes = probe_input(net, image[None], encoding, n_steps)[0]
        flat = spikes.reshape(n_steps, -1)
        steps, pixels = np.nonzero(flat)
        ax.scatter(steps + 1, pixels, s=1.5, color="k")
        ax.set_xlabel("step")
        ax.set_title(f"input_encoding={encoding!r}")
        counts = flat.sum(axis=0)
        summary[encoding] = {
            "pixels_firing": int((counts > 0).sum()),
            "pixels_at_or_above_threshold": int((image >= 0.01).sum()),
            "max_spikes_per_pixel": int(counts.max()),
            "first_step": int(steps.min()) + 1,
            "last_step": int(steps.max()) + 1,
        }
    axes[0].set_ylabel("pixel index")
    fig.suptitle("latency code of one test image: each pixel fires once, bright first")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot.close(fig)
    return summary


# -------------------------------------------------------------- 4. 784-1000-10


def mlp(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((28, 28)),
            keras.layers.Flatten(),
            keras.layers.Dense(1000, name="fc1"),
            rateconv.SoftLIF(amplitude=0.01, max_rate=100, sigma=0.02, name="lif1"),
            keras.layers.Dense(10, name="fc2"),
        ]
    )


def encodings_table(args, x_train, y_train, x_test, y_test):
    model = mlp(args.seed)
    model.compile(
        keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    start = time.time()
    model.fit(x_train, y_train, batch_size=128, epochs=args.epochs, verbose=0)
    trained = time.time() - start
    # options chosen for the step budget on training images (constant input)
    net = rateconv.convert(model, calibration_data=x_train[:1000], n_steps=args.n_steps)
    sim = rateconv.Simulator(net, progress=False)
    rate = 1 - sim.evaluate(x_test, y_test, mode="rate").error
    rows = {}
    for encoding in ENCODINGS:
        ev = sim.evaluate(
            x_test,
            y_test,
            n_steps=args.n_steps,
            input_encoding=encoding,
            seed=args.seed,
        )
        rows[encoding] = (1 - ev.errors).tolist()
    return {
        "rate_accuracy": rate,
        "train_seconds": trained,
        "tuning": str(net.tuning) if net.tuning is not None else None,
        "accuracy_by_steps": rows,
    }


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.quick:
        args.epochs, args.n_train, args.n_test = 1, 5000, 500
    out = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    (x_train, y_train), (x_test, y_test) = datasets.load_fashion_mnist()
    x_train = x_train[: args.n_train].astype("f4") / 255
    y_train = y_train[: args.n_train]
    x_test = x_test[: args.n_test].astype("f4") / 255
    y_test = y_test[: args.n_test]

    lif = lif_step_input(out / "lif_step_input.png")
    print(
        f"1. LIF under a step input: first spike at step {lif['first_spike_step']} "
        f"(analytic {lif['analytic_first_spike_time_steps']:.2f}), RC curve error "
        f"{lif['rc_curve_max_error_before_first_spike']:.1e}, engines differ by "
        f"{lif['engines_max_voltage_difference']:.1e}; "
        f"{lif['mean_rate_hz_after_onset']:.1f} Hz (LIF rate {lif['lif_rate_hz']:.1f})"
    )
    net = rateconv.convert(mlp(args.seed))  # any network: only its input is probed
    poisson = poisson_check(net, x_test[:100], args.n_steps)
    print(
        f"2. Poisson, {args.n_steps} steps, 100 images: mean |count/T - pixel| "
        f"{poisson['mean_abs_error']:.4f} (binomial expectation "
        f"{poisson['expected_mean_abs_error']:.4f}), correlation "
        f"{poisson['correlation']:.4f}"
    )
    raster = latency_raster(net, x_test[0], args.n_steps, out / "latency_raster.png")
    for encoding, s in raster.items():
        print(
            f"3. {encoding}: {s['pixels_firing']} pixels fire (of "
            f"{s['pixels_at_or_above_threshold']} >= 0.01), at most "
            f"{s['max_spikes_per_pixel']} spike each, steps {s['first_step']}-"
            f"{s['last_step']}"
        )
    table = encodings_table(args, x_train, y_train, x_test, y_test)
    shown = [t for t in STEPS_SHOWN if t <= args.n_steps]
    print(
        f"4. 784-1000-10, rate mode {100 * table['rate_accuracy']:.2f}% "
        f"(trained {table['train_seconds']:.0f} s); accuracy (%) after t of "
        f"{args.n_steps} steps:"
    )
    print(f"{'encoding':>12} | " + " | ".join(f"{t:>5}" for t in shown))
    for encoding, curve in table["accuracy_by_steps"].items():
        cells = " | ".join(f"{100 * curve[t - 1]:5.2f}" for t in shown)
        print(f"{encoding:>12} | {cells}")
    result = {
        "workflow": "snnTorch LIF / encodings introduction",
        "dataset": "fashion_mnist",
        "settings": {k: str(v) for k, v in vars(args).items()},
        "lif_step_input": lif,
        "poisson": poisson,
        "latency_raster": raster,
        "network_784_1000_10": table,
    }
    (out / "lif_encodings.json").write_text(json.dumps(result, indent=1))
    print(f"wrote {out / 'lif_encodings.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
