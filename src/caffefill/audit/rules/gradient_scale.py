"""CF212: gradients that vanish or explode on the way back while the forward signal holds."""

from __future__ import annotations

from collections.abc import Iterator

from ..context import AuditContext
from ..finding import Finding
from ..rule import Rule
from ..signal import SATURATING_STEPS, first_drift, first_gradient_drift, ratio_text


class GradientScale(Rule):
    """The gradient shrinks or grows past a threshold on its way back to the input.

    ## What it does
    With the estimate of CF202, follows the gradient's second moment
    backwards, summed over the blob (its size per sample: a stride-2
    pooling concentrates it on a quarter of the values but keeps the sum,
    and a layer's weight gradients sum over every position): through a
    weight layer it is multiplied by fan-in x E[w^2] of the filler (each
    input feeds count(top) x fan-in / count(bottom) outputs), through an
    activation by the mean squared slope at the estimated pre-activations
    (a ReLU's share of positive inputs; a sigmoid's slope is at most 1/4),
    through pooling, Dropout, sums and products by what they route back.
    Through weight layers, pooling and ReLUs the gradient changes about as
    the forward signal does (CF202 judges that); an activation whose mean
    squared slope E[f'(z)^2] differs from its signal gain E[f(z)^2] /
    E[z^2] (a sigmoid: slope at most 1/4, mean 0.5) makes them part.  Where
    the activations between the output of the first weight layer after the
    input (or after the last BatchNorm, MVN or Normalize) and a later layer
    make the gradient shrink or grow `--signal-threshold` (default 100)
    times more than the signal, the first such layer is reported once per
    net, with that number and the estimated gradient.  Nets whose forward signal
    already drifts are CF202's (its message gives the gradient too).
    Needs the net's shapes.

    ## Why is this bad?
    The first layers learn at the rate of the gradient that reaches them:
    a deep sigmoid stack with xavier keeps its forward signal steady, yet
    its gradient loses three quarters of its size at every layer, and the
    first layers barely move (Glorot & Bengio, 2010); an exploding
    gradient makes the first updates overshoot.

    ## Example
    ```prototxt
    # 5 InnerProduct + Sigmoid layers, every one
    weight_filler { type: "xavier" }
    ```

    ## Use instead
    ```prototxt
    # ReLU (or TanH) activations, msra (xavier) weights, or BatchNorm between
    weight_filler { type: "msra" }
    ```
    """

    code = "CF212"
    name = "gradient-scale"
    severity = "warning"
    tier = "shapes"

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        threshold = ctx.options.signal_threshold
        if first_drift(ctx, threshold) is not None:
            return
        found = first_gradient_drift(ctx, threshold)
        if found is None:
            return
        layer, level, ratio, excess = found
        assert ctx.model is not None and level.trail is not None
        first = level.trail.steps()[0].name
        verb = "shrink" if excess < 1.0 else "grow"
        message = (f"the activations' slopes make the gradient {verb} past "
                   f"{threshold:g}x more than the signal on its way back from layer "
                   f"'{layer.name}' to '{first}': ~{ratio_text(excess)} (estimated: the "
                   f"gradient reaching '{first}' is ~{ratio_text(ratio)} of its size here)")
        saturating = any(ctx.traits(other).step in SATURATING_STEPS
                         for other in ctx.model.layers[:layer.index + 1])
        if saturating and verb == "shrink":
            fix = ("sigmoid/tanh slopes shrink it at every layer: use ReLU with msra weights, "
                   "or add BatchNorm between the layers")
        else:
            fix = ('keep fan-out x E[w^2] near 1 (weight_filler { type: "msra" '
                   "variance_norm: FAN_OUT }), or add BatchNorm between the layers")
        yield self.finding(ctx, ctx.layer_place(layer), message, fix)
