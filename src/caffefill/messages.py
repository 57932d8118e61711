"""How caffefill words values in its messages: numbers and shapes as Caffe's
glog prints them in a CHECK failure, shapes for people, and the "did you
mean" hint for a misspelt name."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence


def glog_number(value: object) -> str:
    """A value as glog prints it in a CHECK message (C++ ostream defaults);
    NumPy's numbers as Python's."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if number.is_integer() and abs(number) < 1e16:
            return str(int(number))
        return f"{number:g}"
    return str(value)


def check_failed(expr: str, lhs: object, rhs: object, note: str = "") -> str:
    """glog's text for a failed CHECK_EQ/NE/LT/LE/GT/GE: ``expr`` is the C++ text."""
    text = f"Check failed: {expr} ({glog_number(lhs)} vs. {glog_number(rhs)})"
    return f"{text} {note}" if note else text


def shape_string(shape: Sequence[int]) -> str:
    """Blob::shape_string(): ``"2 3 4 (24)"``."""
    dims = "".join(f"{int(d)} " for d in shape)
    return f"{dims}({math.prod(int(d) for d in shape)})"


def show_shape(shape: Sequence[int]) -> str:
    """A shape for people: ``[2, 3, 4]``."""
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


def nearest(name: str, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The choice ``name`` most likely means: the same name in other case,
    else the closest by difflib (None: nothing close enough)."""
    options = list(choices)
    lowered = {choice.lower(): choice for choice in options}
    if name.lower() in lowered:
        return lowered[name.lower()]
    import difflib  # here: only a name that is not known needs it

    close = difflib.get_close_matches(name, options, n=1, cutoff=cutoff)
    return close[0] if close else None
