"""What users pass as ``x``: arrays, dicts, datasets and generators, as batches.

`as_source` turns any of the accepted forms into a `Source`, and
`Source.minibatches` cuts it into the fixed-size `Minibatch` objects engines
run, padding the last (so compiled graphs are reused) and keeping the same
layout whether the samples came as one array or as a stream of batches.

Accepted forms, as Keras ``Model.predict`` / ``evaluate`` take them:

- an array, a list/tuple of arrays (one per network input, in order), or a
  dict keyed by input name;
- a ``tf.data.Dataset`` of batches, a generator or any iterator of batches,
  each ``x`` or ``(x, y)`` (or ``(x, y, sample_weight)``, weight ignored),
  ``x`` in one of the forms above.  Streams are read batch by batch, so memory
  stays flat in the size of the data.

An input of shape ``(n, n_steps, *input_shape)`` is **time-varying** (spiking
mode only): step ``t`` sees ``x[:, t]``, as NengoDL feeds every input.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import itertools

import numpy as np
import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class Minibatch:
    """One fixed-size minibatch: inputs padded to ``size`` samples.

    Attributes
    ----------
    inputs : list of numpy.ndarray
        One array per network input, each ``size`` samples (a time-varying
        input has the time axis second).
    start : int
        Index of the first sample in the whole run (seeds the random draws,
        so results do not depend on the minibatch layout beyond it).
    n_valid : int
        Real samples; the rest is padding.
    labels : numpy.ndarray or None
        The ``n_valid`` labels of the real samples, when the data has them.
    """

    inputs: list
    start: int
    n_valid: int
    labels: np.ndarray | None = None

    @property
    def size(self):
        return len(self.inputs[0])

    @property
    def mask(self):
        """1 for real samples, 0 for padding (float32, shape ``(size,)``)."""
        mask = np.zeros(self.size, np.float32)
        mask[: self.n_valid] = 1
        return mask


def _input_list(network, x, where):
    """``x`` (array, list/tuple or dict by input name) as a list per input."""
    names = list(network.inputs)
    if isinstance(x, collections.abc.Mapping):
        unknown = sorted(set(x) - set(names))
        missing = [n for n in names if n not in x]
        if unknown or missing:
            raise ValueError(
                f"{where} is a dict keyed by input name; the network's inputs are "
                f"{names}. Received keys {sorted(x)}"
                + (f" (unknown: {unknown})" if unknown else "")
                + (f" (missing: {missing})" if missing else "")
                + "."
            )
        return [x[n] for n in names]
    xs = list(x) if isinstance(x, (list, tuple)) else [x]
    if len(xs) != len(names):
        raise ValueError(
            f"The network has {len(names)} input(s) {names}; {where} holds "
            f"{len(xs)} array(s). Pass one array per input, as a list in this "
            "order or a dict keyed by input name."
        )
    return xs


def check_batch(network, x, where="x", time_varying=None):
    """``x`` as float32 arrays, one per input, checked; and which vary in time.

    Parameters
    ----------
    network : SpikingNetwork
    x : array, list/tuple or dict of arrays
    where : str
        How messages name the data.
    time_varying : tuple of str or None
        Inputs known to have a time axis (from an earlier batch); None infers
        it from the shapes.

    Returns
    -------
    (list of numpy.ndarray, tuple of str)
    """
    xs = _input_list(network, x, where)
    out, varying = [], []
    for name, shape, arr in zip(network.inputs, network.input_shapes, xs):
        if isinstance(arr, tf.Tensor):
            arr = arr.numpy()
        arr = np.asarray(arr)
        if not np.issubdtype(arr.dtype, np.number):
            raise ValueError(
                f"{where} for input '{name}' must be numeric. Received dtype "
                f"{arr.dtype}; pass arrays (a list per input, or a dict keyed by "
                "input name), a tf.data.Dataset or a generator of batches."
            )
        shape = tuple(shape)
        dims = ", ".join(str(d) for d in shape)
        with_time = arr.ndim == len(shape) + 2 and arr.shape[2:] == shape
        if time_varying is not None and with_time != (name in time_varying):
            raise ValueError(
                f"{where} for input '{name}' changes form between batches: "
                f"shape {arr.shape}; every batch must be (batch, {dims}) or every "
                f"batch (batch, n_steps, {dims})."
            )
        if not with_time and (arr.ndim != len(shape) + 1 or arr.shape[1:] != shape):
            raise ValueError(
                f"{where} for input '{name}' must have shape (n_samples, {dims}), "
                f"or (n_samples, n_steps, {dims}) for an input that changes over "
                f"time. Received: shape {arr.shape}"
            )
        if len(arr) == 0:
            raise ValueError(f"{where} for input '{name}' is empty.")
        arr = arr.astype(np.float32, copy=False)
        if not np.all(np.isfinite(arr)):
            bad = int(np.sum(~np.isfinite(arr)))
            raise ValueError(
                f"{where} for input '{name}' contains {bad} NaN or inf value(s); "
                "clean or impute the data before simulating."
            )
        if with_time:
            varying.append(name)
        out.append(arr)
    if len({len(a) for a in out}) > 1:
        raise ValueError(
            f"All inputs of {where} need the same number of samples. "
            f"Received: {[len(a) for a in out]}"
        )
    steps = {a.shape[1] for a, n in zip(out, network.inputs) if n in varying}
    if len(steps) > 1:
        raise ValueError(
            f"Time-varying inputs of {where} need the same number of steps. "
            f"Received: {sorted(steps)}"
        )
    return out, tuple(varying)


def _split_element(element):
    """A stream element as ``(x, y or None)`` (Keras' ``(x, y, weight)`` too)."""
    if isinstance(element, tuple) and len(element) in (2, 3):
        return element[0], element[1]
    if isinstance(element, tuple) and len(element) == 1:
        return element[0], None
    return element, None


def _is_stream(x):
    if isinstance(x, tf.data.Dataset):
        return True
    if isinstance(x, (np.ndarray, list, tuple, collections.abc.Mapping, tf.Tensor)):
        return False
    return isinstance(x, collections.abc.Iterator) or hasattr(x, "__next__")


class Source:
    """Samples to simulate: checked arrays, or a stream of batches.

    Use `as_source` to make one.  ``n_samples`` is None for a stream of
    unknown length; ``time_varying`` names the inputs with a time axis and
    ``time_steps`` is its length (None without).
    """

    def __init__(self, network, batches, *, n_samples, first, labelled):
        self.network = network
        self._batches = batches  # iterator of (xs, labels), first one peeked
        self._first = first
        self.n_samples = n_samples
        self.labelled = labelled
        self.time_varying = first[2]
        self.time_steps = (
            int(first[0][list(network.inputs).index(self.time_varying[0])].shape[1])
            if self.time_varying
            else None
        )

    def batches(self):
        """``(xs, labels or None)`` as they come, checked."""
        yield self._first[:2]
        yield from self._batches

    def minibatches(self, size):
        """Fixed-size `Minibatch` objects of ``size`` samples, the last padded.

        Stream batches are regrouped, so the layout is the one an array of the
        same samples gets.
        """
        pending, pending_labels, start = None, None, 0
        for xs, labels in self.batches():
            if pending is None:
                pending = xs
                pending_labels = labels
            else:
                pending = [np.concatenate([p, a]) for p, a in zip(pending, xs)]
                if pending_labels is not None:
                    pending_labels = np.concatenate([pending_labels, labels])
            while len(pending[0]) >= size:
                head = [a[:size] for a in pending]
                pending = [a[size:] for a in pending]
                yield self._minibatch(head, pending_labels, start, size, size)
                if pending_labels is not None:
                    pending_labels = pending_labels[size:]
                start += size
        if pending is not None and len(pending[0]):
            valid = len(pending[0])
            padded = [
                np.concatenate([a, np.zeros((size - valid,) + a.shape[1:], a.dtype)])
                for a in pending
            ]
            yield self._minibatch(padded, pending_labels, start, valid, size)

    @staticmethod
    def _minibatch(inputs, labels, start, valid, size):
        return Minibatch(
            inputs, start, valid, None if labels is None else labels[:valid]
        )


def as_source(network, x, y=None, *, labels=None, check=None):
    """A `Source` over ``x`` (see the module docstring for the forms).

    Parameters
    ----------
    network : SpikingNetwork
    x : array, list, dict, tf.data.Dataset, generator or iterator
    y : array or None
        Labels of array data; a stream carries its own as ``(x, y)``.
    labels : callable or None
        ``labels(y, n)`` checks and converts one batch's labels (the class
        indices `Simulator.evaluate` scores); None leaves labels out.
    check : callable or None
        ``check(xs, where)`` raises on a batch the run cannot take (e.g.
        Poisson probabilities outside [0, 1]).
    """
    if not _is_stream(x):
        xs, varying = check_batch(network, x)
        if check is not None:
            check(xs, "x")
        n = len(xs[0])
        ys = None
        if labels is not None:
            ys = labels(y, n)
        elif y is not None:
            raise ValueError("y is only used by evaluate.")
        first = (xs, ys, varying)
        return Source(
            network, iter(()), n_samples=n, first=first, labelled=ys is not None
        )
    if y is not None:
        raise ValueError(
            "y must be None when x is a dataset or a generator: each of its "
            "elements carries its labels, as (x, y)."
        )
    stream = x.as_numpy_iterator() if isinstance(x, tf.data.Dataset) else iter(x)
    n_samples = _dataset_length(x)
    index = itertools.count()

    def checked():
        varying = None
        for element in stream:
            bx, by = _split_element(element)
            where = f"batch {next(index)} of x"
            xs, varying = check_batch(network, bx, where, varying)
            if check is not None:
                check(xs, where)
            if labels is not None:
                if by is None:
                    raise ValueError(
                        f"{where} has no labels: evaluate needs a dataset or "
                        "generator of (x, y) batches."
                    )
                by = labels(by, len(xs[0]))
            yield xs, (by if labels is not None else None), varying

    batches = checked()
    try:
        first = next(batches)
    except StopIteration:
        raise ValueError("x is an empty dataset or generator.") from None
    rest = ((xs, ys) for xs, ys, _ in batches)
    return Source(
        network, rest, n_samples=n_samples, first=first, labelled=labels is not None
    )


def _dataset_length(x):
    """Samples in a batched dataset when TensorFlow knows them, else None."""
    if not isinstance(x, tf.data.Dataset):
        return None
    try:
        batches = int(x.cardinality())
        if batches < 0:
            return None
        first = next(iter(x.take(1)))
    except (TypeError, ValueError, StopIteration, tf.errors.OpError):
        return None
    bx, _ = _split_element(first)
    leaf = tf.nest.flatten(bx)[0]
    if batches == 1:
        return int(leaf.shape[0])
    # the last batch may be short; the bar's total is an estimate then
    return None if leaf.shape[0] is None else batches * int(leaf.shape[0])
