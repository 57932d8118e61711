"""Scalar float32 arithmetic as C's ``float`` does it, in plain Python.

A float32 value is held exactly by a Python float (a double).  The double
result of ``+ - * /`` or ``sqrt`` of float32 operands, rounded once more to
float32, is the correctly rounded float32 result: a double has more than
2 x 24 + 2 bits of precision, so the double rounding never changes the
outcome (Figueroa, "When is double rounding innocuous?", 1995).  So
``f32(a * b)`` of float32 values ``a`` and ``b`` is C's ``a * b`` in float,
without numpy (which the net model and the audit then need not import: a
tenth of a second or more at start-up).  Division by zero and the square
root of a negative number give IEEE's infinities and NaN, as in C, instead
of Python's exceptions.
"""

from __future__ import annotations

import math
import struct

_PACK = struct.Struct("<f")
_BITS = struct.Struct("<I")

#: The largest finite float32.
FLT_MAX: float = _PACK.unpack(_BITS.pack(0x7F7FFFFF))[0]
#: The smallest positive float32 (a subnormal).
_DENORM_MIN: float = _PACK.unpack(_BITS.pack(1))[0]


def f32(value: float) -> float:
    """``value`` rounded to the nearest float32 (ties to even), as C's
    ``(float)value`` does: past the largest float it is an infinity."""
    try:
        return float(_PACK.unpack(_PACK.pack(value))[0])
    except OverflowError:  # finite, but rounds past FLT_MAX
        return math.copysign(math.inf, value)


def div(a: float, b: float) -> float:
    """``a / b`` in float32 (``a`` and ``b`` float32 values); by zero, an
    infinity or NaN as in C."""
    if b == 0.0:
        if a == 0.0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return f32(a / b)


def sqrt(x: float) -> float:
    """``sqrtf(x)`` of a float32 value: NaN below 0, as in C."""
    if x < 0.0 or math.isnan(x):
        return math.nan
    return f32(math.sqrt(x))


def next_up(x: float) -> float:
    """``nextafterf(x, FLT_MAX)`` of a finite float32 value: the next float32
    above it (FLT_MAX stays FLT_MAX)."""
    if x >= FLT_MAX:
        return FLT_MAX
    if x == 0.0:
        return _DENORM_MIN  # from +0 and -0
    bits = _BITS.unpack(_PACK.pack(x))[0]
    return float(_PACK.unpack(_BITS.pack(bits + 1 if x > 0 else bits - 1))[0])
