"""Which arithmetic the spike-reading layers should use on this machine.

bfloat16 is worth it only where the CPU multiplies bfloat16 natively
(AVX512-BF16 or AMX, which oneDNN uses for convolutions and matrix products);
elsewhere TensorFlow emulates it and float32 is faster.  On the four shipped
networks bfloat16 costs at most 0.08 points of accuracy on the 10,000
Fashion-MNIST test images at 10 or 30 steps (issue #15; `rateconv bench`
shows the speed).
"""

from __future__ import annotations

import functools
import os

PRECISION_ENV = "RATECONV_PRECISION"
"""Environment variable that fixes what ``precision="auto"`` means
(``float32`` or ``bfloat16``), e.g. for results that must not depend on the
machine."""

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
    """``"bfloat16"`` where the CPU has native bfloat16 (and no GPU is
    visible), else ``"float32"``; ``$RATECONV_PRECISION`` overrides it."""
    chosen = os.environ.get(PRECISION_ENV, "").strip().lower()
    if chosen in ("float32", "bfloat16"):
        return chosen
    if chosen:
        raise ValueError(
            f"{PRECISION_ENV} must be 'float32' or 'bfloat16'. Received: "
            f"{PRECISION_ENV}={os.environ[PRECISION_ENV]!r}"
        )
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU"):
        return "float32"
    return "bfloat16" if cpu_has_bf16() else "float32"
