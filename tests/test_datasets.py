"""Tests for rateconv.datasets: IDX reading, dataset search order, shipped sample."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from rateconv import datasets

STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CODES = {
    np.dtype("u1"): 0x08,
    np.dtype("i1"): 0x09,
    np.dtype("i2"): 0x0B,
    np.dtype("i4"): 0x0C,
    np.dtype("f4"): 0x0D,
    np.dtype("f8"): 0x0E,
}


def idx_bytes(array):
    """Encode `array` as IDX: magic, big-endian uint32 dims, big-endian data."""
    header = bytes([0, 0, CODES[array.dtype], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_file(path, payload, gz):
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


def write_set(directory, n_train=3, n_test=2, gz=True, label=0):
    """Write a tiny MNIST-style set; every label equals `label` to tell sets apart."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(n_train)
    arrays = (
        rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        np.full(n_train, label, np.uint8),
        rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        np.full(n_test, label, np.uint8),
    )
    for stem, array in zip(STEMS, arrays):
        write_file(directory / (stem + (".gz" if gz else "")), idx_bytes(array), gz)
    return arrays


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Point home, Keras cache, env var and Debian root at empty temp dirs."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(datasets, "DEBIAN_DATA_ROOT", tmp_path / "debian")

    def no_download(name):
        raise AssertionError("tests must not download")

    monkeypatch.setattr(datasets, "_keras_download", no_download)
    return tmp_path


# --- read_idx ---------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("dtype", list(CODES))
def test_read_idx_round_trip(tmp_path, gz, dtype):
    array = (np.arange(24) - 7).astype(dtype).reshape(2, 3, 4)
    path = write_file(tmp_path / "a.idx", idx_bytes(array), gz)
    out = datasets.read_idx(path)
    assert out.dtype == dtype and out.dtype.isnative
    np.testing.assert_array_equal(out, array)
    out[0, 0, 0] = 1  # the result must be writable


def test_read_idx_detects_gzip_by_content(tmp_path):
    array = np.arange(5, dtype=np.uint8)
    raw_named_gz = write_file(tmp_path / "raw.gz", idx_bytes(array), gz=False)
    gz_named_raw = write_file(tmp_path / "packed-ubyte", idx_bytes(array), gz=True)
    np.testing.assert_array_equal(datasets.read_idx(raw_named_gz), array)
    np.testing.assert_array_equal(datasets.read_idx(str(gz_named_raw)), array)


def _corrupt(kind):
    good = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))
    return {
        "bad magic": b"\x01\x00" + good[2:],
        "dtype code": good[:2] + b"\x07" + good[3:],
        "zero dims": good[:3] + b"\x00" + good[4:],
        "five dims": good[:3] + b"\x05" + good[4:],
        "short header": good[:6],
        "too short": b"\x00\x00",
        "truncated": good[:-1],
        "extra bytes": good + b"\x00",
    }[kind]


@pytest.mark.parametrize(
    "kind, message",
    [
        ("bad magic", "two zero bytes"),
        ("dtype code", "0x07"),
        ("zero dims", "1 to 4"),
        ("five dims", "1 to 4"),
        ("short header", "header"),
        ("too short", "magic number"),
        ("truncated", "expected 12 bytes of data after the header, found 11"),
        ("extra bytes", "expected 12 bytes of data after the header, found 13"),
    ],
)
@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_rejects_corrupt_files(tmp_path, kind, message, gz):
    path = write_file(tmp_path / f"bad-{gz}", _corrupt(kind), gz)
    with pytest.raises(ValueError, match=message) as info:
        datasets.read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_truncated_gzip(tmp_path):
    packed = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32)))
    path = tmp_path / "cut.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(ValueError, match="gzip") as info:
        datasets.read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_bad_gzip_crc(tmp_path):
    packed = bytearray(gzip.compress(idx_bytes(np.arange(10, dtype=np.uint8))))
    packed[-8] ^= 0xFF  # the CRC32 sits in the 8-byte trailer
    path = tmp_path / "crc.gz"
    path.write_bytes(bytes(packed))
    with pytest.raises(ValueError, match="gzip") as info:
        datasets.read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_errors_for_missing_file_and_wrong_type(tmp_path):
    with pytest.raises(FileNotFoundError):
        datasets.read_idx(tmp_path / "absent")
    with pytest.raises(TypeError, match="path must be a str"):
        datasets.read_idx(3)


# --- loaders ----------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_load_round_trip_from_path(isolated, gz):
    arrays = write_set(isolated / "data", gz=gz)
    (x_train, y_train), (x_test, y_test) = datasets.load_fashion_mnist(
        isolated / "data", download=False
    )
    for got, want in zip((x_train, y_train, x_test, y_test), arrays):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)


def test_search_order(isolated, monkeypatch):
    # Each place holds a set whose labels say which place it is.
    places = [isolated / "arg", isolated / "env", isolated / "home", None]
    write_set(places[0], label=1)
    write_set(places[1] / "fashion-mnist", label=2)
    write_set(isolated / "home" / ".keras" / "datasets" / "fashion-mnist", label=3)
    write_set(isolated / "debian" / "fashion-mnist", label=4)
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(places[1]))

    def winner(path=None):
        _, (_, y_test) = datasets.load_fashion_mnist(path, download=False)
        return int(y_test[0])

    assert winner(places[0]) == 1
    assert winner() == 2
    monkeypatch.delenv(datasets.DATA_DIR_ENV)
    assert winner() == 3
    monkeypatch.setenv("HOME", str(isolated / "nobody"))
    assert winner() == 4


def test_env_dir_itself_and_uncompressed_names(isolated, monkeypatch):
    write_set(isolated / "flat", gz=False, label=5)
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(isolated / "flat"))
    _, (_, y_test) = datasets.load_mnist(download=False)
    assert y_test[0] == 5


def test_mnist_keras_npz_in_home(isolated):
    cache = isolated / "home" / ".keras" / "datasets"
    cache.mkdir(parents=True)
    x = np.zeros((4, 28, 28), np.uint8)
    y = np.arange(4, dtype=np.uint8)
    np.savez(cache / "mnist.npz", x_train=x, y_train=y, x_test=x[:2], y_test=y[:2])
    (x_train, y_train), (x_test, y_test) = datasets.load_mnist(download=False)
    assert x_train.shape == (4, 28, 28) and x_test.shape == (2, 28, 28)
    np.testing.assert_array_equal(y_test, y[:2])
    np.testing.assert_array_equal(y_train, y)


def test_corrupt_mnist_npz_names_file(isolated):
    (isolated / "d").mkdir()
    (isolated / "d" / "mnist.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="mnist.npz"):
        datasets.load_mnist(isolated / "d", download=False)


def test_length_mismatch_names_files(isolated):
    write_set(isolated / "d")
    labels = isolated / "d" / "t10k-labels-idx1-ubyte.gz"
    write_file(labels, idx_bytes(np.zeros(5, np.uint8)), gz=True)
    with pytest.raises(ValueError, match="2 images but 5 labels") as info:
        datasets.load_fashion_mnist(isolated / "d", download=False)
    assert str(labels) in str(info.value)


def test_labels_out_of_range(isolated):
    write_set(isolated / "d", label=10)
    with pytest.raises(ValueError, match="0..9, found 10") as info:
        datasets.load_fashion_mnist(isolated / "d", download=False)
    assert "train-labels-idx1-ubyte.gz" in str(info.value)


def test_wrong_image_shape(isolated):
    write_set(isolated / "d")
    images = isolated / "d" / "train-images-idx3-ubyte.gz"
    write_file(images, idx_bytes(np.zeros((3, 27, 28), np.uint8)), gz=True)
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)") as info:
        datasets.load_fashion_mnist(isolated / "d", download=False)
    assert str(images) in str(info.value)


def test_nothing_found_lists_places(isolated, monkeypatch):
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(isolated / "envdir"))
    (isolated / "partial").mkdir()
    write_file(isolated / "partial" / (STEMS[0] + ".gz"), b"", gz=False)
    with pytest.raises(FileNotFoundError) as info:
        datasets.load_fashion_mnist(isolated / "partial", download=False)
    message = str(info.value)
    for place in (
        isolated / "partial",
        isolated / "envdir" / "fashion-mnist",
        isolated / "envdir",
        isolated / "home" / ".keras" / "datasets" / "fashion-mnist",
        isolated / "debian" / "fashion-mnist",
    ):
        assert str(place) in message
    assert "incomplete, missing train-labels-idx1-ubyte" in message
    assert "download=False" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert datasets.DATA_DIR_ENV in message and "path=" in message


def test_failed_download_becomes_file_not_found(isolated, monkeypatch):
    def offline(name):
        raise OSError("no network")

    monkeypatch.setattr(datasets, "_keras_download", offline)
    with pytest.raises(FileNotFoundError, match="Keras download: failed.*no network"):
        datasets.load_mnist()


def test_download_used_as_last_resort(isolated, monkeypatch):
    x = np.zeros((2, 28, 28), np.uint8)
    y = np.array([3, 4], np.uint8)
    calls = []

    def fake(name):
        calls.append(name)
        return (x, y), (x, y)

    monkeypatch.setattr(datasets, "_keras_download", fake)
    (_, y_train), _ = datasets.load_fashion_mnist()
    assert calls == ["fashion_mnist"]
    np.testing.assert_array_equal(y_train, y)


def test_path_must_be_a_directory(isolated):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        datasets.load_fashion_mnist(isolated / "missing", download=False)


# --- load_dataset and the shipped sample --------------------------------------


def test_load_dataset_dispatch(isolated):
    write_set(isolated / "d", label=7)
    for name in ("fashion_mnist", "fashion-mnist", "mnist", "MNIST"):
        _, (_, y_test) = datasets.load_dataset(
            name, path=isolated / "d", download=False
        )
        assert y_test[0] == 7
    (x_train, y_train), (x, y) = datasets.load_dataset("fashion_mnist_sample")
    assert x_train is None and y_train is None
    assert x.shape == (2000, 28, 28) and y.shape == (2000,)


def test_load_dataset_unknown_name():
    with pytest.raises(ValueError, match="fashion_mnist, mnist, fashion_mnist_sample"):
        datasets.load_dataset("cifar10")
    with pytest.raises(TypeError, match="name must be a str"):
        datasets.load_dataset(None)


def test_shipped_sample():
    x, y = datasets.load_fashion_mnist_sample()
    assert x.shape == (2000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (2000,) and y.dtype == np.uint8
    assert set(np.unique(y)) == set(range(10))
    assert len(datasets.FASHION_MNIST_CLASSES) == 10
    sample = Path(datasets.__file__).parent / "data" / datasets.SAMPLE_FILE
    assert sample.stat().st_size < 1_200_000


def test_missing_sample_says_how_to_fix(monkeypatch):
    monkeypatch.setattr(datasets, "SAMPLE_FILE", "absent.npz")
    with pytest.raises(FileNotFoundError, match="absent.npz.*make_test_sample"):
        datasets.load_fashion_mnist_sample()


def test_make_test_sample(isolated):
    _, _, x_test, y_test = write_set(isolated / "d", n_test=4, label=2)
    out = datasets.make_test_sample(3, isolated / "s.npz", path=isolated / "d")
    with np.load(out) as npz:
        np.testing.assert_array_equal(npz["x"], x_test[:3])
        np.testing.assert_array_equal(npz["y"], y_test[:3])
    with pytest.raises(
        ValueError, match=r"n must be a number in \[1, 4\]. Received: n=5"
    ):
        datasets.make_test_sample(5, isolated / "s.npz", path=isolated / "d")


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="Debian package dataset-fashion-mnist not installed",
)
def test_real_debian_fashion_mnist(monkeypatch):
    monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)
    (x_train, y_train), (x_test, y_test) = datasets.load_fashion_mnist(
        "/usr/share/datasets/fashion-mnist", download=False
    )
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    sample_x, sample_y = datasets.load_fashion_mnist_sample()
    np.testing.assert_array_equal(sample_x, x_test[:2000])
    np.testing.assert_array_equal(sample_y, y_test[:2000])
