"""What a filler means for a blob: a short description and the spread it gives.

Used by ``caffefill show`` and by the audit rules that reason about scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ._proto import caffefill_pb2 as pb
from .errors import CaffefillError
from .fillers import fans, msra_std, xavier_scale
from .profiles import DEFAULT_PROFILE, Profile

_NORMS = {pb.FillerParameter.FAN_IN: "FAN_IN", pb.FillerParameter.FAN_OUT: "FAN_OUT",
          pb.FillerParameter.AVERAGE: "AVERAGE"}


def describe(param: pb.FillerParameter | None) -> str:
    """``gaussian(std=0.01)``-style summary of the parameters that matter."""
    if param is None:
        return "zeros"
    t = param.type
    if t == "constant":
        return f"constant({param.value:g})"
    if t == "gaussian":
        extra = f", sparse={param.sparse}" if param.sparse >= 0 else ""
        mean = f"mean={param.mean:g}, " if param.mean else ""
        return f"gaussian({mean}std={param.std:g}{extra})"
    if t == "uniform":
        return f"uniform({param.min:g}, {param.max:g})"
    if t in ("xavier", "msra"):
        return f"{t}({_NORMS.get(param.variance_norm, '?')})"
    return t


def fan_values(shape: Sequence[int], profile: Profile = DEFAULT_PROFILE) -> tuple[int, int] | None:
    """(fan_in, fan_out) as the profile's Caffe computes them, or None if it cannot."""
    if not shape:
        return (1, 1)
    try:
        f = fans(shape, profile)
    except CaffefillError:
        return None
    return f.fan_in, f.fan_out


def filler_std(param: pb.FillerParameter | None, shape: Sequence[int],
               profile: Profile = DEFAULT_PROFILE) -> float | None:
    """The standard deviation of the values the filler draws (None: not random)."""
    if param is None:
        return 0.0
    t = param.type
    try:
        if t == "constant":
            return 0.0
        if t == "gaussian":
            std = float(param.std)
            if param.sparse >= 0 and shape and shape[0]:
                std *= math.sqrt(min(1.0, param.sparse / shape[0]))
            return std
        if t == "uniform":
            return float(param.max - param.min) / math.sqrt(12.0)
        if t == "xavier":
            return xavier_scale(param, shape, profile) / math.sqrt(3.0)
        if t == "msra":
            return msra_std(param, shape, profile)
    except (CaffefillError, ZeroDivisionError, ValueError, OverflowError):
        return None
    return None
