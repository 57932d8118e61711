"""CF202: fillers whose scales make the forward signal vanish or explode."""

from __future__ import annotations

from collections.abc import Iterator

from ..context import AuditContext
from ..finding import Finding
from ..graph import activation_family
from ..rule import Rule
from ..signal import Level, Trail, outside, propagate


def _ratio_text(ratio: float) -> str:
    """``350x`` or ``1/350``."""
    if ratio >= 1.0:
        return f"{ratio:.3g}x"
    return f"1/{1.0 / ratio:.3g}" if ratio > 0 else "0"


def _trail_text(steps: list[Trail], limit: int = 6) -> str:
    if len(steps) > limit:
        shown: list[Trail | None] = [*steps[: limit - 2], None, *steps[-2:]]
    else:
        shown = list(steps)
    return ", ".join("..." if step is None else f"{step.name} x{step.factor:.2g}"
                     for step in shown)


class SignalScale(Rule):
    """The fillers' scales make the activations shrink or grow past a threshold.

    ## What it does
    Estimates, layer by layer through the net's real graph (bottoms and
    tops), how the second moment of the activations changes at
    initialisation: a weight layer multiplies it by fan-in x E[w^2] of its
    filler; ReLU halves it (PReLU and leaky ReLU a little less), Sigmoid
    and TanH compress and saturate it; max pooling raises it, average
    pooling lowers it; LRN divides it; training-time Dropout scales it by
    1/(1-p); Eltwise sums add, Concat averages; BatchNorm, MVN and
    Normalize reset it.  The first layer where the activations' standard
    deviation is more than `--signal-threshold` (default 100) times smaller
    or larger than at the net's input (or at the last reset) is reported
    once per net, with each weight layer's factor and the filler that keeps
    the scale steady: `msra` in ReLU nets, `xavier` otherwise.  An image
    data layer's input is taken at the scale of 8-bit pixels after its
    `transform_param` (std ~65 with a mean subtracted, ~130 without, times
    `scale`) and bringing it down to unit scale is not counted; other
    inputs (Input, HDF5Data, Python) are taken as unit-scaled.  Needs the
    net's shapes.

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
        threshold = ctx.options.signal_threshold
        for step in propagate(ctx):
            for level in step.tops:
                if level is None or not level.trail:
                    continue
                if outside(level, threshold):
                    yield self._report(ctx, step.layer.name, level, threshold)
                    return

    def _report(self, ctx: AuditContext, crossing: str, level: Level, threshold: float
                ) -> Finding:
        assert ctx.model is not None and level.trail is not None
        steps = level.trail.steps()
        layer = ctx.model.layers[level.trail.layer]
        last = layer.name
        relu = activation_family(ctx) == "relu"
        better = "msra" if relu else "xavier"
        ratio = level.ratio
        direction = "shrinks" if ratio < 1.0 else "grows"
        after = f" (after '{crossing}')" if crossing != last else ""
        scale = f"std ~{level.std:.2g}"
        if level.base != 1.0:
            scale += f", input std ~{level.base:.3g}"
        message = (f"the forward signal {direction} past {threshold:g}x by layer '{last}'"
                   f"{after}: activations are ~{_ratio_text(ratio)} of the input's scale "
                   f"({scale}; estimated std factor per weight layer: {_trail_text(steps)})")
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
