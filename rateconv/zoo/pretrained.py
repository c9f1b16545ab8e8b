"""Registry of the trained networks shipped in ``pretrained/``.

``pretrained/manifest.json`` describes each network: its file, sha256, dataset,
architecture, training settings and the errors measured on the test set.
`load_pretrained` verifies the checksum and the architecture before returning
the Keras model, so a corrupt or swapped file is an error, never a silently
different network.  Model files are read with `rateconv.load_model`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

# explain_load_error: importable from here as before the loader existed
from rateconv.loading import explain_load_error, load_model  # noqa: F401

PRETRAINED_DIR_ENV = "RATECONV_PRETRAINED_DIR"
"""Environment variable naming a directory with ``manifest.json`` and weights."""
MANIFEST = "manifest.json"
DEFAULT_NAME = "fashion_mnist_softlif"
"""The network the demo uses: the reference network with soft-LIF neurons."""


def pretrained_dir():
    """The directory holding ``manifest.json``.

    ``$RATECONV_PRETRAINED_DIR`` if set; else ``pretrained/`` next to the
    ``rateconv`` package (a source checkout or editable install); else the
    copy installed with the package (``rateconv/_pretrained`` in the wheel).
    """
    env = os.environ.get(PRETRAINED_DIR_ENV)
    if env:
        return Path(env)
    package = Path(__file__).resolve().parent.parent  # rateconv/
    checkout = package.parent / "pretrained"
    if (checkout / MANIFEST).is_file():
        return checkout
    return package / "_pretrained"


def sha256(path):
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load_manifest_file(path):
    """The whole manifest at ``path`` (``{"models": {...}}``), validated."""
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(
            f"{path} is not valid JSON ({e}); restore it from the repository."
        ) from e
    if not isinstance(manifest, dict) or not isinstance(manifest.get("models"), dict):
        raise ValueError(
            f"{path} has no 'models' table; restore it from the repository."
        )
    return manifest


def read_manifest(directory=None):
    """The manifest as a dict ``{name: entry}``.

    Parameters
    ----------
    directory : str or Path or None
        The directory holding ``manifest.json`` (default: `pretrained_dir`).

    Returns
    -------
    dict
        One entry per network: ``file``, ``sha256``, ``architecture`` and the
        information given to `register_pretrained`.

    Raises
    ------
    FileNotFoundError
        No manifest in ``directory``.
    ValueError
        The manifest is not valid JSON or has no ``models`` table.
    """
    directory = Path(directory) if directory else pretrained_dir()
    path = directory / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"No pretrained manifest at {path}. rateconv looks in "
            f"${PRETRAINED_DIR_ENV} or in pretrained/ beside the package: run from "
            "a source checkout installed with `pip install -e .`, or set "
            f"{PRETRAINED_DIR_ENV} to the directory holding {MANIFEST}."
        )
    return _load_manifest_file(path)["models"]


def available():
    """Names of the shipped pretrained networks."""
    return sorted(read_manifest())


def architecture_of(model):
    """A list describing a model's layers: ``[class name, output shape]``.

    Stored in the manifest and compared on load.
    """
    return [
        [type(layer).__name__, list(layer.output.shape[1:])] for layer in model.layers
    ]


def load_pretrained(name=DEFAULT_NAME, *, directory=None):
    """Load a shipped pretrained Keras model after verifying it.

    Parameters
    ----------
    name : str
        A name from `available` (default: the soft-LIF reference network trained
        on Fashion-MNIST).
    directory : str or Path or None
        Where the manifest and weights are (default: `pretrained_dir`).

    Returns
    -------
    keras.Model

    Raises
    ------
    ValueError
        Unknown name, checksum mismatch (corrupt or modified file), unreadable
        file or an architecture that differs from the manifest's.
    FileNotFoundError
        The manifest or the weight file is missing.

    Examples
    --------
    >>> import rateconv
    >>> model = rateconv.load_pretrained()            # fashion_mnist_softlif
    >>> model.input_shape, model.output_shape
    ((None, 28, 28, 1), (None, 10))
    >>> options = rateconv.zoo.pretrained.conversion_options("fashion_mnist_softlif")
    >>> net = rateconv.convert(model, **options)      # as it was measured
    """
    directory = Path(directory) if directory else pretrained_dir()
    models = read_manifest(directory)
    if name not in models:
        raise ValueError(
            f"Unknown pretrained network {name!r}. Available: {sorted(models)}"
        )
    entry = models[name]
    if not isinstance(entry, dict) or not all(
        isinstance(entry.get(key), str) for key in ("file", "sha256")
    ):
        raise ValueError(
            f"The entry for {name!r} in {directory / MANIFEST} has no 'file' and "
            "'sha256'; restore the manifest from the repository or register the "
            "network again with rateconv.zoo.pretrained.register_pretrained."
        )
    path = directory / entry["file"]
    if not path.is_file():
        raise FileNotFoundError(
            f"Pretrained weights for {name!r} are missing: {path}. Restore the file "
            "from the repository (git checkout -- pretrained/) or retrain it with "
            "`rateconv train` (see the manifest for the settings)."
        )
    actual = sha256(path)
    if actual != entry["sha256"]:
        raise ValueError(
            f"Checksum mismatch for {path}: expected sha256 {entry['sha256']}, "
            f"found {actual}. The file is corrupt or was modified; restore it from "
            "the repository (git checkout -- pretrained/)."
        )
    try:
        model = load_model(path)
    except Exception as e:  # keras raises many types for a bad archive
        raise ValueError(f"Could not load {path} as a Keras model: {e}") from e
    expected = entry.get("architecture")
    if expected is not None and architecture_of(model) != expected:
        raise ValueError(
            f"{path} does not have the architecture recorded for {name!r} in the "
            f"manifest: expected {expected}, found {architecture_of(model)}."
        )
    return model


RESERVED_KEYS = ("file", "sha256", "architecture", "n_params")
"""Manifest entry keys that `register_pretrained` computes itself."""


def register_pretrained(model_path, name, *, directory=None, **info):
    """Add or update a manifest entry for a trained model file.

    Parameters
    ----------
    model_path : str or Path
        A ``.keras`` file inside ``directory`` (copy it there first: the
        manifest records its path relative to the directory, so that the
        directory can be moved or shipped as a whole).
    name : str
        The name `load_pretrained` will take.
    directory : str or Path or None
        The directory holding ``manifest.json`` (default: `pretrained_dir`);
        the manifest is created if missing.
    **info
        Stored as given (JSON-serializable): dataset, training settings,
        measured errors, a ``description`` ...

    Returns
    -------
    dict
        The new entry, with the computed ``file``, ``sha256``, ``architecture``
        and ``n_params``.

    Raises
    ------
    ValueError
        The model file is outside ``directory`` or cannot be loaded, ``info``
        uses a computed key, or the existing manifest is corrupt (it is left
        untouched).
    FileNotFoundError
        The model file is missing.
    """
    directory = Path(directory) if directory else pretrained_dir()
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty str. Received: name={name!r}")
    clash = sorted(set(info) & set(RESERVED_KEYS))
    if clash:
        raise ValueError(
            f"{clash} are computed from the model file; do not pass them as info."
        )
    model_path = Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(f"No model file at {model_path}.")
    relative = Path(os.path.relpath(model_path.resolve(), directory.resolve()))
    if relative.parts[0] == os.pardir:
        raise ValueError(
            f"{model_path} is not inside {directory}; copy it there first so the "
            "manifest can refer to it by a relative path."
        )
    try:
        model = load_model(model_path)
    except Exception as e:  # keras raises many types for a bad archive
        raise ValueError(f"Could not load {model_path} as a Keras model: {e}") from e
    path = directory / MANIFEST
    # a corrupt manifest raises here, before anything is overwritten
    manifest = _load_manifest_file(path) if path.is_file() else {"models": {}}
    manifest["models"][name] = {
        "file": relative.as_posix(),
        "sha256": sha256(model_path),
        "architecture": architecture_of(model),
        "n_params": int(model.count_params()),
        **info,
    }
    # write then rename, so an interrupted write cannot leave half a manifest
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, path)
    return manifest["models"][name]


def conversion_options(name=DEFAULT_NAME, *, directory=None):
    """The `rateconv.convert` options a shipped network was measured with.

    The manifest's ``convert`` entry (e.g. ``scale_firing_rates``, ``synapse``,
    ``initial_state``); an empty dict when it has none.  The demo and
    ``rateconv evaluate NAME`` use them unless told otherwise.
    """
    entry = read_manifest(directory).get(name)
    if entry is None:
        raise KeyError(
            f"No pretrained network named {name!r}. Available: {available(directory)}"
        )
    return dict(entry.get("convert", {}))
