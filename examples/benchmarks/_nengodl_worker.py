"""NengoDL side of ``race_nengodl.py``: the exported network, natively in NengoDL.

Runs under the Python of NengoDL's own virtual environment (NengoDL 3.6,
TensorFlow 2.12, Keras 2), never in rateconv's.  ``race_nengodl.py`` starts it;
it is not meant to be run by hand, although it can be::

    $VENV/bin/python _nengodl_worker.py --data race.npz --out nengodl.json

The network is written the way NengoDL's spiking-MNIST example writes it: each
weighted or pooling Keras layer is a ``nengo_dl.Layer`` (a TensorNode), and each
soft-LIF layer becomes an ensemble of ``nengo.LIF(amplitude=...)`` neurons with
the same ``max_rates`` and ``intercepts`` (or gain and bias), connected to its
``neurons``.  The weights come from the exported ``.npz`` (Keras 3 and Keras 2
store Conv2D and Dense kernels in the same layout).

Spiking inference uses ``configure_settings(inference_only=True,
stateful=False)``; throughput is measured on a warm simulator, after one
untimed minibatch has traced and compiled the graph.  ``synapse`` is the lowpass
filter put on every connection leaving a neuron layer (as rateconv's
``convert(..., synapse=...)``); the output probe has its own ``probe_synapse``.
A rate-mode run (``nengo.LIFRate``, no synapses, one step) checks the weight
mapping against rateconv's rate mode.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import nengo  # noqa: E402
import nengo_dl  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.get_logger().setLevel("ERROR")


def parse_args(argv=None):
    """Command-line options (see ``--help``)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="npz written by race_nengodl.py")
    p.add_argument("--out", required=True, help="JSON file for the results")
    p.add_argument(
        "--outputs", help="npz file for the rate-mode outputs (weight check)"
    )
    p.add_argument("--n-steps", type=int, nargs="+", default=[10, 30])
    p.add_argument("--batch", type=int, default=200, help="minibatch_size")
    p.add_argument(
        "--synapses",
        nargs="+",
        default=["none", "0.005"],
        help="connection synapses to race ('none' or a time constant in s)",
    )
    p.add_argument("--probe-synapse", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0, help="nengo.Network seed")
    p.add_argument(
        "--repeats", type=int, default=2, help="timed runs; the fastest counts"
    )
    p.add_argument(
        "--unroll",
        type=int,
        default=1,
        help="unroll_simulation (must divide every n_steps)",
    )
    return p.parse_args(argv)


def as_synapse(text):
    """``'none'`` -> None, else the lowpass time constant in seconds."""
    return None if text.lower() == "none" else float(text)


def load_data(path):
    """The layer list, weights, images and labels written by the race script."""
    with np.load(path) as f:
        data = {k: f[k] for k in f.files}
    spec = json.loads(str(data.pop("spec")))
    return spec, data


def keras2_layer(layer, weights):
    """A TF 2.12 ``tf.keras`` layer equal to an exported Keras 3 layer."""
    kind, cfg, i = layer["type"], layer["config"], layer["index"]
    init = {}
    if kind in ("Conv2D", "Dense"):
        init["kernel_initializer"] = tf.constant_initializer(weights[f"{i}_kernel"])
        if cfg["use_bias"]:
            init["bias_initializer"] = tf.constant_initializer(weights[f"{i}_bias"])
    if kind == "Conv2D":
        return tf.keras.layers.Conv2D(
            cfg["filters"],
            cfg["kernel_size"],
            strides=cfg["strides"],
            padding=cfg["padding"],
            dilation_rate=cfg["dilation_rate"],
            use_bias=cfg["use_bias"],
            **init,
        )
    if kind == "Dense":
        return tf.keras.layers.Dense(cfg["units"], use_bias=cfg["use_bias"], **init)
    if kind == "AveragePooling2D":
        return tf.keras.layers.AveragePooling2D(
            cfg["pool_size"], strides=cfg["strides"], padding=cfg["padding"]
        )
    raise ValueError(f"The worker cannot build layer {layer['name']!r} ({kind}).")


def ensemble_args(neuron):
    """Ensemble parameters of a soft-LIF layer: max rates and intercepts."""
    if neuron["max_rate"] is not None:
        intercept = neuron["intercept"] or 0.0
        return {
            "max_rates": nengo.dists.Choice([neuron["max_rate"]]),
            "intercepts": nengo.dists.Choice([intercept]),
        }
    return {
        "gain": nengo.dists.Choice([neuron["gain"]]),
        "bias": nengo.dists.Choice([neuron["bias"]]),
    }


def build_network(spec, weights, *, spiking, synapse, probe_synapse, seed):
    """The exported network as a ``nengo.Network``.

    Parameters
    ----------
    spec : dict
        ``input_shape`` and ``layers`` as exported by the race script.
    weights : dict of str to numpy.ndarray
        ``"<index>_kernel"`` and ``"<index>_bias"`` arrays.
    spiking : bool
        ``nengo.LIF`` neurons, else ``nengo.LIFRate``.
    synapse : float or None
        Lowpass time constant (s) on every connection leaving a neuron layer.
    probe_synapse : float or None
        Lowpass time constant (s) of the output probe.
    seed : int
        Network seed (it draws the LIF neurons' initial voltages).

    Returns
    -------
    net : nengo.Network
    inp : nengo.Node
    probe : nengo.Probe
    """
    shape = tuple(spec["input_shape"])
    with nengo.Network(seed=seed) as net:
        nengo_dl.configure_settings(stateful=False, inference_only=True)
        inp = nengo.Node(np.zeros(int(np.prod(shape))), label="image")
        x, after_neurons = inp, False
        for layer in spec["layers"]:
            syn = synapse if after_neurons else None
            if layer["type"] == "Flatten":  # Nengo signals are flat already
                shape = (int(np.prod(shape)),)
                continue
            if layer["type"] == "SoftLIF":
                n = layer["neuron"]
                neuron_cls = nengo.LIF if spiking else nengo.LIFRate
                neuron_type = neuron_cls(
                    tau_rc=n["tau_rc"], tau_ref=n["tau_ref"], amplitude=n["amplitude"]
                )
                x = nengo_dl.Layer(neuron_type)(x, synapse=syn, **ensemble_args(n))
                after_neurons = True
            else:
                keras_layer = keras2_layer(layer, weights)
                x = nengo_dl.Layer(keras_layer)(x, shape_in=shape, synapse=syn)
                after_neurons = False
            shape = tuple(layer["output_shape"])
        probe = nengo.Probe(x, synapse=probe_synapse, label="output")
    return net, inp, probe


def predict(sim, inp, probe, images, n_steps):
    """Output probe, shape (n, n_steps, n_out), images shown at every step."""
    flat = images.reshape(len(images), 1, -1)
    tiled = np.broadcast_to(flat, (len(images), n_steps, flat.shape[-1]))
    return sim.predict({inp: np.ascontiguousarray(tiled)}, verbose=0)[probe]


def spiking_run(spec, weights, images, labels, *, synapse, steps, args):
    """Build once, then for each ``n_steps``: warm up, time, score."""
    t0 = time.perf_counter()
    net, inp, probe = build_network(
        spec,
        weights,
        spiking=True,
        synapse=synapse,
        probe_synapse=args.probe_synapse,
        seed=args.seed,
    )
    results = []
    with nengo_dl.Simulator(
        net,
        minibatch_size=args.batch,
        unroll_simulation=args.unroll,
        progress_bar=False,
        seed=args.seed,
    ) as sim:
        build_s = time.perf_counter() - t0
        for n_steps in steps:
            t0 = time.perf_counter()
            predict(sim, inp, probe, images[: args.batch], n_steps)
            warmup_s = time.perf_counter() - t0
            times = []
            for _ in range(args.repeats):  # others may share the CPU: best of n
                t0 = time.perf_counter()
                out = predict(sim, inp, probe, images, n_steps)
                times.append(time.perf_counter() - t0)
            elapsed = min(times)
            correct = np.argmax(out, axis=-1) == labels[:, None]
            acc = correct.mean(axis=0)
            results.append(
                {
                    "synapse": synapse,
                    "n_steps": n_steps,
                    "unroll_simulation": args.unroll,
                    "accuracy": float(acc[-1]),
                    "accuracy_per_step": [float(a) for a in acc],
                    "build_s": build_s,
                    "warmup_s": warmup_s,
                    "elapsed_s": elapsed,
                    "elapsed_s_all": times,
                    "image_steps_per_s": len(images) * n_steps / elapsed,
                }
            )
            print(
                f"  NengoDL synapse={synapse} n_steps={n_steps}: "
                f"accuracy {acc[-1]:.4f}, {results[-1]['image_steps_per_s']:.0f} "
                f"image-steps/s (build {build_s:.1f} s, warm-up {warmup_s:.1f} s)",
                flush=True,
            )
    return results


def rate_run(spec, weights, images, labels, args):
    """LIFRate neurons and no synapses: the outputs after one step."""
    net, inp, probe = build_network(
        spec, weights, spiking=False, synapse=None, probe_synapse=None, seed=args.seed
    )
    with nengo_dl.Simulator(
        net, minibatch_size=args.batch, progress_bar=False, seed=args.seed
    ) as sim:
        out = predict(sim, inp, probe, images, 1)[:, -1]
    acc = float(np.mean(np.argmax(out, axis=-1) == labels))
    print(f"  NengoDL LIFRate (rate mode): accuracy {acc:.4f}", flush=True)
    return out, acc


def dense_floor(spec, weights, images, batch, repeats=3):
    """Images/s of the same network with ReLU in plain ``tf.keras`` (TF 2.12)."""
    layers = [tf.keras.Input(tuple(spec["input_shape"]))]
    for layer in spec["layers"]:
        if layer["type"] == "SoftLIF":
            layers.append(tf.keras.layers.ReLU())
        elif layer["type"] == "Flatten":
            layers.append(tf.keras.layers.Flatten())
        else:
            layers.append(keras2_layer(layer, weights))
    model = tf.keras.Sequential(layers)
    forward = tf.function(lambda x: model(x, training=False))
    n = len(images) // batch * batch
    batches = [tf.constant(images[i : i + batch]) for i in range(0, n, batch)]
    forward(batches[0]).numpy()
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for b in batches:
            forward(b).numpy()
        best = min(best, time.perf_counter() - t0)
    return n / best


def main(argv=None):
    """Run every race setting and write the results as JSON."""
    args = parse_args(argv)
    spec, data = load_data(args.data)
    images = data.pop("images").astype(np.float32)
    labels = data.pop("labels").astype(np.int64)
    bad = [n for n in args.n_steps if n % args.unroll]
    if bad:
        raise SystemExit(
            f"unroll_simulation={args.unroll} must divide every n_steps. "
            f"Received: n_steps={args.n_steps}"
        )
    if len(images) % args.batch:
        raise SystemExit(
            f"NengoDL needs a number of images divisible by the minibatch size. "
            f"Received: {len(images)} images, batch={args.batch}"
        )
    print(
        f"NengoDL {nengo_dl.__version__}, Nengo {nengo.__version__}, TensorFlow "
        f"{tf.__version__}, Python {sys.version.split()[0]}",
        flush=True,
    )
    result = {
        "versions": {
            "nengo_dl": nengo_dl.__version__,
            "nengo": nengo.__version__,
            "tensorflow": tf.__version__,
            "python": sys.version.split()[0],
        },
        "n_images": len(images),
        "batch": args.batch,
        "probe_synapse": args.probe_synapse,
        "runs": [],
    }
    rate_out, result["rate_accuracy"] = rate_run(spec, data, images, labels, args)
    if args.outputs:
        np.savez(args.outputs, rate=rate_out)
    for text in args.synapses:
        result["runs"] += spiking_run(
            spec,
            data,
            images,
            labels,
            synapse=as_synapse(text),
            steps=args.n_steps,
            args=args,
        )
    result["dense_images_per_s"] = dense_floor(spec, data, images, args.batch)
    print(
        f"  tf.keras 2.12 ReLU forward: {result['dense_images_per_s']:.0f} images/s",
        flush=True,
    )
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
