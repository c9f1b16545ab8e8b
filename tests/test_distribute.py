"""Runs on tf.distribute strategies equal one device (simulator/_distribute.py).

Logical devices must be set up before TensorFlow initialises its devices, and
a multi-worker cluster needs processes of its own, so those runs happen in
subprocesses (`tests/distribute_run.py`); the one-device reference runs here.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import rateconv
from tests import distribute_run
from tests.helpers import conv_net

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 240  # seconds for any subprocess; each takes 20-40 s here


@pytest.fixture(scope="module")
def one_device():
    return distribute_run.cases(None)


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    return {**env, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


def _run(args, out, env):
    return subprocess.Popen(
        [sys.executable, "-m", "tests.distribute_run", *args, "--out", str(out)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait(processes):
    """Wait for every process (bounded); kill them all on a failure."""
    try:
        for p in processes:
            log, _ = p.communicate(timeout=TIMEOUT)
            assert p.returncode == 0, log[-4000:]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.communicate()


def _assert_same(results, prefix, expected):
    for key, value in expected.items():
        np.testing.assert_array_equal(
            results[f"{prefix}/{key}"], value, err_msg=f"{prefix}/{key}"
        )


def test_mirrored_strategy_on_2_and_4_devices_equals_one_device(tmp_path, one_device):
    out = tmp_path / "mirrored.npz"
    _wait([_run(["--logical-devices", "4", "--replicas", "2", "4"], out, _env())])
    with np.load(out) as f:
        results = dict(f)
    # bit for bit: outputs, probed layers, per-step errors, firing rates
    _assert_same(results, "2", one_device)
    _assert_same(results, "4", one_device)


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_strategy_on_two_processes_equals_one_process(
    tmp_path, one_device
):
    workers = [f"localhost:{p}" for p in _free_ports(2)]
    processes = []
    for index in range(2):
        tf_config = {
            "cluster": {"worker": workers},
            "task": {"type": "worker", "index": index},
        }
        env = _env(TF_CONFIG=json.dumps(tf_config))
        processes.append(_run(["--multi-worker"], tmp_path / f"w{index}.npz", env))
    _wait(processes)
    for index in range(2):  # every worker gathers the whole result
        with np.load(tmp_path / f"w{index}.npz") as f:
            results = dict(f)
        assert int(results["n_replicas"]) == 2
        _assert_same(results, "workers", one_device)


@pytest.mark.filterwarnings("ignore::rateconv.ActivityWarning")  # tiny, quiet net
def test_one_device_strategy_equals_no_strategy():
    net = rateconv.convert(conv_net(), scale_firing_rates=30.0, initial_state="uniform")
    x = np.random.default_rng(0).uniform(size=(5, 8, 8, 1)).astype(np.float32)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    kw = dict(n_steps=6, input_encoding="poisson")
    a = rateconv.Simulator(net, minibatch_size=2, strategy=strategy).predict(x, **kw)
    b = rateconv.Simulator(net, minibatch_size=2).predict(x, **kw)
    np.testing.assert_array_equal(a, b)


def test_strategy_must_be_a_supported_one():
    with pytest.raises(TypeError, match="MirroredStrategy.*Received: strategy=str"):
        rateconv.Simulator(conv_net(), strategy="mirrored")
