"""`load_model`: a Keras model from a file, recognised by its content.

=====================================  ==================================
what the path holds                    how it is read
=====================================  ==================================
a zip archive                          Keras 3 ``.keras`` archive:
                                       ``keras.models.load_model``
an HDF5 file (any extension)           Keras 2 (tf.keras 2.x) or Keras 3
                                       HDF5: config and weights, rebuilt
                                       in Keras 3 without compile state
a directory with ``saved_model.pb``    tf.keras 2.x SavedModel: config
                                       from ``keras_metadata.pb``,
                                       weights from its checkpoint
=====================================  ==================================
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import keras

# importing rateconv's Keras classes registers them, so that archives using
# them (SoftLIF, QuantizedReLU, ...) load
import rateconv.layers  # noqa: F401
from rateconv.loading._archive import read_archive
from rateconv.loading._legacy import read_h5
from rateconv.loading._saved_model import read_saved_model

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"

# Keras' words when a .keras file names a class nobody registered
_UNKNOWN_CLASS = re.compile(r"Could not locate (?:class|function) '([^']+)'")
RATECONV_CLASSES = ("SoftLIF", "QuantizedReLU", "SpikingAware", "FiringRateRegularizer")
"""rateconv's Keras classes, registered by ``import rateconv``."""


class ModelFileError(ValueError):
    """A file that is not a Keras model rateconv can load."""


def explain_load_error(error):
    """What to do about a `keras.models.load_model` error, or "" if nothing.

    Keras reports a class it cannot find ("Could not locate class 'SoftLIF'")
    inside a long config dump; this names the class and the remedy.

    Example
    -------
    >>> explain_load_error(TypeError("Could not locate class 'SoftLIF'"))[:26]
    "the model uses rateconv's "
    """
    match = _UNKNOWN_CLASS.search(str(error))
    if match is None:
        return ""
    name = match.group(1)
    if name in RATECONV_CLASSES:
        return (
            f"the model uses rateconv's {name}: `import rateconv` before "
            "keras.models.load_model (importing registers rateconv's layers)"
        )
    return (
        f"the model uses a custom class {name!r} that Keras cannot find: import "
        "the module defining it (decorated with "
        "@keras.saving.register_keras_serializable) before loading, or pass "
        f"custom_objects={{{name!r}: {name}}}"
    )


@dataclass(frozen=True)
class LoadedModel:
    """A model read by `read_model`, and what the file was.

    Attributes
    ----------
    model : keras.Model
        The model, in Keras 3, not compiled unless the file was a Keras 3
        archive with a compile state Keras restored.
    path : str
        The file or directory read.
    format : str
        ``"keras"`` (Keras 3 archive), ``"hdf5"`` (HDF5, usually from
        tf.keras 2.x) or ``"savedmodel"`` (tf.keras 2.x SavedModel).
    keras_version : str or None
        The Keras version that wrote the file, if the file says.
    compile_state_dropped : bool
        The file held a compile state (loss, optimizer, metrics) that was not
        read: conversion does not use it.

    Example
    -------
    >>> loaded = LoadedModel(None, "m.h5", "hdf5", "2.12.0", True)
    >>> loaded.describe()[:45]
    'm.h5: Keras HDF5 file written by Keras 2.12.0'
    """

    model: object
    path: str
    format: str
    keras_version: str | None = None
    compile_state_dropped: bool = False

    def describe(self):
        """One line for reports: what was read and what was left out."""
        what = {
            "keras": "Keras .keras archive",
            "hdf5": "Keras HDF5 file",
            "savedmodel": "tf.keras SavedModel directory",
        }[self.format]
        if self.keras_version:
            what += f" written by Keras {self.keras_version}"
        line = f"{self.path}: {what}"
        if self.compile_state_dropped:
            line += (
                "; its compile state (loss, optimizer, metrics) was dropped: "
                "conversion does not use it"
            )
        return line


def _kind(path):
    """``"keras"``, ``"hdf5"``, ``"savedmodel"``; raises for anything else."""
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (
            path / "saved_model.pbtxt"
        ).is_file():
            return "savedmodel"
        raise ModelFileError(
            f"{path} is a directory without saved_model.pb, not a model: pass a "
            ".keras or .h5 file, or a SavedModel directory"
        )
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(ZIP_MAGIC) or zipfile.is_zipfile(path):
        return "keras"
    if head == HDF5_MAGIC:
        return "hdf5"
    found = "an empty file" if not head else f"a file starting with {head!r}"
    raise ModelFileError(
        f"{path} is not a Keras model file: it is {found}, neither a Keras 3 "
        ".keras archive (zip), an HDF5 model (.h5 from Keras 2 or 3) nor a "
        "SavedModel directory; it may be corrupt or truncated: save the model "
        "again"
    )


def _read_archive(path):
    try:
        return read_archive(path)
    except Exception as e:  # keras raises many types for a bad archive
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        why = explain_load_error(e) or (lines[0] if lines else type(e).__name__)
        raise ModelFileError(
            f"could not load {path} as a Keras .keras archive: {why}"
        ) from e


def read_model(path):
    """Read a Keras model file of any supported kind, and say what it was.

    Parameters
    ----------
    path : str or Path
        A Keras 3 ``.keras`` archive, an HDF5 model file of any extension
        (tf.keras 2.x ``model.save("m.h5")`` or ``"m.keras"`` in Keras 2.12,
        or Keras 3's ``.h5``) or a tf.keras 2.x SavedModel directory.

    Returns
    -------
    LoadedModel
        The model and what the file was (``compile_state_dropped`` says
        whether a Keras 2 compile state was left out).

    Raises
    ------
    FileNotFoundError
        Nothing at `path`.
    ValueError
        Not a Keras model (the message says what the file is), a Keras 2
        model with a TensorFlow op rateconv cannot rebuild (the message names
        the op and the layer), or a SavedModel without Keras metadata (the
        message gives the command that re-saves it as HDF5).

    Example
    -------
    >>> loaded = read_model("model.h5")  # doctest: +SKIP
    >>> print(loaded.describe())  # doctest: +SKIP
    model.h5: Keras HDF5 file written by Keras 2.12.0; its compile state ...
    """
    path = Path(path)
    kind = _kind(path)
    if kind == "keras":
        return LoadedModel(_read_archive(path), str(path), "keras", keras.__version__)
    read = read_h5 if kind == "hdf5" else read_saved_model
    model, version, compiled = read(path, str(path))
    return LoadedModel(model, str(path), kind, version, compiled)


def load_model(path):
    """A Keras 3 model from a Keras file, recognised by its content.

    Keras 3 ``.keras`` archives load as with ``keras.models.load_model``
    (rateconv's layers registered).  Models from tf.keras 2.x (NengoDL's
    environment) load too: HDF5 files of any extension and SavedModel
    directories, rebuilt in Keras 3 without their compile state (use
    `read_model` to learn whether one was dropped), with the TensorFlow ops
    of their graphs (``tf.nn.relu(x)``, ``x * 0.5``, ``tf.concat``...)
    rebuilt as Keras layers that compute the same values.

    Parameters
    ----------
    path : str or Path
        The file or SavedModel directory.

    Returns
    -------
    keras.Model

    Raises
    ------
    FileNotFoundError, ValueError
        As `read_model`.

    Examples
    --------
    >>> import pathlib, tempfile, numpy as np, keras, rateconv
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),
    ...                           rateconv.SoftLIF(name="lif")])
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.keras"
    >>> model.save(path)
    >>> loaded = rateconv.load_model(path)       # or a tf.keras 2 .h5 / SavedModel
    >>> x = np.ones((2, 4), "float32")
    >>> bool(np.allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0)))
    True
    >>> net = rateconv.convert(rateconv.load_model("model.h5"))  # doctest: +SKIP
    """
    return read_model(path).model
