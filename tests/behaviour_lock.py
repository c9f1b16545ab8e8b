"""Recorded outputs of a few converted networks, to keep behaviour fixed.

`record()` runs every case and returns ``{key: array}``; the arrays saved in
``tests/data/behaviour_lock.npz`` were recorded with the code before the
package was restructured, except the cases with random draws (uniform
initial voltages, Poisson inputs: ``relu_all_options``,
``relu_max_to_avg_poisson``, ``softlif_all_options``), recorded again when the
draws became per-sample streams (`rateconv.simulator._random`).
``python -m tests.behaviour_lock`` rewrites them: only do that for an
intended change of behaviour.  Each case rebuilds its
Keras model from the architecture below and the weights stored in the file,
so the check does not depend on Keras' random initializers.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

import rateconv

LOCK_PATH = Path(__file__).parent / "data" / "behaviour_lock.npz"


def _relu_conv(pool="avg"):
    pool_layer = (
        keras.layers.AveragePooling2D(2, name="pool")
        if pool == "avg"
        else keras.layers.MaxPooling2D(2, name="pool")
    )
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, name="c1"),
            keras.layers.ReLU(name="a1"),
            pool_layer,
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(12, activation="relu", name="d1"),
            keras.layers.Dropout(0.2, name="drop"),
            keras.layers.Dense(5, activation="softmax", name="out"),
        ],
        name=f"relu_{pool}",
    )


def _softlif_conv():
    def act(name):
        return rateconv.SoftLIF(sigma=0.01, amplitude=0.01, max_rate=200, name=name)

    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, name="c1"),
            act("a1"),
            keras.layers.AveragePooling2D(2, name="pool"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(12, name="d1"),
            act("a2"),
            keras.layers.Dense(5, name="out"),
        ],
        name="softlif",
    )


def _qcfs_conv():
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, name="c1"),
            rateconv.QuantizedReLU(levels=4, threshold=1.5, name="q1"),
            keras.layers.AveragePooling2D(2, name="pool"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(10, name="d1"),
            rateconv.QuantizedReLU(levels=4, threshold=0.7, name="q2"),
            keras.layers.Dense(3, name="out"),
        ],
        name="qcfs",
    )


def _functional_residual():
    x = keras.Input((8, 8, 2), name="img")
    h = keras.layers.Conv2D(4, 3, padding="same", name="c1")(x)
    h = keras.layers.BatchNormalization(name="bn1")(h)
    h = keras.layers.ReLU(name="a1")(h)
    g = keras.layers.Conv2D(4, 1, name="c2")(h)
    g = keras.layers.Activation("relu", name="a2")(g)
    s = keras.layers.Add(name="add")([h, g])
    c = keras.layers.Concatenate(name="cat")([s, h])
    p = keras.layers.GlobalAveragePooling2D(name="gap")(c)
    out = keras.layers.Dense(3, name="out")(p)
    return keras.Model(x, out, name="residual")


ARCHITECTURES = {
    "relu_avg": lambda: _relu_conv("avg"),
    "relu_max": lambda: _relu_conv("max"),
    "softlif": _softlif_conv,
    "qcfs": _qcfs_conv,
    "residual": _functional_residual,
}

# (case name, architecture, convert options, simulator options, run options)
CASES = [
    ("relu_plain", "relu_avg", {"scale_firing_rates": 300.0}, {}, {}),
    (
        "relu_all_options",
        "relu_avg",
        {
            "scale_firing_rates": 30.0,
            "synapse": 0.005,
            "reset": "zero",
            "initial_state": "uniform",
        },
        {},
        {"probe_synapse": rateconv.Alpha(0.01), "seed": 3},
    ),
    (
        "relu_max_pool",
        "relu_max",
        {"scale_firing_rates": 40.0, "initial_state": "half"},
        {},
        {"probe_synapse": None},
    ),
    (
        "relu_max_to_avg_poisson",
        "relu_max",
        {"scale_firing_rates": 300.0, "max_to_avg_pool": True},
        {},
        {"input_encoding": "poisson", "seed": 5},
    ),
    (
        "softlif_all_options",
        "softlif",
        {
            "scale_firing_rates": 4.0,
            "synapse": rateconv.Lowpass(0.003),
            "initial_state": "uniform",
            "reset": "subtract",
        },
        {"minibatch_size": 4},
        {"probe_synapse": 0.02, "seed": 1},
    ),
    ("softlif_step_engine", "softlif", {}, {"engine": "step"}, {}),
    ("qcfs_default", "qcfs", {}, {}, {"probe_synapse": None}),
    (
        "residual_bn_fold",
        "residual",
        {"scale_firing_rates": 300.0, "synapse": 0.002},
        {},
        {},
    ),
    (
        "residual_no_fold_step",
        "residual",
        {"scale_firing_rates": 300.0, "fold_batch_norm": False},
        {"engine": "step"},
        {"probe_synapse": 0.05},
    ),
]
N_STEPS = 12
N_IMAGES = 7


def _inputs(model, seed=0):
    shape = (N_IMAGES,) + tuple(model.inputs[0].shape[1:])
    return np.random.default_rng(seed).uniform(size=shape).astype(np.float32)


def _randomized(arch, weights=None):
    keras.utils.set_random_seed(0)
    model = ARCHITECTURES[arch]()
    if weights is None:
        rng = np.random.default_rng(1)
        weights = []
        for w in model.get_weights():
            if w.ndim == 0:  # a QCFS threshold
                weights.append(w)
            elif w.ndim == 1:  # biases and batch-norm vectors: positive-ish
                weights.append(rng.uniform(0.2, 1.0, w.shape).astype(w.dtype))
            else:
                weights.append((rng.normal(size=w.shape) * 0.6).astype(w.dtype))
    model.set_weights(weights)
    return model


def record(weights=None):
    """Run every case; returns ``{key: array}`` (weights under ``w/...``)."""
    out = {}
    models = {}
    for arch in ARCHITECTURES:
        given = None
        if weights is not None:
            n = sum(1 for k in weights if k.startswith(f"w/{arch}/"))
            given = [weights[f"w/{arch}/{i}"] for i in range(n)]
        models[arch] = model = _randomized(arch, given)
        for i, w in enumerate(model.get_weights()):
            out[f"w/{arch}/{i}"] = w
    for name, arch, convert_options, sim_options, run_options in CASES:
        model = models[arch]
        x = _inputs(model)
        net = rateconv.convert(model, **convert_options)
        sim = rateconv.Simulator(net, progress=False, **sim_options)
        out[f"{name}/rate"] = np.asarray(sim.predict(x, mode="rate"))
        out[f"{name}/spiking"] = np.asarray(
            sim.predict(x, n_steps=N_STEPS, **run_options)
        )
        labels = np.arange(N_IMAGES) % net.output_shapes[0][-1]
        ev = sim.evaluate(x, labels, n_steps=N_STEPS, **run_options)
        out[f"{name}/errors"] = np.asarray(ev.errors)
        for layer, activity in ev.activity.items():
            out[f"{name}/rates/{layer}"] = activity.rates
    # post-conversion tuning on a ReLU network
    model = models["relu_avg"]
    x = _inputs(model)
    net = rateconv.normalize(rateconv.convert(model), _inputs(model, seed=9))
    net = rateconv.calibrate(net, _inputs(model, seed=9), n_steps=N_STEPS)
    sim = rateconv.Simulator(net, progress=False)
    out["relu_tuned/spiking"] = np.asarray(
        sim.predict(x, n_steps=N_STEPS, probe_synapse=None)
    )
    return out


if __name__ == "__main__":
    LOCK_PATH.parent.mkdir(exist_ok=True)
    np.savez_compressed(LOCK_PATH, **record())
    print(f"wrote {LOCK_PATH}")
