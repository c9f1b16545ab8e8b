"""Which arithmetic the spike-reading layers use on this machine.

``"int8"`` by default on a CPU: the layers that read whole spikes run as
exact integer sums with int8 weights (`rateconv.simulator._integer`), the
same numbers on every CPU (on int8 instructions where the CPU has AVX512-VNNI,
AVX-VNNI or AMX-INT8, else as exact float32 sums), and at least as fast as
bfloat16 and float32 on the AMD EPYC (AVX-512 with VNNI and BF16, no AMX) it
was measured on (`examples/guides/speed.md`).  With a GPU visible: float32.
bfloat16 is worth it only where the CPU multiplies bfloat16 natively
(AVX512-BF16 or AMX); elsewhere TensorFlow emulates it.
"""

from __future__ import annotations

import functools
import os

PRECISION_ENV = "RATECONV_PRECISION"
"""Environment variable that fixes what ``precision="auto"`` means
(``int8``, ``float32`` or ``bfloat16``)."""

BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""/proc/cpuinfo flags of native bfloat16 arithmetic."""


@functools.lru_cache(maxsize=4)
def cpu_flags(cpuinfo="/proc/cpuinfo"):
    """The CPU's instruction-set flags from /proc/cpuinfo (empty if unknown)."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@functools.lru_cache(maxsize=1)
def cpu_has_bf16(cpuinfo="/proc/cpuinfo"):
    """Whether the CPU has native bfloat16 instructions (False if unknown)."""
    return any(flag in cpu_flags(cpuinfo) for flag in BF16_FLAGS)


def auto_precision():
    """``"int8"`` on a CPU (the same results on every CPU), ``"float32"``
    with a GPU visible; ``$RATECONV_PRECISION`` overrides it.

    Example
    -------
    >>> from rateconv.simulator import auto_precision
    >>> auto_precision() in ("int8", "float32", "bfloat16")
    True
    """
    chosen = os.environ.get(PRECISION_ENV, "").strip().lower()
    if chosen in ("float32", "bfloat16", "int8"):
        return chosen
    if chosen:
        raise ValueError(
            f"{PRECISION_ENV} must be 'int8', 'float32' or 'bfloat16'. Received: "
            f"{PRECISION_ENV}={os.environ[PRECISION_ENV]!r}"
        )
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU"):
        return "float32"
    return "int8"
