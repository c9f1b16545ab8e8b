"""``--devices`` and ``--multi-worker``: the `tf.distribute` strategy of a run.

``--devices all`` mirrors the run over every GPU (or the CPU where there is
none), ``--devices GPU:0,GPU:1`` over those devices, ``--devices N`` over the
first N GPUs -- or, on a machine without GPUs, over N logical devices split
from the CPU (they share its cores: a way to check a distributed run, not to
speed one up).  ``--multi-worker`` runs one process of a
``MultiWorkerMirroredStrategy`` cluster described by the standard
``TF_CONFIG`` variable.  Results equal a run on one device, bit for bit
(`rateconv.simulator._distribute`).

`strategy_from_args` must run before TensorFlow starts its devices (a CPU
split, and a multi-worker cluster's collective ops, can only be set up then),
so a verb calls it first.
"""

from __future__ import annotations

import os

from rateconv.cli._common import UsageError


def add_device_options(parser):
    """Add ``--devices`` and ``--multi-worker`` to a verb's parser."""
    group = parser.add_argument_group("devices (tf.distribute)")
    group.add_argument(
        "--devices",
        default=None,
        metavar="all|N|LIST",
        help="mirror the run over several devices (tf.distribute."
        "MirroredStrategy; results equal one device): 'all' (every GPU, else "
        "the CPU), a count N (the first N GPUs; without GPUs, N logical CPU "
        "devices, for checking only), or a list like GPU:0,GPU:1; minibatches "
        "are per device",
    )
    group.add_argument(
        "--multi-worker",
        action="store_true",
        help="run as one worker of a MultiWorkerMirroredStrategy cluster "
        "given by TF_CONFIG (start the same command in every worker)",
    )


def strategy_from_args(args):
    """The strategy ``args`` ask for, or None (one device)."""
    devices = getattr(args, "devices", None)
    multi_worker = getattr(args, "multi_worker", False)
    if devices is None and not multi_worker:
        return None
    import tensorflow as tf

    if multi_worker:
        if devices is not None:
            raise UsageError(
                "--multi-worker uses every GPU of each worker (or its CPU); "
                "drop --devices"
            )
        if not os.environ.get("TF_CONFIG"):
            raise UsageError(
                '--multi-worker needs TF_CONFIG, e.g. TF_CONFIG=\'{"cluster": '
                '{"worker": ["host1:12345", "host2:12345"]}, "task": {"type": '
                '"worker", "index": 0}}\' (see examples/guides/multi_device.md)'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.MirroredStrategy(_resolve(devices, tf))


def _resolve(spec, tf):
    gpus = [f"/gpu:{i}" for i in range(len(tf.config.list_physical_devices("GPU")))]
    text = spec.strip()
    if text.lower() == "all":
        return gpus or ["/cpu:0"]
    if text.isdigit():
        n = int(text)
        if n < 1:
            raise UsageError(f"--devices needs at least one device, got {spec!r}")
        if gpus:
            if n > len(gpus):
                raise UsageError(f"--devices {n}: this machine has {len(gpus)} GPU(s)")
            return gpus[:n]
        _split_cpu(n, tf)
        return [f"/cpu:{i}" for i in range(n)]
    names = [name.strip() for name in text.split(",") if name.strip()]
    devices = []
    for name in names:
        bare = name.lower().lstrip("/").removeprefix("device:")
        kind, _, index = bare.partition(":")
        if kind not in ("cpu", "gpu") or not index.isdigit():
            raise UsageError(
                f"--devices takes 'all', a count or a list like GPU:0,GPU:1; "
                f"got {name!r} in {spec!r}"
            )
        devices.append(f"/{kind}:{index}")
    logical = tf.config.list_logical_devices()
    known = {d.name.lower().replace("/device:", "/") for d in logical}
    unknown = [d for d in devices if d not in known] if devices else [spec]
    if unknown:
        raise UsageError(
            f"--devices {spec!r}: no device {', '.join(unknown)} here; "
            f"this machine has {', '.join(sorted(known))}"
        )
    return devices


def _split_cpu(n, tf):
    """Make the CPU ``n`` logical devices (before TensorFlow starts them)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * n
        )
    except RuntimeError:  # already initialised (e.g. called in-process twice)
        if len(tf.config.list_logical_devices("CPU")) < n:
            raise UsageError(
                f"--devices {n}: TensorFlow started its devices already, so the "
                "CPU can no longer be split; run the command in a fresh process"
            ) from None
