"""``--devices`` and ``--multi-worker`` (rateconv/cli/_devices.py), in-process.

The pytest process has started TensorFlow's devices already, so a run mirrored
over one named device stands in for the others; `tests/test_distribute.py`
runs several devices and workers in subprocesses.
"""

import json

import pytest

from rateconv.cli import main


def _evaluate(model, capsys, *extra):
    argv = ["evaluate", str(model), "--dataset", "fashion_mnist_sample"]
    argv += ["--n-images", "12", "--n-steps", "3", "--minibatch-size", "5"]
    status = main([*argv, "--json", *extra])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.filterwarnings("ignore::rateconv.ActivityWarning")  # tiny, quiet net
def test_devices_run_equals_the_one_device_run(tiny_model_path, capsys):
    status, out, err = _evaluate(tiny_model_path, capsys)
    assert status == 0, err
    one = json.loads(out)["spiking"]
    status, out, err = _evaluate(tiny_model_path, capsys, "--devices", "CPU:0")
    assert status == 0, err
    assert json.loads(out)["spiking"] == one


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--devices", "GPU:7"], "no device /gpu:7 here"),
        (["--devices", "tpu:0"], "a list like GPU:0,GPU:1"),
        (["--devices", "0"], "at least one device"),
        (["--devices", "3"], "run the command in a fresh process"),
        (["--multi-worker"], "needs TF_CONFIG"),
        (["--multi-worker", "--devices", "all"], "drop --devices"),
    ],
)
def test_device_errors_are_one_line(
    tiny_model_path, capsys, monkeypatch, extra, fragment
):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    status, _, err = _evaluate(tiny_model_path, capsys, *extra)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], err
