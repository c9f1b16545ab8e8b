"""Run each script in examples/ as ``__main__`` on a tiny setting."""

import json
import re
import runpy
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import rateconv
from rateconv import datasets
from rateconv.zoo.pretrained import PRETRAINED_DIR_ENV, register_pretrained
from tests.helpers import PNG_MAGIC, tiny_model

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def have_fashion_mnist():
    try:
        datasets.load_fashion_mnist(download=False)
    except (FileNotFoundError, ValueError):
        return False
    return True


def run_example(name, args, monkeypatch, capsys):
    """Run ``examples/<name>`` as a script; ``(exit status, stdout, stderr)``."""
    path = EXAMPLES / name
    monkeypatch.setattr(sys, "argv", [str(path)] + [str(a) for a in args])
    with pytest.raises(SystemExit) as e:
        runpy.run_path(str(path), run_name="__main__")
    out, err = capsys.readouterr()
    return e.value.code, out, err


def percent(pattern, text):
    """The percentage following ``pattern`` in ``text``, as a fraction."""
    match = re.search(pattern + r"\s*([\d.]+)%", text)
    assert match, f"{pattern!r} not found in:\n{text}"
    return float(match.group(1)) / 100


# networks trained briefly or not at all, run a few steps: silent layers expected
@pytest.mark.filterwarnings("ignore::rateconv.ActivityWarning")
def test_spiking_fashion_mnist(tmp_path, monkeypatch, capsys):
    args = ["--dataset", "fashion_mnist_sample", "--n-train", 128, "--n-test", 40]
    args += ["--epochs", 1, "--n-steps", 5, "--output-dir", tmp_path / "out"]
    status, out, _ = run_example("spiking_fashion_mnist.py", args, monkeypatch, capsys)
    assert status == 0
    assert "training on 128 images, testing on 40" in out
    # rate mode reproduces the Keras model
    assert percent("rate-mode error:", out) == percent("Keras model error:", out)
    difference = re.search(r"logit difference\| from Keras ([\d.e+-]+)", out)
    assert float(difference.group(1)) < 1e-4
    # the error after every one of the 5 steps, then the firing rates
    table = out[out.index("spiking error after 5 steps") :]
    rows = re.findall(r"^\s+(\d+)\s+([\d.]+)%$", table, re.MULTILINE)
    assert [int(step) for step, _ in rows] == [1, 2, 3, 5]
    assert all(0 <= float(error) <= 100 for _, error in rows)
    for layer in ("lif1", "lif2", "lif3"):
        assert re.search(rf"^\s+{layer}\s+[\d.]+\s+\(", table, re.MULTILINE)
    for name in ("error_vs_steps.png", "output_probes.png", "firing_rates.png"):
        assert (tmp_path / "out" / name).read_bytes()[:8] == PNG_MAGIC
    model = keras.models.load_model(tmp_path / "out" / "model.keras")
    assert (
        model.count_params() == rateconv.zoo.models.reference_network().count_params()
    )


def test_spiking_fashion_mnist_sample_split_is_checked(monkeypatch, capsys):
    # the sample's 2000 images cannot all be test images when it also trains
    args = ["--dataset", "fashion_mnist_sample", "--n-test", 2000, "--epochs", 1]
    status, out, err = run_example(
        "spiking_fashion_mnist.py", args, monkeypatch, capsys
    )
    assert status == 1 and "--n-test must be below 2000" in err
    assert "training on" not in out
    status, _, err = run_example(
        "spiking_fashion_mnist.py", ["--n-steps", 0], monkeypatch, capsys
    )
    assert status == 2 and "--n-steps must be >= 1" in err


def test_keras_to_snn_defaults_are_the_documented_grid():
    module = runpy.run_path(str(EXAMPLES / "keras_to_snn.py"), run_name="example")
    args = module["build_parser"]().parse_args([])
    assert args.synapses == [None, 0.005, 0.01]
    assert args.scales == [1, 10, 100]
    assert args.probe_synapse is None
    args = module["build_parser"]().parse_args(["--synapses", "none,0.02"])
    assert args.synapses == [None, 0.02]


# networks trained briefly or not at all, run a few steps: silent layers expected
@pytest.mark.filterwarnings("ignore::rateconv.ActivityWarning")
@pytest.mark.skipif(
    not have_fashion_mnist(),
    reason="needs Fashion-MNIST (apt-get install dataset-fashion-mnist; CI has it)",
)
def test_keras_to_snn(monkeypatch, capsys):
    # two of each setting: every configuration compiles a new simulation
    args = ["--dataset", "fashion_mnist", "--n-train", 256, "--n-test", 40]
    args += ["--epochs", 1, "--n-steps", 20, "--synapses", "none,0.01"]
    args += ["--scales", "1,100"]
    status, out, _ = run_example("keras_to_snn.py", args, monkeypatch, capsys)
    assert status == 0
    assert "training on 256 images, testing on 40" in out
    ann = percent(r"ANN \(Keras\) accuracy:", out)
    assert percent("converted, rate mode:", out) == ann
    tuned = re.search(r"one call, tuned on 256 training images:\s+([\d.]+)%", out)
    assert tuned and 0 <= float(tuned.group(1)) <= 100
    accuracy, rates = out.split("mean firing rate over all spiking neurons:")
    assert "after 20 steps" in accuracy
    for table in (accuracy, rates):
        assert re.search(r"synapse \|\s+scale 1\s+scale 100$", table, re.MULTILINE)
        for synapse in ("none", "0.01"):
            assert re.search(rf"^\s+{synapse} \|", table, re.MULTILINE)
    cells = [
        [float(v) for v in re.findall(r"([\d.]+)%", row)]
        for row in accuracy.splitlines()
        if " | " in row and "%" in row
    ]
    assert np.shape(cells) == (2, 2)
    assert all(0 <= c <= 100 for row in cells for c in row)
    hz = [
        [float(v) for v in re.findall(r"([\d.]+) Hz", row)]
        for row in rates.splitlines()
        if " | " in row and "Hz" in row
    ]
    assert np.shape(hz) == (2, 2)
    # scale_firing_rates=k multiplies the spikes of a ReLU network by about k
    assert hz[0][1] > hz[0][0] and hz[0][1] > 0


@pytest.fixture
def registry(tmp_path):
    """A pretrained directory with one tiny network, named "tiny"."""
    model = tiny_model(seed=0)
    model.save(tmp_path / "tiny.keras")
    register_pretrained(
        tmp_path / "tiny.keras",
        "tiny",
        directory=tmp_path,
        description="a tiny test network",
        test_error=0.5,
    )
    return tmp_path, model


def test_pretrained(registry, monkeypatch, capsys):
    directory, model = registry
    monkeypatch.setenv(PRETRAINED_DIR_ENV, str(directory))
    args = ["--name", "tiny", "--n-images", 40, "--n-steps", 5]
    status, out, _ = run_example("pretrained.py", args, monkeypatch, capsys)
    assert status == 0
    assert "pretrained 'tiny': a tiny test network" in out
    assert "manifest test_error: 50.00%" in out
    assert "evaluating on 40 images of fashion_mnist_sample" in out
    x, y = datasets.load_fashion_mnist_sample()
    logits = model.predict(x[:40, ..., None] / 255.0, verbose=0)
    keras_error = np.mean(logits.argmax(axis=1) != y[:40])
    assert percent("rate-mode error:", out) == pytest.approx(keras_error, abs=1e-4)
    rows = re.findall(r"^\s+(\d+) steps\s+([\d.]+)%$", out, re.MULTILINE)
    assert [int(step) for step, _ in rows] == [1, 2, 3, 5]
    assert re.search(r"^\s+lif\s+[\d.]+$", out, re.MULTILINE)


def test_pretrained_reports_a_missing_network(registry, tmp_path, monkeypatch, capsys):
    directory, _ = registry
    args = ["--pretrained-dir", directory, "--n-images", 10]  # the default name
    status, out, err = run_example("pretrained.py", args, monkeypatch, capsys)
    assert status == 1
    assert "Unknown pretrained network 'fashion_mnist_softlif'" in err
    assert "tiny" in err and out == ""

    args = ["--pretrained-dir", tmp_path / "empty", "--name", "tiny"]
    status, _, err = run_example("pretrained.py", args, monkeypatch, capsys)
    assert status == 1 and "No pretrained manifest" in err


# networks trained briefly or not at all, run a few steps: silent layers expected
@pytest.mark.filterwarnings("ignore::rateconv.ActivityWarning")
@pytest.mark.skipif(not have_fashion_mnist(), reason="needs the full Fashion-MNIST")
def test_low_latency_table(tmp_path, monkeypatch, capsys):
    from rateconv.zoo.models import reference_network

    for name, activation in [
        ("softlif", "softlif"),
        ("softlif_aware", "softlif"),
        ("relu", "relu"),
        ("qcfs", "qcfs"),
    ]:
        keras.utils.set_random_seed(0)
        path = tmp_path / f"fashion_mnist_{name}.keras"
        reference_network(activation=activation).save(path)
        register_pretrained(path, f"fashion_mnist_{name}", directory=tmp_path)
    monkeypatch.setenv(PRETRAINED_DIR_ENV, str(tmp_path))
    table = tmp_path / "table.md"
    args = ["--n-images", 20, "--calibration-images", 20, "--steps", 1, 3]
    args += ["--output", table]
    status, out, _ = run_example("low_latency.py", args, monkeypatch, capsys)
    assert status == 0
    rows = [r for r in table.read_text().splitlines() if r.startswith("| ")][1:]
    # every technique of every network, with the rate and two step counts
    assert len(rows) == 9
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        values = [float(c) for c in cells[2:]]
        assert len(values) == 3 and all(0 <= v <= 100 for v in values)


# the workflows users come from (SpikingJelly, snnTorch), in --quick form
needs_fashion_mnist = pytest.mark.skipif(
    not have_fashion_mnist(), reason="needs the full Fashion-MNIST"
)


def run_seed(name, tmp_path, monkeypatch, capsys):
    """Run ``examples/seeds/<name>.py --quick``; its JSON and output directory."""
    out = tmp_path / name
    args = ["--quick", "--output-dir", out]
    status, _, _ = run_example(f"seeds/{name}.py", args, monkeypatch, capsys)
    assert status == 0
    return json.loads((out / f"{name}.json").read_text()), out


@needs_fashion_mnist
def test_seed_spikingjelly_fc(tmp_path, monkeypatch, capsys):
    result, out = run_seed("spikingjelly_fc", tmp_path, monkeypatch, capsys)
    for row in result["rows"].values():
        curve = row["accuracy_by_steps"]
        assert len(curve) == 100 and row["rate_accuracy"] > 0.6
        # spike counts of 100 Poisson steps classify about as the rates do
        assert abs(curve[-1] - row["rate_accuracy"]) < 0.05
        assert curve[-1] > curve[0]
    assert (out / "accuracy_vs_steps.png").read_bytes()[:8] == PNG_MAGIC


@needs_fashion_mnist
def test_seed_snntorch_population(tmp_path, monkeypatch, capsys):
    result, out = run_seed("snntorch_population", tmp_path, monkeypatch, capsys)
    rows = result["rows"]
    assert len(rows) == 4
    for row in rows.values():
        assert len(row["accuracy_by_steps"]) == 10
        assert all(0 <= a <= 1 for a in row["accuracy_by_steps"])
    # at one step the population beats ten output neurons clearly
    one = result["one_step"]
    assert one["population"] > 0.6 and one["population"] > one["ten_outputs"] + 0.05
    assert (out / "accuracy_vs_steps.png").read_bytes()[:8] == PNG_MAGIC


@needs_fashion_mnist
def test_seed_lif_encodings(tmp_path, monkeypatch, capsys):
    result, out = run_seed("lif_encodings", tmp_path, monkeypatch, capsys)
    lif = result["lif_step_input"]
    assert lif["rc_curve_max_error_before_first_spike"] < 1e-5
    assert lif["engines_max_voltage_difference"] < 1e-5
    assert lif["first_spike_step"] == int(
        np.ceil(lif["analytic_first_spike_time_steps"])
    )
    assert abs(lif["mean_rate_hz_after_onset"] - lif["lif_rate_hz"]) < 5
    poisson = result["poisson"]
    assert poisson["correlation"] > 0.95
    assert poisson["mean_abs_error"] < 2 * poisson["expected_mean_abs_error"]
    for s in result["latency_raster"].values():
        assert s["max_spikes_per_pixel"] == 1
        assert s["pixels_firing"] == s["pixels_at_or_above_threshold"]
    table = result["network_784_1000_10"]
    assert table["rate_accuracy"] > 0.6
    curves = table["accuracy_by_steps"]
    assert set(curves) == {"constant", "poisson", "latency", "latency_log"}
    assert curves["constant"][-1] > 0.6 and curves["poisson"][-1] > 0.5
    for name in ("lif_step_input.png", "latency_raster.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC


def _example_scripts():
    return sorted(p for p in EXAMPLES.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize(
    "path", _example_scripts(), ids=lambda p: str(p.relative_to(EXAMPLES))
)
def test_every_example_imports(path):
    """Each script's rateconv imports exist; it loads wherever its peers do.

    Every ``from rateconv... import name`` must name something that exists
    (an example importing a function that moved fails here).  Scripts whose
    other imports are all installed are loaded too (``run_name`` is not
    ``__main__``, so nothing runs); those needing a peer's own environment
    (NengoDL, Norse, TensorFlow 2.12) are checked by their rateconv imports only.
    """
    import ast
    import importlib
    import importlib.util

    tree = ast.parse(path.read_text())
    third_party = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == "rateconv":
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name) or importlib.util.find_spec(
                        f"{node.module}.{alias.name}"
                    ), f"{path.name}:{node.lineno}: {node.module} has no {alias.name}"
            else:
                third_party.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "rateconv":
                    importlib.import_module(alias.name)
                else:
                    third_party.add(alias.name.split(".")[0])
    local = {p.stem for p in path.parent.glob("*.py")} | {"examples", "tests"}
    if all(m in local or importlib.util.find_spec(m) for m in third_party):
        sys.path.insert(0, str(path.parent))
        try:
            runpy.run_path(str(path), run_name="__import_check__")
        finally:
            sys.path.remove(str(path.parent))
