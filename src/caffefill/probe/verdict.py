"""The verdict on a probed net: ``vanishes``, ``saturates``, ``explodes`` or ``steady``.

Over the layers whose output carries signal on (losses, accuracies and
softmaxes left out), with each output std taken relative to the reference
(the std of the first such layer's input: the net's input as fed, so that a
first layer whose scale a normalization resets does not count; that layer's
output when the input is constant), first rule that holds:

1. ``explodes``: some output or gradient is not finite (inf or NaN);
2. ``saturates``: over the deeper half of the saturating layers (Sigmoid,
   TanH: those with rails), on average at least :data:`SATURATED` of the
   outputs lie within 0.01 of a rail;
3. ``explodes``: some layer's output std is above :data:`EXPLODE` times the
   reference;
4. ``vanishes``: the median output std of the deepest quarter of the layers
   is below :data:`VANISH` times the reference, or the reference is 0; a
   weight layer started at zero near the end (its output constant though its
   input is not, and only constant outputs after it: its weights still
   learn) and the layers after it are left out;
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

#: Deep output std over the reference below which the signal vanishes.
VANISH = 1e-2
#: Output std over the reference above which the signal explodes.
EXPLODE = 1e2
#: Mean saturated share of the deeper saturating layers at which the net saturates.
SATURATED = 0.25


@dataclass(frozen=True)
class Verdict:
    name: str
    #: Why, in words (names the layers the rule looked at).
    reason: str
    #: Median output std of the deepest quarter of the signal layers over
    #: the reference (see the module docstring).
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
    reference, what = 0.0, ""
    if stds:
        first = stds[0]
        if first.input_std:
            reference, what = first.input_std, f"'{first.layer}' input"
        else:
            reference, what = first.std, f"'{first.layer}' output"
    # A weight layer whose output is constant though its input is not, with
    # only constant outputs after it, started at zero (its weights still
    # learn): the depth is judged before it.
    cut = next((i for i, p in enumerate(stds) if p.role == "linear" and p.std == 0
                and p.input_std and all(q.std == 0 for q in stds[i:])), len(stds))
    live = stds[:cut] or stds
    deepest = live[len(live) - max(1, len(live) // 4):]
    depth_ratio = None
    if reference > 0:
        import statistics  # (with decimal and fractions: not at the audit's start)

        depth_ratio = float(statistics.median(p.std for p in deepest)) / reference
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
    if deep_saturation is not None and deep_saturation >= SATURATED:
        return verdict("saturates", f"{deep_saturation:.0%} of the outputs of the deeper "
                                    f"saturating layers ('{deep[0].layer}' to "
                                    f"'{deep[-1].layer}') are within 0.01 of a rail")
    if depth_ratio is None:
        return verdict("vanishes", f"{what} is constant")
    peak = max(stds, key=lambda p: float(p.std))
    if peak.std > EXPLODE * reference:
        return verdict("explodes", f"'{peak.layer}' output std {peak.std:.3g} / {what} std "
                                   f"{reference:.3g} = {peak.std / reference:.3g} "
                                   f"(above {EXPLODE:g})")
    span = (f"median output std of '{deepest[0].layer}'..'{deepest[-1].layer}' / {what} "
            f"std {reference:.3g} = {depth_ratio:.3g}" if len(deepest) > 1 else
            f"'{deepest[0].layer}' output std {deepest[0].std:.3g} / {what} std "
            f"{reference:.3g} = {depth_ratio:.3g}")
    if cut < len(stds):
        span += f"; '{stds[cut].layer}' starts at zero: it and the layers after it left out"
    if depth_ratio < VANISH:
        return verdict("vanishes", f"{span} (below {VANISH:g})")
    return verdict("steady", span)
