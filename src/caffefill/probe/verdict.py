"""The verdict on a probed net: ``vanishes``, ``saturates``, ``explodes`` or ``steady``.

Over the layers whose output carries signal on (losses, accuracies and
softmaxes left out), first rule that holds:

1. ``explodes``: some output or gradient is not finite (inf or NaN);
2. ``saturates``: over the deeper half of the saturating layers (Sigmoid,
   TanH: those with rails), on average at least :data:`SATURATED` of the
   outputs lie within 0.01 of a rail;
3. ``vanishes``: the last layer's output std is below :data:`VANISH` times
   the std of the first layer's input (the net's input as fed, so that a
   first layer that only sets the scale for a normalization after it is not
   counted; the first layer's output when the input is constant), or that
   reference is 0;
4. ``explodes``: it is above :data:`EXPLODE` times the first layer's;
5. ``steady`` otherwise.

Gradients are reported (the ratio of the first layer's gradient std to the
last layer's) but do not decide: a steady sigmoid stack still divides its
gradient by about 4 per layer, which is the sigmoid's slope, not the init.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: The verdicts, from the worst kind of failure to none.
VERDICTS = ("explodes", "saturates", "vanishes", "steady")

#: Last/first output std below which the signal vanishes over the depth.
VANISH = 1e-2
#: Last/first output std above which it explodes.
EXPLODE = 1e2
#: Mean saturated share of the deeper saturating layers at which the net saturates.
SATURATED = 0.25


@dataclass(frozen=True)
class Verdict:
    name: str
    #: Why, in words (names the layers the rule looked at).
    reason: str
    #: Std of the last signal layer's output over the first one's input's.
    depth_ratio: float | None
    #: Mean saturated share of the deeper half of the saturating layers.
    deep_saturation: float | None
    #: Gradient std at the first signal layer's input over the last's.
    grad_ratio: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"verdict": self.name, "reason": self.reason,
                "depth_ratio": _finite(self.depth_ratio),
                "deep_saturation": _finite(self.deep_saturation),
                "grad_ratio": _finite(self.grad_ratio)}


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def flag(ratio: float | None, threshold: float) -> str | None:
    """"grows" / "shrinks" when a layer changes the std by more than ``threshold``."""
    if ratio is None:
        return None
    if ratio > threshold:
        return "grows"
    if ratio < 1 / threshold:
        return "shrinks"
    return None


def judge(layers: Sequence[Any]) -> Verdict:
    """The verdict on probed layers (:class:`caffefill.probe.measure.LayerProbe`)."""
    signal = [p for p in layers if p.signal]
    stds = [p for p in signal if p.std is not None]
    depth_ratio = None
    reference, what = None, ""
    if stds:
        first = stds[0]
        if first.input_std:
            reference, what = first.input_std, f"'{first.layer}' input"
        else:
            reference, what = first.std, f"'{first.layer}' output"
        if reference > 0:
            depth_ratio = stds[-1].std / reference
    rails = [p for p in signal if p.saturated is not None]
    deep = rails[len(rails) // 2:]
    deep_saturation = sum(p.saturated for p in deep) / len(deep) if deep else None
    grads = [p for p in signal if p.grad_std is not None]
    grad_ratio = None
    if len(grads) >= 2 and grads[-1].grad_std > 0:
        grad_ratio = grads[0].grad_std / grads[-1].grad_std

    def verdict(name: str, reason: str) -> Verdict:
        return Verdict(name, reason, depth_ratio, deep_saturation, grad_ratio)

    broken = next((p for p in layers if p.nonfinite > 0 or p.grad_nonfinite > 0), None)
    if broken is not None:
        part = "output" if broken.nonfinite > 0 else "gradient"
        return verdict("explodes", f"layer '{broken.layer}': its {part} is not finite")
    if not stds:
        return verdict("steady", "no layer carries signal")
    last = stds[-1]
    if deep_saturation is not None and deep_saturation >= SATURATED:
        return verdict("saturates", f"{deep_saturation:.0%} of the outputs of the deeper "
                                    f"saturating layers ('{deep[0].layer}' to "
                                    f"'{deep[-1].layer}') are within 0.01 of a rail")
    if depth_ratio is None:
        return verdict("vanishes", f"{what} is constant")
    span = f"'{last.layer}' output std {last.std:.3g} / {what} std {reference:.3g}"
    if depth_ratio < VANISH:
        return verdict("vanishes", f"{span} = {depth_ratio:.3g} (below {VANISH:g})")
    if depth_ratio > EXPLODE:
        return verdict("explodes", f"{span} = {depth_ratio:.3g} (above {EXPLODE:g})")
    return verdict("steady", f"{span} = {depth_ratio:.3g}")
