"""``rateconv evaluate --data``: the user's arrays, fed as stored, and the
errors when they do not fit the model; built-in sets' pixel preparation."""

import json

import keras
import numpy as np
import pytest

import rateconv
from rateconv import datasets
from rateconv.cli import _data, main
from tests.helpers import PNG_MAGIC, tiny_model


def run(argv, capsys):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def assert_error(status, err, *fragments):
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def sample():
    x, y = datasets.load_fashion_mnist_sample()
    return x[:40], y[:40]


@pytest.fixture
def npz(tmp_path, sample):
    x, y = sample
    path = tmp_path / "mine.npz"
    np.savez(path, x=x[..., None] / 255.0, y=y)
    return path


def evaluate(model, *extra):
    return ["evaluate", model, "--n-steps", 3, *extra]


def test_npz_is_fed_as_stored(tiny_model_path, npz, sample, capsys):
    status, out, _ = run(evaluate(tiny_model_path, "--data", npz, "--json"), capsys)
    assert status == 0
    result = json.loads(out)
    data = result["data"]
    assert data["source"].startswith(str(npz)) and data["n_used"] == 40
    assert data["selection"] == "all 40 samples"
    assert "as stored" in data["preparation"]
    assert result["dataset"] is None
    # rate mode is the Keras model on exactly these arrays
    x, y = sample
    keras_pred = keras.models.load_model(tiny_model_path).predict(
        x[..., None] / 255.0, verbose=0
    )
    assert result["rate_error"] == pytest.approx(np.mean(keras_pred.argmax(1) != y))


def test_npy_pair_and_text_report(tiny_model_path, tmp_path, sample, capsys):
    x, y = sample
    np.save(tmp_path / "x.npy", x[..., None] / 255.0)
    np.save(tmp_path / "y.npy", y)
    argv = evaluate(tiny_model_path, "--data", tmp_path / "x.npy")
    status, _, err = run(argv, capsys)
    assert_error(status, err, "--labels")
    status, out, _ = run([*argv, "--labels", tmp_path / "y.npy"], capsys)
    assert status == 0
    assert f"data: {tmp_path / 'x.npy'}, {tmp_path / 'y.npy'}, all 40 samples" in out


def test_rescaling_model_gets_raw_pixels(tmp_path, sample, capsys):
    # the case: a model that rescales itself must not see /255 twice
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ]
    )
    path = tmp_path / "rescaling.keras"
    model.save(path)
    argv = evaluate(path, "--dataset", "fashion_mnist_sample", "--n-images", 40)
    status, out, _ = run([*argv, "--json"], capsys)
    result = json.loads(out)
    assert "0..255" in result["data"]["preparation"]
    x, y = sample
    pred = model.predict(x[..., None].astype("float32"), verbose=0).argmax(1)
    assert result["rate_error"] == pytest.approx(np.mean(pred != y))
    # --pixels unit is the explicit other choice, and says so
    status, out, _ = run([*argv, "--json", "--pixels", "unit"], capsys)
    assert "/ 255" in json.loads(out)["data"]["preparation"]


@pytest.mark.parametrize(
    "arrays, fragments",
    [
        ({"images": 1, "labels": 1}, ["no array named 'x', 'y'", "images, labels"]),
        ({"x": "flat", "y": 1}, ["(n, 28, 28, 1)", "(40, 28, 28)", "x[..., None]"]),
        ({"x": 1, "y": "ten"}, ["labels go up to 10", "10 outputs"]),
        ({"x": 1, "y": "negative"}, ["labels must be class indices >= 0"]),
        ({"x": 1, "y": "short"}, ["40 inputs but 39 labels"]),
        ({"x": "nan", "y": 1}, ["NaN or infinite", "(0, 3, 4, 0)"]),
        ({"x": 1, "y": "fraction"}, ["integer class indices", "0.5"]),
    ],
)
def test_data_that_does_not_fit(
    tiny_model_path, tmp_path, sample, capsys, arrays, fragments
):
    x, y = sample
    values = {
        1: None,
        "flat": x / 255.0,
        "ten": np.where(np.arange(40) == 3, 10, y),
        "negative": y.astype(int) - 1,
        "short": y[:-1],
        "fraction": np.full(40, 0.5),
    }
    good = {"x": x[..., None] / 255.0, "y": y}
    save = {}
    for key, kind in arrays.items():
        if kind == "nan":
            bad = good["x"].copy()
            bad[0, 3, 4, 0] = np.nan
            save[key] = bad
        else:
            save[key] = good.get(key, y) if values.get(kind) is None else values[kind]
    path = tmp_path / "bad.npz"
    np.savez(path, **save)
    status, _, err = run(evaluate(tiny_model_path, "--data", path), capsys)
    assert_error(status, err, *fragments)


def test_class_count_mismatch(tmp_path, npz, capsys):
    # a 5-output model against 10-class labels
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(5)]
    )
    path = tmp_path / "five.keras"
    model.save(path)
    status, _, err = run(evaluate(path, "--data", npz), capsys)
    assert_error(status, err, "labels go up to 9 (10 classes)", "5 outputs")


def test_wrong_combinations(tiny_model_path, npz, capsys):
    for extra, fragment in [
        (["--dataset", "mnist"], "--data or --dataset"),
        (["--pixels", "unit"], "--pixels"),
        (["--tune"], "--calibration-data"),
    ]:
        status, _, err = run(evaluate(tiny_model_path, "--data", npz, *extra), capsys)
        assert_error(status, err, fragment)


def test_data_keys_and_calibration_data(tiny_model_path, tmp_path, sample, capsys):
    x, y = sample
    path = tmp_path / "keras_style.npz"
    np.savez(path, x_test=x[..., None] / 255.0, y_test=y)
    cal = tmp_path / "train.npz"
    np.savez(cal, x=x[::-1, ..., None] / 255.0)
    argv = evaluate(tiny_model_path, "--data", path, "--data-keys", "x_test,y_test")
    argv += ["--tune", "--calibration-data", cal, "--calibration-images", 16]
    status, out, _ = run([*argv, "--json"], capsys)
    assert status == 0
    assert json.loads(out)["tuning"]["scales"].keys() == {"lif"}


def test_large_sets_default_to_a_seeded_subset():
    x = np.arange(5000, dtype=float)[:, None]
    y = np.arange(5000) % 3
    xs, ys, selection = _data.select(x, y, None)
    assert len(xs) == _data.DEFAULT_MAX_SAMPLES and "random 1000 of 5000" in selection
    assert np.all(np.diff(xs[:, 0]) > 0)  # the file's order is kept
    again, _, _ = _data.select(x, y, None)
    np.testing.assert_array_equal(xs, again)  # seeded
    assert len(_data.select(x, y, "all")[0]) == 5000
    first, _, selection = _data.select(x, y, 10)
    np.testing.assert_array_equal(first[:, 0], np.arange(10))
    assert selection == "the first 10 of 5000 samples"


def test_subset_report_and_plot_dir(tmp_path, sample, capsys):
    x, y = sample
    path = tmp_path / "big.npz"
    n = _data.DEFAULT_MAX_SAMPLES + 200
    np.savez(path, x=np.resize(x[..., None] / 255.0, (n, 28, 28, 1)), y=np.resize(y, n))
    model = tmp_path / "tiny.keras"
    tiny_model().save(model)
    plots = tmp_path / "figs"
    status, out, _ = run(
        ["evaluate", model, "--data", path, "--n-steps", 4, "--plot-dir", plots], capsys
    )
    assert status == 0
    assert f"a random 1000 of {n} samples" in out
    assert f"all {n} samples would take about" in out
    for name in ("error_vs_steps", "spike_raster", "firing_rates", "output_probes"):
        figure = plots / f"{name}.png"
        assert figure.read_bytes()[:8] == PNG_MAGIC
        assert f"wrote {figure}" in out


def test_unknown_custom_class_is_a_pointer(tmp_path, capsys):
    # deliberately not registered, and local so that no Keras version finds it
    # by importing its module (Keras 3.3 does that for a module-level class)
    class Doubler(keras.layers.Layer):
        def call(self, x):
            return 2 * x

    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            Doubler(),
            keras.layers.Dense(10),
        ]
    )
    path = tmp_path / "custom.keras"
    model.save(path)
    status, _, err = run(["evaluate", path, "--data", path], capsys)
    assert_error(status, err, "custom class 'Doubler'", "import the module")
    assert len(err) < 400  # not Keras' config dump


def test_explain_load_error_names_rateconv_layers():
    from rateconv.zoo.pretrained import explain_load_error

    error = TypeError("... Could not locate class 'SoftLIF'. Make sure ...")
    assert "`import rateconv` before keras.models.load_model" in explain_load_error(
        error
    )
    assert explain_load_error(ValueError("file is truncated")) == ""


@pytest.mark.parametrize("synapse", [0.005, rateconv.Alpha(0.004)])
def test_raster_counts_undo_the_connection_synapse(synapse):
    # probe_layers returns a layer's output after its synapse; the raster's
    # counts must be the spikes themselves, the same as without a synapse
    from rateconv.metrics import spike_counts

    x = np.random.default_rng(0).uniform(size=(3, 28, 28, 1)).astype("float32")
    counts = []
    for syn in (None, synapse):
        net = rateconv.convert(
            tiny_model(), synapse=syn, scale_firing_rates=3, reset="subtract"
        )
        sim = rateconv.Simulator(net, warn_activity=False)
        _, layers = sim.predict(x, n_steps=12, probe_layers=["lif"])
        counts.append(spike_counts(net, layers, sim.dt)["lif"])
    assert counts[0].sum() > 0
    np.testing.assert_array_equal(counts[0], counts[1])
