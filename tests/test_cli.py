"""The command line, run in-process through `rateconv.cli.main`."""

import gzip
import json
import struct

import keras
import numpy as np
import pytest

import rateconv
from rateconv import datasets
from rateconv.cli import main
from rateconv.zoo.pretrained import PRETRAINED_DIR_ENV, register_pretrained
from tests.helpers import PNG_MAGIC, tiny_model


def write_idx(path, array):
    """Write a uint8 array as a gzipped IDX file (the MNIST format)."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


@pytest.fixture
def tiny_fashion_mnist(tmp_path):
    """A directory with Fashion-MNIST's four files holding a few real images."""
    x, y = datasets.load_fashion_mnist_sample()
    directory = tmp_path / "data"
    directory.mkdir()
    write_idx(directory / "train-images-idx3-ubyte.gz", x[:64])
    write_idx(directory / "train-labels-idx1-ubyte.gz", y[:64])
    write_idx(directory / "t10k-images-idx3-ubyte.gz", x[64:96])
    write_idx(directory / "t10k-labels-idx1-ubyte.gz", y[64:96])
    return directory


def run(argv, capsys):
    """``(exit status, stdout, stderr)`` of the command line."""
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status, err, *fragments):
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "error" in lines[0] and "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


def evaluate_args(model, *extra):
    return [
        "evaluate",
        model,
        "--dataset",
        "fashion_mnist_sample",
        "--n-images",
        50,
        "--n-steps",
        5,
        *extra,
    ]


def test_evaluate_json(tiny_model_path, capsys):
    status, out, _ = run(evaluate_args(tiny_model_path, "--json"), capsys)
    assert status == 0
    result = json.loads(out)  # nothing else on stdout
    assert result["n_images"] == 50
    assert result["dataset"] == "fashion_mnist_sample"
    assert result["probe_synapse"] == 0.1 and result["convert"] == {}
    assert 0 <= result["rate_error"] <= 1
    spiking = result["spiking"]
    assert spiking["mode"] == "spiking"
    assert spiking["n_samples"] == 50 and spiking["n_steps"] == 5
    assert len(spiking["errors_per_step"]) == 5
    assert all(0 <= e <= 1 for e in spiking["errors_per_step"])
    assert spiking["error"] == spiking["errors_per_step"][-1]
    assert spiking["accuracy"] == pytest.approx(1 - spiking["error"])
    layer = spiking["layers"]["lif"]
    assert layer["n_neurons"] == 16
    assert 0 <= layer["silent_fraction"] <= 1
    assert layer["mean_rate_hz"] > 0  # biased neurons fire within 5 steps

    # the rate error is the Keras model's error on the same images
    x, y = datasets.load_fashion_mnist_sample()
    logits = keras.models.load_model(tiny_model_path).predict(x[:50, ..., None] / 255.0)
    assert result["rate_error"] == pytest.approx(np.mean(logits.argmax(1) != y[:50]))


def test_evaluate_table_and_plot(tiny_model_path, tmp_path, capsys):
    plot = tmp_path / "figs" / "curve.png"
    status, out, _ = run(evaluate_args(tiny_model_path, "--plot", plot), capsys)
    assert status == 0
    assert "rate mode error" in out and "error vs steps" in out
    assert "lif" in out  # the firing-rate table
    for path in (plot, tmp_path / "figs" / "curve_probes.png"):
        assert path.read_bytes()[:8] == PNG_MAGIC
        assert f"wrote {path}" in out


@pytest.mark.parametrize(
    "extra, fragments",
    [
        (["--n-steps", "0"], ["--n-steps", "'0'"]),
        (["--dataset", "cifar10"], ["--dataset", "'cifar10'"]),
        (["--synapse", "-1"], ["--synapse"]),
    ],
)
def test_bad_arguments(tiny_model_path, capsys, extra, fragments):
    status, _, err = run(evaluate_args(tiny_model_path, *extra), capsys)
    assert_one_line_error(status, err, *fragments)


def test_missing_model_file(tmp_path, capsys):
    for name in ("missing.keras", "missing.h5"):
        status, _, err = run(evaluate_args(tmp_path / name), capsys)
        assert_one_line_error(status, err, "model file not found", name)


def test_corrupt_model_file(tmp_path, tiny_model_path, capsys):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"this is not a zip archive")
    status, _, err = run(evaluate_args(bad), capsys)
    assert_one_line_error(status, err, str(bad), "corrupt")

    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(tiny_model_path.read_bytes()[:2000])
    status, _, err = run(evaluate_args(truncated), capsys)
    assert_one_line_error(status, err, str(truncated))


def test_unknown_pretrained_name(tmp_path, tiny_model_path, monkeypatch, capsys):
    (tmp_path / "tiny.keras").write_bytes(tiny_model_path.read_bytes())
    register_pretrained(tmp_path / "tiny.keras", "tiny", directory=tmp_path)
    monkeypatch.setenv(PRETRAINED_DIR_ENV, str(tmp_path))
    status, _, err = run(evaluate_args("nope"), capsys)
    assert_one_line_error(status, err, "'nope'", "tiny")


def test_demo_with_a_registered_network(tmp_path, tiny_model_path, monkeypatch, capsys):
    monkeypatch.setenv(PRETRAINED_DIR_ENV, str(tmp_path))
    (tmp_path / "tiny.keras").write_bytes(tiny_model_path.read_bytes())
    register_pretrained(tmp_path / "tiny.keras", "tiny", directory=tmp_path)
    # the manifest lacks the demo's network: one line naming what there is
    status, _, err = run(["demo", "--n-images", 20], capsys)
    assert_one_line_error(status, err, "fashion_mnist_softlif", "tiny")

    register_pretrained(
        tmp_path / "tiny.keras",
        "fashion_mnist_softlif",
        directory=tmp_path,
        description="a tiny stand-in",
    )
    plot = tmp_path / "demo.png"
    status, out, _ = run(
        ["demo", "--n-images", 20, "--n-steps", 3, "--plot", plot], capsys
    )
    assert status == 0
    assert "a tiny stand-in" in out and "error vs steps" in out
    # the report says what produced it: versions and every setting
    assert f"rateconv {rateconv.__version__}, Keras {keras.__version__}" in out
    assert "'n_steps': 3" in out
    assert plot.read_bytes()[:8] == PNG_MAGIC

    # --model picks another shipped network; an unknown one is a one-line error
    status, out, _ = run(
        ["demo", "--model", "tiny", "--n-images", 20, "--n-steps", 3, "--plot", ""],
        capsys,
    )
    assert status == 0 and "pretrained 'tiny'" in out
    status, _, err = run(["demo", "--model", "nope", "--n-images", 20], capsys)
    assert_one_line_error(status, err, "'nope'", "tiny")


def test_train_writes_model_and_settings(tiny_fashion_mnist, tmp_path, capsys):
    output = tmp_path / "out" / "net.keras"
    status, out, _ = run(
        [
            "train",
            "--data-dir",
            tiny_fashion_mnist,
            "--n-images",
            32,
            "--epochs",
            1,
            "--batch-size",
            16,
            "-o",
            output,
        ],
        capsys,
    )
    assert status == 0
    assert f"wrote {output}" in out
    model = keras.models.load_model(output)
    assert model.output.shape[1:] == (10,)
    info = json.loads(output.with_suffix(".json").read_text())
    assert info["epochs"] == 1 and info["batch_size"] == 16
    assert info["dataset"] == "fashion_mnist" and info["activation"] == "softlif"
    assert 0 <= info["test_error"] <= 1
    assert np.isfinite(info["final_loss"])


def test_train_fine_tunes_spiking_aware_from_a_model(
    tiny_fashion_mnist, tmp_path, capsys
):
    start = tmp_path / "start.keras"
    common = ["--data-dir", tiny_fashion_mnist, "--n-images", 32, "--batch-size", 16]
    assert run(["train", *common, "--epochs", 1, "-o", start], capsys)[0] == 0
    output = tmp_path / "tuned.keras"
    status, out, _ = run(
        [
            "train",
            *common,
            "--epochs",
            1,
            "--init",
            start,
            "--spiking-aware",
            5,
            "--scale-firing-rates",
            6,
            "-o",
            output,
        ],
        capsys,
    )
    assert status == 0 and f"wrote {output}" in out
    before, after = keras.models.load_model(start), keras.models.load_model(output)
    # the saved model is the plain network (no wrappers), with new weights
    assert [type(la) for la in after.layers] == [type(la) for la in before.layers]
    assert not np.array_equal(
        before.get_layer("conv1").get_weights()[0],
        after.get_layer("conv1").get_weights()[0],
    )
    info = json.loads(output.with_suffix(".json").read_text())
    assert info["init"] == str(start) and info["spiking_aware_steps"] == 5
    assert info["scale_firing_rates"] == 6
    status, _, err = run(
        ["train", *common, "--scale-firing-rates", 6, "-o", output], capsys
    )
    assert_one_line_error(status, err, "--scale-firing-rates", "--spiking-aware")


def test_missing_data_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    # nowhere to find Fashion-MNIST, whatever is installed on this machine
    monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(datasets, "DEBIAN_DATA_ROOT", tmp_path / "debian")

    def no_download(name):
        raise OSError("no network in this test")

    monkeypatch.setattr(datasets, "_keras_download", no_download)
    empty = tmp_path / "empty"
    empty.mkdir()
    status, _, err = run(
        ["train", "--data-dir", empty, "-o", tmp_path / "m.keras"], capsys
    )
    # the loader's message lists every place searched; the CLI keeps one line
    assert_one_line_error(status, err, "Fashion-MNIST not found", str(empty))
    assert not (tmp_path / "m.keras").exists()


def test_help_returns_zero(capsys):
    status, out, _ = run(["evaluate", "--help"], capsys)
    assert status == 0
    assert "--n-steps" in out


def test_pretrained_conversion_options_apply_unless_overridden(
    tmp_path, monkeypatch, capsys
):
    path = tmp_path / "tiny.keras"
    tiny_model().save(path)
    register_pretrained(
        path,
        "tiny",
        directory=tmp_path,
        convert={"scale_firing_rates": 3.0, "initial_state": "uniform"},
    )
    monkeypatch.setenv(PRETRAINED_DIR_ENV, str(tmp_path))
    base = ["evaluate", "tiny", "--dataset", "fashion_mnist_sample"]
    base += ["--n-images", "8", "--n-steps", "2", "--json"]
    assert main(base) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["convert"] == {"scale_firing_rates": 3.0, "initial_state": "uniform"}
    assert main(base + ["--scale-firing-rates", "1", "--synapse", "0.01"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["convert"] == {
        "scale_firing_rates": 1.0,
        "initial_state": "uniform",
        "synapse": 0.01,
    }


def test_evaluate_tune_reports_what_it_chose(
    tiny_model_path, tiny_fashion_mnist, capsys
):
    argv = [
        "evaluate",
        tiny_model_path,
        "--dataset",
        "fashion_mnist",
        "--data-dir",
        tiny_fashion_mnist,
        "--n-steps",
        4,
        "--tune",
        "--calibration-images",
        32,
        "--json",
    ]
    status, out, _ = run(argv, capsys)
    assert status == 0
    result = json.loads(out)
    tuning = result["tuning"]
    assert tuning["initial_state"] in ("zero", "half", "uniform")
    assert tuning["readout"] == result["readout"]
    assert tuning["probe_synapse"] == result["probe_synapse"]
    assert set(tuning["scales"]) == {"lif"}
    # an explicit flag is kept, not searched
    status, out, _ = run(
        argv + ["--initial-state", "zero", "--readout", "last"], capsys
    )
    result = json.loads(out)
    assert result["tuning"]["initial_state"] == "zero"
    assert result["readout"] == "last"


def test_version_and_reproducible_json_report(tiny_model_path, capsys):
    status, out, _ = run(["--version"], capsys)
    assert status == 0 and out.strip() == f"rateconv {rateconv.__version__}"
    status, out, _ = run(evaluate_args(tiny_model_path, "--json"), capsys)
    result = json.loads(out)
    assert result["versions"]["rateconv"] == rateconv.__version__
    assert result["versions"]["keras"] == keras.__version__
    assert {"tensorflow", "numpy"} <= set(result["versions"])
    # every setting, defaults included
    settings = result["settings"]
    assert settings["n_steps"] == 5 and settings["precision"] == "float32"
    assert settings["minibatch_size"] is None and settings["tune"] is False
    assert settings["probe_synapse"] == "default" and settings["readout"] == "default"
    assert result["data_dir"] is None
