"""CF202: fillers whose scales make the forward signal vanish or explode."""

from __future__ import annotations

import math
from collections.abc import Iterator

from ...net.model import NetLayer
from ..context import AuditContext
from ..finding import Finding
from ..graph import activation_family
from ..rule import Rule
from ..signal import Level, Trail, drift, first_drift, gradient_ratio, ratio_text


def _trail_text(steps: list[Trail], limit: int = 6) -> str:
    if len(steps) > limit:
        shown: list[Trail | None] = [*steps[: limit - 2], None, *steps[-2:]]
    else:
        shown = list(steps)
    return ", ".join("..." if step is None else f"{step.name} x{step.factor:.2g}"
                     for step in shown)


def scale_text(level: Level) -> str:
    """What the drift is measured against, for people: the input's scale, or
    unit scale when a pixel-scale input is brought to it."""
    value = drift(level.std, level.base)
    reference = min(level.base, 1.0) if value < 1.0 else max(level.base, 1.0)
    if reference == level.base:
        return f"of the input's scale (std ~{level.std:.2g}, input std ~{level.base:.3g})"
    return (f"of unit scale (std ~{level.std:.2g}; the input's std ~{level.base:.3g} "
            f"brought to unit scale is not counted)")


class SignalScale(Rule):
    """The fillers' scales make the activations shrink or grow past a threshold.

    ## What it does
    Estimates, layer by layer through the net's real graph (bottoms and
    tops), the mean and second moment of the activations at
    initialisation, as a forward pass of random inputs measures them: a
    weight layer sums fan-in inputs with its filler's mean and E[w^2] (and
    its bias); ReLU-family, Sigmoid, TanH, ELU and Swish layers transform a
    Gaussian of that mean and variance; max pooling raises the scale,
    average pooling lowers it; LRN divides it; training-time Dropout
    scales it by 1/(1-p); Eltwise sums add, Concat averages; BatchNorm,
    MVN and Normalize reset it.  The first layer where the activations'
    standard deviation drifts more than `--signal-threshold` (default 100)
    times below or above the input's (or the last reset's) is reported
    once per net, with the number compared, each weight layer's factor,
    the gradient's estimated change on the way back, and the filler that
    keeps the scale steady: `msra` in ReLU nets, `xavier` otherwise.
    Image inputs (data layers, and Input layers shaped like batches of 1-
    or 3-channel images) are taken at the scale of 8-bit pixels (std ~65
    with a mean subtracted, ~130 without, times a data layer's `scale`),
    and bringing them down to unit scale is not counted: the drift is
    measured from the band between the input's std and 1.  Other inputs
    are taken as unit-scaled.  Saturated Sigmoid/TanH units are CF211's,
    gradients that vanish while the forward signal holds CF212's.  Needs
    the net's shapes.

    ## Why is this bad?
    Gradients shrink and grow the same way on the way back: with fixed
    small gaussians (std 0.01) a deep ReLU net's signal fades geometrically,
    the early layers barely learn and training stalls or needs a
    pretrained start (the reason VGG was first trained in stages); too
    large a scale saturates sigmoids and makes losses overflow.

    ## Example
    ```prototxt
    # 13 ReLU convolutions, every one
    weight_filler { type: "gaussian" std: 0.01 }
    ```

    ## Use instead
    ```prototxt
    weight_filler { type: "msra" }
    ```
    """

    code = "CF202"
    name = "signal-scale"
    severity = "warning"
    tier = "shapes"

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        assert ctx.model is not None
        found = first_drift(ctx, ctx.options.signal_threshold)
        if found is not None:
            yield self._report(ctx, found[0], found[1], ctx.options.signal_threshold)

    def _report(self, ctx: AuditContext, at: NetLayer, level: Level, threshold: float
                ) -> Finding:
        assert ctx.model is not None and level.trail is not None
        steps = level.trail.steps()
        layer = ctx.model.layers[level.trail.layer]
        last, crossing = layer.name, at.name
        count = float(max(math.prod(at.top_shapes[0]), 1)) if at.top_shapes else 1.0
        relu = activation_family(ctx) == "relu"
        better = "msra" if relu else "xavier"
        value = drift(level.std, level.base)
        direction = "shrinks" if value < 1.0 else "grows"
        after = f" (after '{crossing}')" if crossing != last else ""
        message = (f"the forward signal {direction} past {threshold:g}x by layer '{last}'"
                   f"{after}: activations are ~{ratio_text(value)} {scale_text(level)}; "
                   f"estimated factor per weight layer: {_trail_text(steps)}")
        if len(steps) > 1:
            message += (f"; on the way back the gradient reaching '{steps[0].name}' is ~"
                        f"{ratio_text(gradient_ratio(level, count))} of its size here")
        fillers = []
        for step in steps:
            weights = ctx.weight_blobs(ctx.model.layers[step.layer])
            if weights:
                filler = ctx.owner_blob(weights[0]).filler
                fillers.append(filler.type if filler is not None else "")
        if fillers and all(kind == better for kind in fillers):
            fix = (f"the weight layers already use {better}: the change comes from the "
                   f"architecture (pooling, sums, activation slopes); add BatchNorm or "
                   f"rescale")
        else:
            kind = "ReLU" if relu else "sigmoid/tanh"
            fix = (f'use weight_filler {{ type: "{better}" }} on the weight layers: it keeps '
                   f"the scale about constant through {kind} layers")
        return self.finding(ctx, ctx.layer_place(layer), message, fix)
