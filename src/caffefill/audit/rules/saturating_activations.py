"""CF211: Sigmoid/TanH units that start in their rails."""

from __future__ import annotations

from collections.abc import Iterator

from ..context import AuditContext
from ..finding import Finding
from ..rule import Rule
from ..signal import RAIL, SATURATED_SHARE, SATURATING_STEPS, propagate


class SaturatingActivations(Rule):
    """Many Sigmoid or TanH outputs start within 1 % of their rails.

    ## What it does
    With the estimate of CF202 (the mean and variance of every
    pre-activation, through the net's real graph), computes for each
    Sigmoid and TanH layer the share of its outputs within 1 % of the
    ends of their range at initialisation (|tanh| > 0.99, sigmoid below
    0.01 or above 0.99: a pre-activation beyond 2.65 or 4.6 in absolute
    value).  When more than a quarter of a layer's outputs are there, the
    first such layer is reported once per net, with the share, the
    pre-activation's standard deviation and how many saturating layers are
    past the share.  Image inputs are taken at pixel scale as CF202 takes
    them.  Needs the net's shapes.

    ## Why is this bad?
    A saturated unit's slope is about zero: its gradient, and the
    gradient of everything before it, vanishes, and the unit is stuck
    until the weights around it change by other paths (Glorot & Bengio,
    2010).  Weights of std 1 on a 100-wide layer make pre-activations of
    std ~10: half the sigmoids start saturated, although the forward
    signal's scale looks steady.

    ## Example
    ```prototxt
    layer { name: "fc1" type: "InnerProduct" bottom: "data" top: "fc1"
            inner_product_param { num_output: 100
                                  weight_filler { type: "gaussian" std: 1 } } }
    layer { name: "act1" type: "Sigmoid" bottom: "fc1" top: "fc1" }
    ```

    ## Use instead
    ```prototxt
    layer { name: "fc1" type: "InnerProduct" bottom: "data" top: "fc1"
            inner_product_param { num_output: 100 weight_filler { type: "xavier" } } }
    layer { name: "act1" type: "Sigmoid" bottom: "fc1" top: "fc1" }
    ```
    """

    code = "CF211"
    name = "saturating-activations"
    severity = "warning"
    tier = "shapes"

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        past = []
        for step in propagate(ctx):
            if ctx.traits(step.layer).step not in SATURATING_STEPS:
                continue
            level = step.tops[0] if step.tops else None
            if level is not None and level.saturated > SATURATED_SHARE:
                past.append((step.layer, level))
        if not past:
            return
        layer, level = past[0]
        total = sum(1 for step in propagate(ctx)
                    if ctx.traits(step.layer).step in SATURATING_STEPS)
        message = (f"~{level.saturated:.0%} of this {layer.type} layer's outputs start within "
                   f"{RAIL:.0%} of their rails (estimated pre-activation std "
                   f"~{level.pre_std:.2g}); {len(past)} of the net's {total} Sigmoid/TanH "
                   f"layers start more than {SATURATED_SHARE:.0%} saturated")
        fix = ('scale the weights before it to the fan-in (weight_filler { type: "xavier" }), '
               "scale the input to unit size, or add BatchNorm before the activation")
        yield self.finding(ctx, ctx.layer_place(layer), message, fix)
