"""Load MNIST and Fashion-MNIST from local files, without needing the internet.

The loaders return the same arrays as ``keras.datasets``: ``(x_train, y_train),
(x_test, y_test)`` with images ``uint8`` of shape ``(N, 28, 28)`` (pixel values
0..255) and labels ``uint8`` of shape ``(N,)`` (class indices 0..9). They look in
local directories first (see :func:`load_fashion_mnist` for the order) and only
then, if allowed, let Keras download the data. A 2000-image slice of the
Fashion-MNIST test set ships with the package so demos run with no dataset
installed (:func:`load_fashion_mnist_sample`).
"""

from __future__ import annotations

import gzip
import io
import math
import os
import struct
import zlib
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rateconv._checks import check_range, check_type

__all__ = [
    "DATA_DIR_ENV",
    "DEBIAN_DATA_ROOT",
    "FASHION_MNIST_CLASSES",
    "SAMPLE_FILE",
    "load_dataset",
    "load_fashion_mnist",
    "load_fashion_mnist_sample",
    "load_mnist",
    "make_test_sample",
    "read_idx",
]

#: Environment variable naming a directory that holds the dataset files.
DATA_DIR_ENV = "RATECONV_DATA_DIR"
#: Where Debian's ``dataset-*`` packages install data (``<root>/fashion-mnist``).
DEBIAN_DATA_ROOT = Path("/usr/share/datasets")
#: Class names of Fashion-MNIST, indexed by label 0..9.
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
#: File name of the shipped test-set sample inside ``rateconv/data``.
SAMPLE_FILE = "fashion_mnist_test_sample.npz"

_GZIP_MAGIC = b"\x1f\x8b"
# IDX stores multi-byte values big-endian, whatever the machine that wrote them.
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
# The same four names are used by MNIST and Fashion-MNIST.
_IDX_STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


class _Spec(NamedTuple):
    title: str  # human-readable name used in messages
    subdir: str  # directory name under RATECONV_DATA_DIR, Keras cache and Debian
    keras_npz: str | None  # Keras caches MNIST as one .npz instead of IDX files
    apt_package: str | None


_SPECS = {
    "fashion_mnist": _Spec(
        "Fashion-MNIST", "fashion-mnist", None, "dataset-fashion-mnist"
    ),
    "mnist": _Spec("MNIST", "mnist", "mnist.npz", None),
}


def read_idx(path):
    """Read an IDX file (gzip-compressed or raw) into a numpy array.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Gzip compression is detected from the content, not the name.

    Returns
    -------
    numpy.ndarray
        Array of the shape stored in the header (1 to 4 dimensions) in native byte
        order: ``uint8``, ``int8``, ``int16``, ``int32``, ``float32`` or ``float64``.

    Raises
    ------
    TypeError
        If `path` is not a string or path-like.
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not valid IDX, or is truncated or corrupt.
    """
    path = _as_path(path, "path")
    data = path.read_bytes()
    fix = "the file is truncated or corrupt; delete it and fetch it again"
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(
                f"{path}: cannot decompress gzip data ({exc}); {fix}"
            ) from exc
    if len(data) < 4:
        raise ValueError(
            f"{path}: expected a 4-byte IDX magic number, found only {len(data)} "
            f"bytes; {fix}"
        )
    zero0, zero1, code, ndim = data[:4]
    if zero0 or zero1:
        raise ValueError(
            f"{path}: not an IDX file: the magic number must start with two zero "
            f"bytes, found 0x{data[:4].hex()}; pass an IDX file (*-ubyte or *-ubyte.gz)"
        )
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise ValueError(
            f"{path}: unknown IDX data type code 0x{code:02X}, expected one of "
            f"{known}; {fix}"
        )
    if not 1 <= ndim <= 4:
        raise ValueError(
            f"{path}: IDX header declares {ndim} dimensions, expected 1 to 4; {fix}"
        )
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(
            f"{path}: expected a {header_len}-byte IDX header, found only "
            f"{len(data)} bytes; {fix}"
        )
    dims = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = _IDX_DTYPES[code]
    expected = math.prod(dims) * dtype.itemsize
    found = len(data) - header_len
    if found != expected:
        raise ValueError(
            f"{path}: header declares shape {dims} of {dtype.name}, so expected "
            f"{expected} bytes of data after the header, found {found}; {fix}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(dims)
    # astype copies, so the result is writable and no longer pins the raw bytes.
    return array.astype(dtype.newbyteorder("="))


def load_fashion_mnist(path=None, *, download=True):
    """Load Fashion-MNIST like ``keras.datasets.fashion_mnist.load_data()``.

    Directories are searched in this order, and in each the four IDX files
    (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each with or without
    ``.gz``) are looked for:

    1. `path`;
    2. ``$RATECONV_DATA_DIR/fashion-mnist``, then ``$RATECONV_DATA_DIR``;
    3. Keras' cache ``~/.keras/datasets/fashion-mnist`` (``$KERAS_HOME`` if set);
    4. ``/usr/share/datasets/fashion-mnist`` (Debian package
       ``dataset-fashion-mnist``).

    Parameters
    ----------
    path : str or os.PathLike, optional
        A directory holding the four files.
    download : bool, default True
        If nothing is found locally, let Keras download the data (needs internet).

    Returns
    -------
    (x_train, y_train), (x_test, y_test) : tuple of numpy.ndarray
        Images ``uint8`` ``(60000, 28, 28)`` / ``(10000, 28, 28)``, pixel values
        0..255; labels ``uint8`` ``(60000,)`` / ``(10000,)``, values 0..9 (see
        :data:`FASHION_MNIST_CLASSES`).

    Raises
    ------
    FileNotFoundError
        If the data is found nowhere; the message lists the places searched.
    ValueError
        If a file found is corrupt or holds arrays of the wrong shape or range.
    """
    return _load("fashion_mnist", path, download)


def load_mnist(path=None, *, download=True):
    """Load MNIST like ``keras.datasets.mnist.load_data()``.

    The search order is that of :func:`load_fashion_mnist` with ``mnist`` for
    ``fashion-mnist``; besides the four IDX files, each directory may hold Keras'
    ``mnist.npz`` (keys ``x_train``, ``y_train``, ``x_test``, ``y_test``), and the
    Keras cache searched is ``~/.keras/datasets`` itself.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A directory holding the IDX files or ``mnist.npz``.
    download : bool, default True
        If nothing is found locally, let Keras download the data (needs internet).

    Returns
    -------
    (x_train, y_train), (x_test, y_test) : tuple of numpy.ndarray
        As in :func:`load_fashion_mnist`, with digits 0..9 as labels.

    Raises
    ------
    FileNotFoundError
        If the data is found nowhere; the message lists the places searched.
    ValueError
        If a file found is corrupt or holds arrays of the wrong shape or range.
    """
    return _load("mnist", path, download)


def load_fashion_mnist_sample():
    """Load the first 2000 Fashion-MNIST test images shipped with the package.

    Returns
    -------
    x : numpy.ndarray
        Images, ``uint8`` of shape ``(2000, 28, 28)``, pixel values 0..255.
    y : numpy.ndarray
        Labels, ``uint8`` of shape ``(2000,)``, values 0..9.

    Raises
    ------
    FileNotFoundError
        If the sample file is missing from the installation.
    ValueError
        If the sample file is corrupt.
    """
    resource = resources.files("rateconv").joinpath("data", SAMPLE_FILE)
    if not resource.is_file():
        raise FileNotFoundError(
            f"the Fashion-MNIST sample {resource} is missing from the rateconv "
            "installation; reinstall rateconv, or recreate it with "
            "rateconv.datasets.make_test_sample()"
        )
    x, y = _read_npz(io.BytesIO(resource.read_bytes()), str(resource), ("x", "y"))
    _check_split(x, y, str(resource))
    return x, y


def make_test_sample(n=2000, out_path=None, *, path=None):
    """Write the first `n` Fashion-MNIST test images and labels to an ``.npz``.

    This is how the shipped sample was made, from the Debian
    ``dataset-fashion-mnist`` files.

    Parameters
    ----------
    n : int, default 2000
        Number of test images to keep, 1..10000.
    out_path : str or os.PathLike, optional
        Output file; by default the package's ``data/`` directory.
    path : str or os.PathLike, optional
        Where to find Fashion-MNIST, as in :func:`load_fashion_mnist` (no download).

    Returns
    -------
    pathlib.Path
        The file written, holding ``x`` (``uint8`` ``(n, 28, 28)``) and ``y``
        (``uint8`` ``(n,)``), saved with ``numpy.savez_compressed``.
    """
    check_type("n", n, (int, np.integer), "an int")
    _, (x_test, y_test) = load_fashion_mnist(path, download=False)
    check_range("n", n, 1, len(x_test))
    if out_path is None:
        out_path = Path(__file__).resolve().parent / "data" / SAMPLE_FILE
    out_path = _as_path(out_path, "out_path")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_path, x=x_test[:n], y=y_test[:n])
    return out_path


def load_dataset(name, *, path=None, download=True):
    """Load a dataset by name.

    Parameters
    ----------
    name : str
        ``"fashion_mnist"`` (or ``"fashion-mnist"``), ``"mnist"``, or
        ``"fashion_mnist_sample"`` (the shipped 2000-image test sample).
    path, download
        As in :func:`load_fashion_mnist`; ignored for the sample.

    Returns
    -------
    (x_train, y_train), (x_test, y_test) : tuple
        As in :func:`load_fashion_mnist`; for the sample the training pair is
        ``(None, None)``.
    """
    known = ("fashion_mnist", "mnist", "fashion_mnist_sample")
    check_type("name", name, str, "a str")
    key = name.strip().lower().replace("-", "_")
    if key == "fashion_mnist_sample":
        return (None, None), load_fashion_mnist_sample()
    if key in _SPECS:
        return _load(key, path, download)
    raise ValueError(
        f"name must be a known dataset, one of {', '.join(known)} (case and '-' "
        f"ignored). Received: name={name!r}"
    )


def _candidate_dirs(name, path):
    """Return ``[(directory, description), ...]`` to search, in order."""
    spec = _SPECS[name]
    dirs = []
    if path is not None:
        path = _as_path(path, "path")
        if not path.is_dir():
            raise FileNotFoundError(
                f"path={str(path)!r} is not a directory; pass the directory "
                f"holding the {spec.title} files"
            )
        dirs.append((path, "path argument"))
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        # The subdirectory first: MNIST and Fashion-MNIST share file names, so
        # files directly in the root are the less specific match.
        dirs.append((Path(env) / spec.subdir, f"${DATA_DIR_ENV}/{spec.subdir}"))
        dirs.append((Path(env), f"${DATA_DIR_ENV}"))
    keras_home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    keras_dir = keras_home / "datasets"
    if spec.keras_npz is None:
        keras_dir = keras_dir / spec.subdir
    dirs.append((keras_dir, "Keras cache"))
    dirs.append((DEBIAN_DATA_ROOT / spec.subdir, "Debian data directory"))
    return dirs


def _load(name, path, download):
    spec = _SPECS[name]
    searched = []
    for directory, description in _candidate_dirs(name, path):
        result, note = _load_from_dir(spec, directory)
        if result is not None:
            return result
        searched.append(f"  - {directory} ({description}): {note}")
    if download:
        try:
            (x_train, y_train), (x_test, y_test) = _keras_download(name)
        except Exception as exc:  # noqa: BLE001 - any failure means "not available"
            searched.append(f"  - Keras download: failed ({type(exc).__name__}: {exc})")
        else:
            _check_split(x_train, y_train, "Keras download (train)")
            _check_split(x_test, y_test, "Keras download (test)")
            return (x_train, y_train), (x_test, y_test)
    else:
        searched.append("  - Keras download: not tried (download=False)")
    how = [f"set ${DATA_DIR_ENV} to a directory holding them", "or pass path="]
    if spec.apt_package:
        how.insert(0, f"install them with `apt-get install {spec.apt_package}`")
    raise FileNotFoundError(
        f"{spec.title} not found. Looked for the files {', '.join(_IDX_STEMS)} "
        "(with or without .gz)"
        + (f" or {spec.keras_npz}" if spec.keras_npz else "")
        + " in:\n"
        + "\n".join(searched)
        + f"\nTo fix: {', '.join(how)}."
    )


def _load_from_dir(spec, directory):
    """Return ``(splits, None)`` if `directory` holds the data, else ``(None, why)``."""
    if not directory.is_dir():
        return None, "no such directory"
    files = [_find_file(directory, stem) for stem in _IDX_STEMS]
    if all(files):
        x_train, y_train, x_test, y_test = (read_idx(f) for f in files)
        _check_split(x_train, y_train, f"{files[0]} and {files[1]}")
        _check_split(x_test, y_test, f"{files[2]} and {files[3]}")
        return ((x_train, y_train), (x_test, y_test)), None
    if spec.keras_npz and (directory / spec.keras_npz).is_file():
        npz = directory / spec.keras_npz
        x_train, y_train, x_test, y_test = _read_npz(npz, str(npz), _NPZ_KEYS)
        _check_split(x_train, y_train, f"{npz} (train)")
        _check_split(x_test, y_test, f"{npz} (test)")
        return ((x_train, y_train), (x_test, y_test)), None
    if any(files):
        missing = [s for s, f in zip(_IDX_STEMS, files) if f is None]
        return None, f"incomplete, missing {', '.join(missing)}"
    return None, "no data files"


def _find_file(directory, stem):
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None


def _read_npz(source, label, keys):
    """Return the arrays `keys` of an ``.npz`` file, or raise ValueError naming it."""
    try:
        with np.load(source, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in keys if k in npz.files}
            present = list(npz.files)
    except Exception as exc:  # BadZipFile, zlib.error, pickled data, EOF, ...
        raise ValueError(
            f"{label}: cannot read the .npz file ({type(exc).__name__}: {exc}); it "
            "is truncated or corrupt; delete it and fetch or recreate it"
        ) from exc
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise ValueError(
            f"{label}: missing arrays {', '.join(missing)} (has "
            f"{', '.join(present) or 'none'}); recreate the file"
        )
    return tuple(arrays[k] for k in keys)


def _check_split(x, y, source):
    """Check one (images, labels) pair has the layout ``keras.datasets`` returns."""
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
        raise ValueError(
            f"{source}: images must be uint8 of shape (N, 28, 28), got "
            f"{x.dtype} of shape {x.shape}; the file is not MNIST-style data"
        )
    if y.dtype != np.uint8 or y.ndim != 1:
        raise ValueError(
            f"{source}: labels must be uint8 of shape (N,), got {y.dtype} of "
            f"shape {y.shape}; the file is not MNIST-style data"
        )
    if len(x) != len(y):
        raise ValueError(
            f"{source}: {len(x)} images but {len(y)} labels, expected equal counts; "
            "one of the files is from another dataset or corrupt"
        )
    if y.size and y.max() > 9:
        raise ValueError(
            f"{source}: labels must be in 0..9, found {int(y.max())}; the label "
            "file is corrupt or from another dataset"
        )


def _keras_download(name):
    # Imported here: Keras pulls in TensorFlow, seconds of start-up that reading
    # local files does not need.
    import keras

    module = (
        keras.datasets.fashion_mnist
        if name == "fashion_mnist"
        else keras.datasets.mnist
    )
    return module.load_data()


def _as_path(value, what):
    check_type(what, value, (str, os.PathLike), "a str or os.PathLike")
    return Path(value).expanduser()
