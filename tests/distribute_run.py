"""The runs `tests/test_distribute.py` compares, and a script to run them.

`cases(strategy)` runs a small network every way the comparison covers
(constant, Poisson and uniform-start runs; `evaluate` and `predict` with a
probed layer; a ``tf.data`` input; rate mode) on 11 samples in minibatches of
2, so the last minibatch is uneven and, on 4 replicas, the last round holds
empty ones.  The test calls it in its own process (one device) and runs this
module in subprocesses, which must set up their devices before TensorFlow
starts:

    python -m tests.distribute_run --logical-devices 4 --replicas 2 4 --out r.npz
    TF_CONFIG=... python -m tests.distribute_run --multi-worker --out w0.npz
"""

from __future__ import annotations

import argparse
import os

N_SAMPLES = 11
MINIBATCH = 2
N_STEPS = 12


def cases(strategy):
    """``{name: array}`` of every run, on ``strategy`` (None: one device)."""
    import numpy as np
    import tensorflow as tf

    import rateconv
    from tests.helpers import conv_net, images

    net = rateconv.convert(
        conv_net(), scale_firing_rates=30.0, initial_state="uniform", synapse=0.005
    )
    sim = rateconv.Simulator(
        net,
        minibatch_size=MINIBATCH,
        progress=False,
        warn_activity=False,
        strategy=strategy,
    )
    x = images(N_SAMPLES)
    y = np.arange(N_SAMPLES) % 5
    out = {}
    for encoding in ("constant", "poisson"):
        ev = sim.evaluate(
            x, y, n_steps=N_STEPS, input_encoding=encoding, seed=3, return_outputs=True
        )
        out[f"{encoding}/outputs"] = ev.outputs
        out[f"{encoding}/errors"] = ev.errors
        for layer, activity in ev.activity.items():
            out[f"{encoding}/rates/{layer}"] = activity.rates
        outputs, layers = sim.predict(
            x, n_steps=N_STEPS, input_encoding=encoding, seed=3, probe_layers=["a1"]
        )
        out[f"{encoding}/predict"] = outputs
        out[f"{encoding}/predict/a1"] = layers["a1"]
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(3)
    ev = sim.evaluate(dataset, n_steps=N_STEPS, input_encoding="poisson", seed=3)
    out["dataset/errors"] = ev.errors
    out["dataset/rates/a1"] = ev.activity["a1"].rates
    out["rate"] = sim.predict(x, mode="rate")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logical-devices", type=int, default=0)
    parser.add_argument("--replicas", type=int, nargs="*", default=[])
    parser.add_argument("--multi-worker", action="store_true")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    if args.logical_devices:  # before anything initialises the devices
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_devices
        )
    results = {}
    if args.multi_worker:
        # TF_CONFIG names the cluster and this process' task
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        for key, value in cases(strategy).items():
            results[f"workers/{key}"] = value
        results["n_replicas"] = np.array(strategy.num_replicas_in_sync)
    for n in args.replicas:
        devices = [f"/cpu:{i}" for i in range(n)]
        strategy = tf.distribute.MirroredStrategy(devices)
        assert strategy.num_replicas_in_sync == n
        for key, value in cases(strategy).items():
            results[f"{n}/{key}"] = value
    np.savez(args.out, **results)
    print(f"wrote {args.out} ({os.getpid()})")


if __name__ == "__main__":
    main()
