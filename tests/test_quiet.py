"""Quiet by default: no TensorFlow or absl log lines on stderr, unless asked.

Each test runs a fresh interpreter (TensorFlow reads its log level once, at
load) and reads its stderr.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# absl's header (I0000 00:00:... file.cc:123]), its pre-init banner, and
# TensorFlow's Python logger
TF_LOG_LINE = re.compile(
    r"^[IWEF]\d{4} |absl::InitializeLog|^(WARNING|INFO|ERROR):(tensorflow|absl)",
    re.M,
)

# a softmax model: its evaluate used to log "Error in PredictCost() for the
# op: Softmax" (a grappler cost-estimation warning)
SCRIPT = """
import sys
if "keras-first" in sys.argv:
    import keras  # loads TensorFlow before rateconv can set its log level
import numpy as np
import rateconv
import keras
model = keras.Sequential([
    keras.Input((8, 8, 1)),
    keras.layers.Conv2D(4, 3, activation="relu"),
    keras.layers.Flatten(),
    keras.layers.Dense(5, activation="softmax"),
])
x = np.random.default_rng(0).uniform(size=(64, 8, 8, 1)).astype("float32")
sim = rateconv.Simulator(rateconv.convert(model), warn_activity=False)
sim.evaluate(x, np.zeros(64, int), n_steps=3)
sim.evaluate(x, np.zeros(64, int), mode="rate")
model.predict(x, verbose=0)
print("ok")
"""


def _run(args, env_changes=None):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(ROOT)
    env.update(env_changes or {})
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=300
    )


def _tensorflow_version():
    import tensorflow as tf

    return tuple(int(part) for part in tf.__version__.split(".")[:2])


# TensorFlow 2.16 logs XLA's start-up lines ("XLA service ... initialized",
# "Compiled cluster using XLA!") through an absl that TF_CPP_MIN_LOG_LEVEL and
# absl::SetMinLogLevel of libtensorflow_framework do not reach; strict, so the
# mark goes once the floor moves past 2.16
xla_logs_on_tf216 = pytest.mark.xfail(
    _tensorflow_version() < (2, 17),
    reason="TensorFlow 2.16 prints XLA start-up lines at the first compiled run",
    strict=True,
)


@xla_logs_on_tf216
def test_import_and_evaluate_are_quiet():
    done = _run(["-c", SCRIPT])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert not TF_LOG_LINE.search(done.stderr), done.stderr


def test_quiet_even_when_keras_is_imported_first():
    done = _run(["-c", SCRIPT, "keras-first"])
    assert done.returncode == 0, done.stderr
    # the user's own `import keras` printed TensorFlow's start-up banner before
    # rateconv loaded; after that, evaluate logs nothing (no PredictCost)
    assert "PredictCost" not in done.stderr
    assert not re.search(r"^[IW]\d{4} .*(cost_estimator|service\.cc)", done.stderr)


def test_users_own_log_level_is_respected():
    done = _run(["-c", "import rateconv"], {"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert done.returncode == 0, done.stderr
    assert "oneDNN" in done.stderr  # TensorFlow's INFO lines, as asked


@xla_logs_on_tf216
def test_cli_quiet_and_verbose(tiny_model_path):
    argv = ["-m", "rateconv", "evaluate", str(tiny_model_path)]
    argv += ["--dataset", "fashion_mnist_sample", "--n-images", "20", "--n-steps", "2"]
    done = _run(argv)
    assert done.returncode == 0, done.stderr
    assert "error vs steps" in done.stdout
    assert not TF_LOG_LINE.search(done.stderr), done.stderr
    # --verbose writes back the start-up lines held back (a missing model file
    # ends the run right after)
    done = _run(["-m", "rateconv", "evaluate", "missing.keras", "--verbose"])
    assert done.returncode == 2
    assert "oneDNN" in done.stderr and "model file not found" in done.stderr
