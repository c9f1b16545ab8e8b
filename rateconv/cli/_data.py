"""The evaluated data: the user's own arrays or a built-in test set, checked
against the model, optionally a subset, and a record of what was done to it.

A user's ``--data`` is fed exactly as stored (cast to float32, as Keras does):
no rescaling.  A built-in dataset holds ``uint8`` pixels 0..255 (as
``keras.datasets`` returns them); ``--pixels`` says how they reach the model:
``unit`` divides by 255 (`rateconv.zoo.models.prepare_images`, how rateconv's
own networks are trained), ``raw`` feeds 0..255, ``auto`` (default) is
``raw`` for a model whose first layer is ``Rescaling`` and ``unit`` otherwise.
The report says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from rateconv import datasets
from rateconv._checks import check_finite_array
from rateconv.cli._common import UsageError

#: Above this many samples, evaluate scores a seeded random subset of this
#: size unless ``--n-images`` says otherwise (``all``: every sample).
DEFAULT_MAX_SAMPLES = 1000
#: Seed of that subset (sorted indices, so the order of the file is kept).
SUBSET_SEED = 0
PIXELS = ("auto", "unit", "raw")


@dataclass(frozen=True)
class Data:
    """Inputs and labels as fed, and what was done to get them.

    ``source`` names the file or dataset split, ``n_total`` its sample count,
    ``selection`` which samples were kept, ``preparation`` what was done to
    the inputs (and labels) before the model saw them.
    """

    x: np.ndarray
    y: np.ndarray
    source: str
    n_total: int
    selection: str
    preparation: str

    def to_json(self):
        return {
            "source": self.source,
            "n_total": self.n_total,
            "n_used": len(self.x),
            "selection": self.selection,
            "preparation": self.preparation,
        }

    def text(self):
        return f"data: {self.source}, {self.selection}; inputs {self.preparation}" + (
            "" if len(self.x) == self.n_total else " (all samples: --n-images all)"
        )


def input_shape(model):
    """The one input shape of `model`, without the batch axis."""
    if len(model.inputs) != 1:
        raise UsageError(
            f"the model has {len(model.inputs)} inputs; --data feeds models "
            "with one input (use rateconv.Simulator from Python for several)"
        )
    return tuple(model.inputs[0].shape[1:])


def n_outputs(model):
    """Units of the (first) output's last axis: the number of classes scored."""
    return int(model.outputs[0].shape[-1])


def _npz_arrays(path, keys):
    try:
        with np.load(path, allow_pickle=False) as npz:
            present = list(npz.files)
            missing = [k for k in keys if k not in present]
            if missing:
                raise UsageError(
                    f"{path} has no array named {', '.join(map(repr, missing))} "
                    f"(it holds: {', '.join(present) or 'nothing'}); save it with "
                    "numpy.savez(path, x=inputs, y=labels), or name its arrays "
                    f"with --data-keys {','.join(present[:2]) or 'X,Y'}"
                )
            return [npz[k] for k in keys]
    except UsageError:
        raise
    except Exception as e:  # BadZipFile, pickled objects, truncated file ...
        raise UsageError(
            f"cannot read {path} as an .npz of arrays ({type(e).__name__}: {e})"
        ) from None


def _npy(path, what):
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        raise UsageError(
            f"cannot read {what} {path} as a .npy array ({type(e).__name__}: {e})"
        ) from None


def read_user_data(data, labels=None, keys=("x", "y")):
    """``(x, y, source)``: ``--data FILE.npz``, or ``--data X.npy --labels Y.npy``."""
    path = Path(data)
    if not path.is_file():
        raise UsageError(f"--data file not found: {data}")
    if path.suffix == ".npz":
        if labels is not None:
            raise UsageError(
                "--labels goes with an .npy --data; an .npz holds its labels "
                "(name them with --data-keys)"
            )
        x, y = _npz_arrays(path, keys)
        return x, y, f"{data} (arrays {keys[0]!r}, {keys[1]!r})"
    if path.suffix == ".npy":
        if labels is None:
            raise UsageError(
                f"--data {data} is one .npy array: give the labels with "
                "--labels LABELS.npy, or save both in one .npz (x=..., y=...)"
            )
        if not Path(labels).is_file():
            raise UsageError(f"--labels file not found: {labels}")
        return _npy(path, "--data"), _npy(labels, "--labels"), f"{data}, {labels}"
    raise UsageError(
        f"--data must be an .npz (arrays x and y) or an .npy with --labels; got {data}"
    )


def check_inputs(x, shape, source):
    """`x` as float32, checked against the model's input `shape`."""
    x = np.asarray(x)
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise UsageError(f"{source}: inputs must be numeric; received dtype {x.dtype}")
    if x.ndim != len(shape) + 1 or any(
        d is not None and d != s for d, s in zip(shape, x.shape[1:])
    ):
        hint = ""
        if x.shape[1:] + (1,) == tuple(shape):
            hint = "; add the channel axis: x[..., None]"
        elif int(np.prod(x.shape[1:])) == int(np.prod([d or 0 for d in shape])):
            hint = f"; reshape them: x.reshape(len(x), {', '.join(map(str, shape))})"
        raise UsageError(
            f"{source}: the model takes inputs of shape (n, "
            f"{', '.join(str(d) for d in shape)}); received shape {x.shape}{hint}"
        )
    if len(x) == 0:
        raise UsageError(f"{source}: no samples")
    try:
        return check_finite_array("inputs", x, hint="clean or impute the data first")
    except ValueError as e:
        raise UsageError(f"{source}: {e}") from None


def check_labels(y, n_samples, n_classes, source):
    """`y` as int class indices, checked against the model's `n_classes` outputs.

    Returns ``(labels, note)``; one-hot labels (``(n, n_classes)``) become
    indices, and the note says so.
    """
    y = np.asarray(y)
    note = ""
    if y.ndim == 2 and y.shape[1] > 1:
        if y.shape[1] != n_classes:
            raise UsageError(
                f"{source}: one-hot labels have {y.shape[1]} classes but the model "
                f"has {n_classes} outputs"
            )
        y, note = y.argmax(axis=1), "one-hot labels taken as class indices"
    elif y.ndim == 2:
        y = y[:, 0]
    if y.ndim != 1:
        raise UsageError(
            f"{source}: labels must be class indices of shape (n,) or one-hot "
            f"(n, classes); received shape {y.shape}"
        )
    if len(y) != n_samples:
        raise UsageError(
            f"{source}: {n_samples} inputs but {len(y)} labels; give one label "
            "per input"
        )
    if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
        raise UsageError(f"{source}: labels must be numeric; received {y.dtype}")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)):
            raise UsageError(
                f"{source}: labels hold {int(np.sum(~np.isfinite(y)))} NaN or "
                "infinite value(s)"
            )
        if np.any(y != np.round(y)):
            raise UsageError(
                f"{source}: labels must be integer class indices; received "
                f"values such as {y[y != np.round(y)][0]:g}"
            )
    y = y.astype(np.int64)
    if y.min() < 0:
        raise UsageError(
            f"{source}: labels must be class indices >= 0; found {int(y.min())}"
        )
    if n_classes < 2:
        raise UsageError(
            f"the model has {n_classes} output; evaluate scores the largest of "
            "one output per class, so it needs at least 2"
        )
    if y.max() >= n_classes:
        raise UsageError(
            f"{source}: labels go up to {int(y.max())} ({int(y.max()) + 1} "
            f"classes) but the model has {n_classes} outputs; evaluate it on data "
            f"with labels 0..{n_classes - 1}"
        )
    return y, note


def select(x, y, n_images):
    """The evaluated samples: ``(x, y, selection text)``.

    ``n_images`` an int: the first ones; ``"all"``: every sample; None: every
    sample up to `DEFAULT_MAX_SAMPLES`, else a seeded random subset of that
    size (a file sorted by class would make the first ones one class).
    """
    n = len(x)
    if n_images == "all" or (n_images is None and n <= DEFAULT_MAX_SAMPLES):
        return x, y, f"all {n} samples"
    if n_images is not None:
        k = min(n_images, n)
        return x[:k], y[:k], f"the first {k} of {n} samples"
    rng = np.random.default_rng(SUBSET_SEED)
    pick = np.sort(rng.choice(n, DEFAULT_MAX_SAMPLES, replace=False))
    return (
        x[pick],
        y[pick],
        f"a random {DEFAULT_MAX_SAMPLES} of {n} samples (seed {SUBSET_SEED}; "
        f"the default above {DEFAULT_MAX_SAMPLES})",
    )


def pixel_mode(model, pixels):
    """``"unit"`` or ``"raw"``: how built-in pixels reach `model` (``--pixels``)."""
    if pixels != "auto":
        return pixels
    first = [la for la in model.layers if not isinstance(la, keras.layers.InputLayer)]
    return "raw" if first and isinstance(first[0], keras.layers.Rescaling) else "unit"


def prepare_pixels(x, model, mode):
    """Built-in ``uint8`` images for `model`: ``(inputs, what was done)``."""
    shape = input_shape(model)
    x = np.asarray(x)
    steps = []
    if mode == "unit":
        x = x.astype(np.float32) / 255.0
        steps.append("uint8 pixels / 255 -> [0, 1] (--pixels unit)")
    else:
        x = x.astype(np.float32)
        steps.append("uint8 pixels as 0..255 floats (--pixels raw)")
    if x.shape[1:] + (1,) == shape:
        x = x[..., None]
        steps.append("channel axis added")
    elif len(shape) == 1 and int(np.prod(x.shape[1:])) == shape[0]:
        x = x.reshape(len(x), -1)
        steps.append("flattened")
    return x, ", ".join(steps)


def load(
    model,
    *,
    data=None,
    labels=None,
    keys=("x", "y"),
    dataset=None,
    data_dir=None,
    pixels="auto",
    n_images=None,
):
    """The evaluated `Data`: ``--data`` (as stored) or a built-in test split."""
    shape, n_classes = input_shape(model), n_outputs(model)
    if data is not None:
        x, y, source = read_user_data(data, labels, keys)
        preparation = f"as stored ({np.asarray(x).dtype}, fed as float32)"
    else:
        if dataset == "fashion_mnist_sample":
            x, y = datasets.load_fashion_mnist_sample()
            source = "fashion_mnist_sample (the shipped first 2000 test images)"
        else:
            _, (x, y) = datasets.load_dataset(dataset, path=data_dir)
            source = f"{dataset} test split"
        x, preparation = prepare_pixels(x, model, pixel_mode(model, pixels))
    x = check_inputs(x, shape, source)
    y, note = check_labels(y, len(x), n_classes, source)
    if note:
        preparation += f"; {note}"
    n_total = len(x)
    x, y, selection = select(x, y, n_images)
    return Data(x, y, source, n_total, selection, preparation)


def calibration_inputs(
    model, *, n, calibration_data=None, dataset=None, data_dir=None, pixels="auto"
):
    """`n` training inputs for ``--tune/--normalize/--calibrate``, never test ones.

    From ``--calibration-data`` (an .npz with ``x``, or an .npy), fed as
    stored; else the built-in dataset's training split, prepared as its test
    split is.
    """
    shape = input_shape(model)
    if calibration_data is not None:
        path = Path(calibration_data)
        if not path.is_file():
            raise UsageError(f"--calibration-data file not found: {path}")
        if path.suffix == ".npz":
            (x,) = _npz_arrays(path, ("x",))
        else:
            x = _npy(path, "--calibration-data")
        x = check_inputs(x, shape, str(path))
    else:
        name = "fashion_mnist" if dataset == "fashion_mnist_sample" else dataset
        try:
            (x, _), _ = datasets.load_dataset(name, path=data_dir)
        except FileNotFoundError as e:
            raise UsageError(
                f"--tune/--normalize/--calibrate need the {name} training set "
                f"(calibration never uses test images), which was not found: {e}"
            ) from None
        x, _ = prepare_pixels(x, model, pixel_mode(model, pixels))
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(x), min(n, len(x)), replace=False))
    return x[pick]
