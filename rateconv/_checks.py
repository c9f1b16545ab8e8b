"""Argument validation, in one message form for the whole package.

Every check raises ``ValueError`` (``TypeError`` where the kind of object is
wrong) with the message ``"`name` must be <what>. Received: name=<value>"``,
optionally followed by a hint saying what to do.  Each returns the value,
normalized (an int, a float, an array), so callers can write
``n_steps = check_int("n_steps", n_steps)``.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np


def _fail(name, what, value, hint="", error=ValueError):
    message = f"{name} must be {what}. Received: {name}={value!r}"
    if hint:
        message += f". {hint}"
    raise error(message)


def check_int(name, value, *, minimum=1, hint=""):
    """An integer (not a bool) >= ``minimum``; returns it as an int."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        _fail(name, f"an int >= {minimum}", value, hint)
    return int(value)


def check_optional_int(name, value, *, minimum=1, hint=""):
    """None, or an int >= ``minimum``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        _fail(name, f"None or an int >= {minimum}", value, hint)
    return int(value)


def _is_real(value):
    return isinstance(value, Real) and not isinstance(value, bool)


def check_positive(name, value, *, unit="", hint=""):
    """A finite real number > 0; returns it as a float.

    ``unit`` is added to the message, e.g. ``"in seconds"``.
    """
    if not (_is_real(value) and math.isfinite(value) and value > 0):
        what = "a positive finite number" + (f" ({unit})" if unit else "")
        _fail(name, what, value, hint)
    return float(value)


def check_non_negative(name, value, *, unit="", hint=""):
    """A finite real number >= 0; returns it as a float."""
    if not (_is_real(value) and math.isfinite(value) and value >= 0):
        what = "a finite number >= 0" + (f" ({unit})" if unit else "")
        _fail(name, what, value, hint)
    return float(value)


def check_finite(name, value, *, hint=""):
    """A finite real number; returns it as a float."""
    if not (_is_real(value) and math.isfinite(value)):
        _fail(name, "a finite number", value, hint)
    return float(value)


def check_range(name, value, low, high, *, low_open=False, high_open=False, hint=""):
    """A real number in the interval from ``low`` to ``high``; returns a float."""
    ok = _is_real(value) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high
        )
    if not ok:
        interval = (
            ("(" if low_open else "[")
            + f"{low:g}, {high:g}"
            + (")" if high_open else "]")
        )
        _fail(name, f"a number in {interval}", value, hint)
    return float(value)


def check_choice(name, value, choices, *, hint=""):
    """One of ``choices`` (compared with ``==``); returns it."""
    if not any(value is c or (type(value) is type(c) and value == c) for c in choices):
        listed = ", ".join(repr(c) for c in choices)
        _fail(name, f"one of {listed}", value, hint)
    return value


def check_type(name, value, types, what, *, hint=""):
    """An instance of ``types`` (``what`` describes them); raises TypeError."""
    if not isinstance(value, types):
        message = (
            f"{name} must be {what}. Received: {name} of type {type(value).__name__}"
        )
        if hint:
            message += f". {hint}"
        raise TypeError(message)
    return value


def check_finite_array(
    name, array, *, hint="clean or impute the data first", dtype=np.float32
):
    """A numeric array without NaN or infinity; returns it as ``dtype``.

    Finiteness is checked after the cast (a float64 value beyond float32's range
    fails for the default ``dtype``); ``dtype=None`` keeps the array's own.
    """
    array = np.asarray(array)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(
            f"{name} must be a numeric array. Received: {name} of dtype {array.dtype}"
        )
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    bad = ~np.isfinite(array)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} must be finite. Received: {int(bad.sum())} NaN or infinite "
            f"value(s) in {name}, the first at index {first}. {hint}"
        )
    return array
