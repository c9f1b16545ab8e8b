"""Keras 3 ``.keras`` archives, also those written by a newer Keras.

An archive holds the model's config (``config.json``) and its weights.  A
newer Keras writes arguments an older one does not take: Keras 3.15 saves
``GlorotUniform(seed, input_axes, output_axes)``, which Keras 3.3 cannot
construct, so rateconv's own shipped networks would not load on the oldest
Keras it supports (also ``Dense(quantization_config=None)``,
``InputLayer(optional=False)``).  `read_archive` retries such an archive
without the arguments that cannot change what the model computes (see
`drop_unknown_arguments`); any other unknown argument is still an error.
"""

from __future__ import annotations

import importlib
import inspect
import json
import tempfile
import zipfile
from pathlib import Path

import keras

# Arguments a newer Keras writes for a feature that another argument switches
# off: BatchNormalization's ``renorm_momentum`` acts only with ``renorm=True``.
_SWITCHED_BY = {"renorm_momentum": "renorm", "renorm_clipping": "renorm"}


def _keras_class(entry):
    """The built-in Keras class a serialized ``entry`` names, or None."""
    module = str(entry.get("module") or "")
    if module != "keras" and not module.startswith("keras."):
        return None  # a user's or rateconv's class: left as written
    try:
        cls = getattr(importlib.import_module(module), str(entry.get("class_name")))
    except (ImportError, AttributeError):
        return None
    return cls if inspect.isclass(cls) else None


def _known_arguments(cls):
    """The keyword arguments the ``__init__`` methods of ``cls`` name."""
    names = set()
    for klass in inspect.getmro(cls):
        if "__init__" in vars(klass):
            try:
                parameters = inspect.signature(klass.__init__).parameters
            except (TypeError, ValueError):
                continue
            names |= {
                p.name
                for p in parameters.values()
                if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
            }
    return names - {"self"}


def drop_unknown_arguments(config):
    """Leave out what a newer Keras wrote and the installed one cannot take.

    In every built-in Keras object of `config`, an argument that the
    installed class does not name is left out when it cannot change what
    the loaded model computes: any initializer argument (initializers only
    make the values the archive's weights replace) and, elsewhere, an
    argument set to None or False (a newer feature switched off, such as
    Keras 3.15's ``Dense(quantization_config=None)`` or
    ``InputLayer(optional=False)``), or the setting of a feature another
    argument switches off (``renorm_momentum`` without ``renorm``).  Anything
    else stays, so Keras still refuses what it cannot build.

    Parameters
    ----------
    config : dict or list
        A Keras 3 model config (``config.json`` of an archive), changed in
        place.

    Returns
    -------
    int
        How many arguments were left out.

    Example
    -------
    >>> config = {"module": "keras.initializers", "class_name": "Zeros",
    ...           "config": {"from_a_newer_keras": 1}}
    >>> drop_unknown_arguments(config), config["config"]
    (1, {})
    """
    dropped = 0
    if isinstance(config, dict):
        inner = config.get("config")
        cls = _keras_class(config) if isinstance(inner, dict) else None
        if cls is not None:
            known = _known_arguments(cls)
            initializer = str(config.get("module")).endswith("initializers")
            for key in [k for k in inner if k not in known]:
                switch = _SWITCHED_BY.get(key)
                off = switch is not None and not inner.get(switch)
                if initializer or off or inner[key] is None or inner[key] is False:
                    del inner[key]
                    dropped += 1
        for value in config.values():
            dropped += drop_unknown_arguments(value)
    elif isinstance(config, list):
        for value in config:
            dropped += drop_unknown_arguments(value)
    return dropped


def nest_single_tensor_references(config):
    """``input_layers: ["x", 0, 0]`` as ``[["x", 0, 0]]``, in place.

    Newer Keras writes a functional model's single input or output as one
    reference; Keras before 3.4 reads a list of them.  Returns how many
    references were nested.
    """
    changed = 0
    if isinstance(config, dict):
        for key in ("input_layers", "output_layers"):
            refs = config.get(key)
            if isinstance(refs, list) and refs and isinstance(refs[0], str):
                config[key] = [refs]
                changed += 1
        for value in config.values():
            changed += nest_single_tensor_references(value)
    elif isinstance(config, list):
        for value in config:
            changed += nest_single_tensor_references(value)
    return changed


def _load(path):
    if path.suffix == ".keras":
        return keras.models.load_model(path)
    # Keras reads an archive only under a .keras name
    with tempfile.TemporaryDirectory() as tmp:
        link = Path(tmp) / "model.keras"
        link.symlink_to(path.resolve())
        return keras.models.load_model(link)


def read_archive(path):
    """The model in the Keras 3 archive at `path` (a ``pathlib.Path``).

    Raises what ``keras.models.load_model`` raises when leaving out unknown
    initializer arguments does not help.
    """
    try:
        return _load(path)
    except Exception as error:
        try:
            with zipfile.ZipFile(path) as archive:
                config = json.loads(archive.read("config.json"))
        except Exception:
            raise error from None
        changed = drop_unknown_arguments(config)
        if not changed + nest_single_tensor_references(config):
            raise
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "model.keras"
            with zipfile.ZipFile(path) as source, zipfile.ZipFile(copy, "w") as out:
                for item in source.infolist():
                    data = (
                        json.dumps(config).encode("utf-8")
                        if item.filename == "config.json"
                        else source.read(item.filename)
                    )
                    out.writestr(item, data)
            return keras.models.load_model(copy)
