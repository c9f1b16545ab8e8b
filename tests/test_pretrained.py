"""The registry of pretrained networks: manifest, checksum and architecture."""

import json

import keras
import numpy as np
import pytest

import rateconv
from rateconv.zoo import pretrained
from rateconv.zoo.pretrained import (
    MANIFEST,
    PRETRAINED_DIR_ENV,
    available,
    load_pretrained,
    read_manifest,
    register_pretrained,
)


def tiny_model(width=16, functional=False, seed=0):
    """A small soft-LIF classifier of 28x28 images, with random weights."""
    keras.utils.set_random_seed(seed)
    layers = [
        keras.layers.AveragePooling2D(4),
        keras.layers.Flatten(),
        keras.layers.Dense(width, bias_initializer="ones"),
        rateconv.SoftLIF(amplitude=0.01, max_rate=400, intercept=0, name="lif"),
        keras.layers.Dense(10),
    ]
    if not functional:
        return keras.Sequential([keras.Input((28, 28, 1))] + layers)
    x = inp = keras.Input((28, 28, 1))
    for layer in layers:
        x = layer(x)
    return keras.Model(inp, x)


def save(model, path):
    model.save(path)
    return path


def images(n=8, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, 28, 28, 1)).astype("float32")


@pytest.mark.parametrize("functional", [False, True])
def test_round_trip_gives_identical_predictions(tmp_path, functional):
    model = tiny_model(functional=functional)
    path = save(model, tmp_path / "tiny.keras")
    entry = register_pretrained(
        path, "tiny", directory=tmp_path, dataset="fashion_mnist", test_error=0.5
    )
    assert entry["file"] == "tiny.keras"  # relative: the directory can move
    assert entry["sha256"] == pretrained.sha256(path)
    assert entry["n_params"] == model.count_params()
    assert entry["dataset"] == "fashion_mnist" and entry["test_error"] == 0.5
    assert read_manifest(tmp_path)["tiny"] == entry

    loaded = load_pretrained("tiny", directory=tmp_path)
    x = images()
    np.testing.assert_array_equal(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0)
    )


def test_environment_variable_selects_the_directory(tmp_path, monkeypatch):
    save(tiny_model(), tmp_path / "a.keras")
    save(tiny_model(width=8), tmp_path / "b.keras")
    monkeypatch.setenv(PRETRAINED_DIR_ENV, str(tmp_path))
    assert pretrained.pretrained_dir() == tmp_path
    register_pretrained(tmp_path / "b.keras", "b")
    register_pretrained(tmp_path / "a.keras", "a")  # adds, keeps "b"
    assert available() == ["a", "b"]
    assert load_pretrained("b").count_params() == tiny_model(width=8).count_params()


def test_re_registering_updates_the_entry(tmp_path):
    path = save(tiny_model(seed=0), tmp_path / "tiny.keras")
    register_pretrained(path, "tiny", directory=tmp_path, note="first")
    save(tiny_model(seed=1), path)  # retrained: new weights, same architecture
    register_pretrained(path, "tiny", directory=tmp_path, note="second")
    entry = read_manifest(tmp_path)["tiny"]
    assert entry["note"] == "second"
    assert entry["sha256"] == pretrained.sha256(path)
    load_pretrained("tiny", directory=tmp_path)  # the checksum matches


def test_missing_weight_file(tmp_path):
    path = save(tiny_model(), tmp_path / "tiny.keras")
    register_pretrained(path, "tiny", directory=tmp_path)
    path.unlink()
    with pytest.raises(FileNotFoundError, match="are missing") as e:
        load_pretrained("tiny", directory=tmp_path)
    assert str(path) in str(e.value)
    assert "rateconv train" in str(e.value)  # says how to get it back


def test_corrupt_weight_file_is_a_checksum_error(tmp_path):
    path = save(tiny_model(), tmp_path / "tiny.keras")
    register_pretrained(path, "tiny", directory=tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="Checksum mismatch") as e:
        load_pretrained("tiny", directory=tmp_path)
    message = str(e.value)
    assert str(path) in message
    assert "restore" in message


def test_unloadable_file_with_matching_checksum(tmp_path):
    path = save(tiny_model(), tmp_path / "tiny.keras")
    register_pretrained(path, "tiny", directory=tmp_path)
    path.write_bytes(b"not a keras archive")
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    manifest["models"]["tiny"]["sha256"] = pretrained.sha256(path)
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="Could not load") as e:
        load_pretrained("tiny", directory=tmp_path)
    assert str(path) in str(e.value)


def test_wrong_architecture(tmp_path):
    path = save(tiny_model(width=16), tmp_path / "tiny.keras")
    register_pretrained(path, "tiny", directory=tmp_path)
    # another network saved in its place, with the manifest's checksum updated
    # (as if by hand) but not its architecture
    save(tiny_model(width=8), path)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    manifest["models"]["tiny"]["sha256"] = pretrained.sha256(path)
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="architecture") as e:
        load_pretrained("tiny", directory=tmp_path)
    assert "'tiny'" in str(e.value)


def test_unknown_name_lists_available_names(tmp_path):
    path = save(tiny_model(), tmp_path / "tiny.keras")
    register_pretrained(path, "tiny", directory=tmp_path)
    register_pretrained(path, "other", directory=tmp_path)
    with pytest.raises(ValueError, match="Unknown pretrained network 'nope'") as e:
        load_pretrained("nope", directory=tmp_path)
    assert "['other', 'tiny']" in str(e.value)


def test_missing_manifest_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match=PRETRAINED_DIR_ENV) as e:
        load_pretrained("tiny", directory=tmp_path)
    assert str(tmp_path / MANIFEST) in str(e.value)


@pytest.mark.parametrize(
    "text, match",
    [
        ('{"models": {"tiny": ', "not valid JSON"),
        ("\xff\xfe", "not valid JSON"),
        ('["tiny"]', "no 'models' table"),
        ('{"models": []}', "no 'models' table"),
    ],
)
def test_corrupt_manifest(tmp_path, text, match):
    (tmp_path / MANIFEST).write_bytes(text.encode("latin-1"))
    with pytest.raises(ValueError, match=match) as e:
        read_manifest(tmp_path)
    assert str(tmp_path / MANIFEST) in str(e.value)
    with pytest.raises(ValueError, match=match):
        load_pretrained("tiny", directory=tmp_path)


def test_register_refuses_to_overwrite_a_corrupt_manifest(tmp_path):
    path = save(tiny_model(), tmp_path / "tiny.keras")
    (tmp_path / MANIFEST).write_text('{"models": {"precious": ')
    with pytest.raises(ValueError, match="not valid JSON"):
        register_pretrained(path, "tiny", directory=tmp_path)
    assert (tmp_path / MANIFEST).read_text() == '{"models": {"precious": '


def test_incomplete_entry(tmp_path):
    (tmp_path / MANIFEST).write_text(json.dumps({"models": {"tiny": {"file": "x"}}}))
    with pytest.raises(ValueError, match="no 'file' and 'sha256'"):
        load_pretrained("tiny", directory=tmp_path)


def test_register_checks_its_arguments(tmp_path):
    path = save(tiny_model(), tmp_path / "tiny.keras")
    with pytest.raises(ValueError, match="sha256"):
        register_pretrained(path, "tiny", directory=tmp_path, sha256="0" * 64)
    with pytest.raises(FileNotFoundError, match="missing.keras"):
        register_pretrained(tmp_path / "missing.keras", "tiny", directory=tmp_path)
    inside = tmp_path / "registry"
    inside.mkdir()
    with pytest.raises(ValueError, match="not inside"):
        register_pretrained(path, "tiny", directory=inside)
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="Could not load"):
        register_pretrained(bad, "tiny", directory=tmp_path)
    assert not (tmp_path / MANIFEST).exists()  # nothing half-registered
