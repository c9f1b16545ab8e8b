"""XLA's float32 CPU arithmetic, transcribed for numba kernels.

The fused neuron kernels (`rateconv.simulator._fused`) must give bit for bit
the spikes and states of the XLA neuron loop they replace.  XLA on the CPU
evaluates ``expm1`` and ``log1p`` with its own polynomial and rational
approximations (not libm), and lets LLVM contract every multiply whose only
use is an add or subtract into a fused multiply-add.  So each function here is
the instruction sequence XLA emits (TensorFlow 2.21, read from its optimized
LLVM IR), with the contractions written out as `fma`; numba compiles the rest
without contraction (``fastmath=False``).  `tests/test_fused.py` checks them
against XLA over every float32 in the ranges the neurons use.

Everything is scalar float32 code without branches (selects only), so LLVM
vectorizes the kernels' loops over neurons.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic


def _f(bits):
    """The float32 whose bit pattern is ``bits``."""
    return np.array(bits, np.uint32).view(np.float32)[()]


# ------------------------------------------------------------ LLVM intrinsics


def _unary_intrinsic(name):
    @intrinsic
    def fn(typingctx, x):
        def codegen(context, builder, signature, args):
            f = builder.module.declare_intrinsic(name, [ir.FloatType()])
            return builder.call(f, args)

        return types.float32(types.float32), codegen

    return fn


floor32 = _unary_intrinsic("llvm.floor")
fabs32 = _unary_intrinsic("llvm.fabs")


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (LLVM's ``llvm.fma.f32``)."""

    def codegen(context, builder, signature, args):
        t = ir.FloatType()
        fnty = ir.FunctionType(t, [t, t, t])
        f = builder.module.declare_intrinsic("llvm.fma", [t], fnty)
        return builder.call(f, args)

    return types.float32(types.float32, types.float32, types.float32), codegen


@intrinsic
def copysign32(typingctx, mag, sign):
    def codegen(context, builder, signature, args):
        t = ir.FloatType()
        fnty = ir.FunctionType(t, [t, t])
        f = builder.module.declare_intrinsic("llvm.copysign", [t], fnty)
        return builder.call(f, args)

    return types.float32(types.float32, types.float32), codegen


@intrinsic
def as_int(typingctx, x):
    """The bits of float32 ``x`` as an int32."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen


@intrinsic
def as_float(typingctx, i):
    """The float32 whose bits are int32 ``i``."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@intrinsic
def lshr23(typingctx, i):
    """``i >>> 23`` (logical shift) of an int32."""

    def codegen(context, builder, signature, args):
        return builder.lshr(args[0], ir.Constant(ir.IntType(32), 23))

    return types.int32(types.int32), codegen


@intrinsic
def to_int(typingctx, x):
    """float32 -> int32, truncating (``fptosi``)."""

    def codegen(context, builder, signature, args):
        return builder.fptosi(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen


@intrinsic
def to_float(typingctx, i):
    """int32 -> float32 (``sitofp``)."""

    def codegen(context, builder, signature, args):
        return builder.sitofp(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


# ------------------------------------------------------------------ constants

ZERO = np.float32(0.0)
ONE = np.float32(1.0)
HALF = np.float32(0.5)
MINUS_ONE = np.float32(-1.0)
MINUS_HALF = np.float32(-0.5)

# exp (Cephes-style, range-reduced by log(2) in two parts)
_EXP_LO, _EXP_HI = _f(0xC2AF999A), _f(0x42B1999A)  # -87.8, 88.8
_LOG2E = _f(0x3FB8AA3B)
_LN2_HI, _LN2_LO = _f(0x3F318000), _f(0xB95E8083)
_EXP_P = tuple(
    _f(b) for b in (0x39506967, 0x3AB743CE, 0x3C088908, 0x3D2AA9C1, 0x3E2AAAAA)
)
_EXP_N_LO, _EXP_N_HI = np.float32(-127.0), np.float32(127.0)
_EXP_BIAS = np.int32(0x3F800000)

# tanh (rational, as expm1(x) = tanh(x / 2) (exp(x) + 1) for |x| <= 0.5)
_TANH_TINY = _f(0x39D1B717)  # 0.0004
_TANH_CLAMP = _f(0x40FFF644)  # 7.9988117
_TANH_BIG = np.float32(20.0)
_TANH_N = tuple(
    _f(b)
    for b in (
        0xA59F25C0,
        0x2A61337E,
        0xAEBD37FF,
        0x335C0041,
        0x3779434A,
        0x3A270DED,
        0x3BA059DC,
    )
)
_TANH_D = tuple(_f(b) for b in (0x35A0D3D8, 0x38F895D6, 0x3B14AA05, 0x3BA059DD))

# log (Cephes-style, mantissa in [sqrt(1/2), sqrt(2)))
_FLT_MIN = _f(0x00800000)
_SQRT_HALF = _f(0x3F3504F3)
_MANT_MASK = np.int32(-2139095041)  # 0x807FFFFF
_HALF_BITS = np.int32(0x3F000000)
_LOG_A = (_f(0x3D9021BB), _f(0xBDEBD1B8), _f(0x3DEF251A))
_LOG_B = (_f(0xBDFE5D4F), _f(0x3E11E9BF), _f(0xBE2AAE50))
_LOG_C = (_f(0x3E4CCEAC), _f(0xBE7FFFFC), _f(0x3EAAAAAA))
_INF_BITS = np.int32(0x7F800000)
_NEG_INF_BITS = np.int32(-8388608)  # 0xFF800000
_NAN_BITS = np.int32(-1)
_INF = _f(0x7F800000)

# log1p for |x| < sqrt(2) - 1 (rational, Cephes)
_LOG1P_SMALL = _f(0x3ED413CD)
_LOG1P_D = tuple(
    _f(b)
    for b in (0x417101AD, 0x42A6185B, 0x435DC32D, 0x439A8CA3, 0x43586D8A, 0x42707982)
)
_LOG1P_N = tuple(
    _f(b)
    for b in (
        0x383DE04B,
        0x3EFF40C5,
        0x40D284FA,
        0x41EF4B9C,
        0x4273CC76,
        0x426473AD,
        0x41A05101,
    )
)


# ------------------------------------------------------------------ functions


@njit(inline="always", fastmath=False, error_model="numpy")
def _exp_parts(x):
    """XLA's exp(x) before its ``- 1``: returns the product ``y * 2**n``."""
    x = _EXP_LO if x < _EXP_LO else x
    x = _EXP_HI if x > _EXP_HI else x
    n = floor32(fma(x, _LOG2E, HALF))
    n = _EXP_N_LO if n < _EXP_N_LO else n
    n = _EXP_N_HI if n > _EXP_N_HI else n
    r = fma(-n, _LN2_HI, x)
    r = fma(-n, _LN2_LO, r)
    p = fma(r, _EXP_P[0], _EXP_P[1])
    p = fma(p, r, _EXP_P[2])
    p = fma(p, r, _EXP_P[3])
    p = fma(p, r, _EXP_P[4])
    p = fma(p, r, HALF)
    y = fma(p, r * r, r) + ONE
    return y * as_float((to_int(n) << 23) + _EXP_BIAS)


@njit(inline="always", fastmath=False, error_model="numpy")
def expm1(x):
    """XLA's float32 ``expm1`` on the CPU."""
    e = _exp_parts(x)
    h = x * HALF
    ah = fabs32(h)
    c = -_TANH_CLAMP if h < -_TANH_CLAMP else h
    c = _TANH_CLAMP if c > _TANH_CLAMP else c
    c2 = c * c
    num = fma(c2, _TANH_N[0], _TANH_N[1])
    num = fma(c2, num, _TANH_N[2])
    num = fma(c2, num, _TANH_N[3])
    num = fma(c2, num, _TANH_N[4])
    num = fma(c2, num, _TANH_N[5])
    num = fma(c2, num, _TANH_N[6])
    den = fma(c2, _TANH_D[0], _TANH_D[1])
    den = fma(c2, den, _TANH_D[2])
    den = fma(c2, den, _TANH_D[3])
    t = (c * num) / den
    t = h if ah < _TANH_TINY else t
    t = copysign32(ONE, h) if ah >= _TANH_BIG else t
    small = t * (e + ONE)
    out = (e + MINUS_ONE) if fabs32(x) > HALF else small
    return x if h == ZERO else out


@njit(inline="always", fastmath=False, error_model="numpy")
def _log(xp1):
    """XLA's float32 ``log`` of ``xp1`` (the large-argument branch of log1p)."""
    m = xp1 if xp1 > _FLT_MIN else _FLT_MIN
    bits = as_int(m)
    f = as_float((bits & _MANT_MASK) | _HALF_BITS)
    ex = to_float(lshr23(bits) - np.int32(127)) + ONE
    lt = f < _SQRT_HALF
    x = (f + MINUS_ONE) + (f if lt else ZERO)
    ex = ex - (ONE if lt else ZERO)
    x2 = x * x
    x3 = x2 * x
    a = fma(x, _LOG_A[0], _LOG_A[1])
    b = fma(x, _LOG_B[0], _LOG_B[1])
    c = fma(x, _LOG_C[0], _LOG_C[1])
    a = fma(a, x, _LOG_A[2])
    b = fma(b, x, _LOG_B[2])
    c = fma(c, x, _LOG_C[2])
    y = fma(a, x3, b)
    y = fma(y, x3, c)
    y = fma(y, x3, ex * _LN2_LO)
    y = fma(-x2, HALF, x) + y
    y = fma(ex, _LN2_HI, y)
    # special values: log(0) = -inf, log(inf) = inf, log(<0 or NaN) = NaN
    special = (
        (_INF_BITS if xp1 == _INF else np.int32(0)) if xp1 != ZERO else _NEG_INF_BITS
    )
    finite = xp1 != ZERO and xp1 != _INF
    value = _NAN_BITS if not (xp1 > ZERO) else as_int(y)
    return as_float(special | (value if finite else np.int32(0)))


@njit(inline="always", fastmath=False, error_model="numpy")
def log1p(x):
    """XLA's float32 ``log1p`` on the CPU."""
    large = _log(x + ONE)
    z = x * ZERO
    den = z + ONE
    for c in _LOG1P_D:
        den = fma(den, x, c)
    num = z + _LOG1P_N[0]
    for c in _LOG1P_N[1:]:
        num = fma(num, x, c)
    x2 = x * x
    small = x + fma(x2, MINUS_HALF, (x * x2) * (num / den))
    return small if fabs32(x) < _LOG1P_SMALL else large
