"""CF209: weights that all start with the same sign."""

from __future__ import annotations

from collections.abc import Iterator

from ..._proto import caffefill_pb2 as pb
from ..context import AuditContext
from ..finding import Finding
from ..rule import Rule


def one_sided(filler: pb.FillerParameter) -> str | None:
    """Why (nearly) every value of a weight filler has one sign, or None."""
    if filler.type == "uniform":
        lo, hi = float(filler.min), float(filler.max)
        if lo < hi and lo >= 0.0:
            return f"uniform({lo:g}, {hi:g}) draws only non-negative weights"
        if lo < hi and hi <= 0.0:
            return f"uniform({lo:g}, {hi:g}) draws only non-positive weights"
    if filler.type == "gaussian" and filler.std > 0 and \
            abs(float(filler.mean)) >= 2.0 * float(filler.std):
        return (f"gaussian(mean={filler.mean:g}, std={filler.std:g}) draws weights of one "
                f"sign 98% of the time")
    return None


class OneSidedWeights(Rule):
    """Weights are drawn (almost) all positive or all negative.

    ## What it does
    Flags weight fillers of Convolution, Deconvolution, InnerProduct, Embed
    and recurrent layers whose values share one sign: a `uniform` with
    `min >= 0` (including the default `min: 0 max: 1`) or `max <= 0`, a
    `gaussian` whose `|mean|` is at least twice its `std`.  Frozen blobs
    (fixed kernels) are not flagged; `positive_unitball` is positive by
    design and not flagged either.

    ## Why is this bad?
    Every unit then computes roughly the same weighted sum of its inputs:
    the outputs are strongly correlated, their mean grows with the fan-in
    and, before a ReLU, whole layers start all-on or all-off.  A bare
    `type: "uniform"` is U(0, 1) - usually not what was meant.

    ## Example
    ```prototxt
    weight_filler { type: "uniform" }
    ```

    ## Use instead
    ```prototxt
    weight_filler { type: "uniform" min: -0.08 max: 0.08 }
    ```
    """

    code = "CF209"
    name = "one-sided-weights"
    severity = "warning"
    tier = "structure"

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        for blob, filler in ctx.filled_blobs(weights=True):
            reason = one_sided(filler)
            if blob.frozen or reason is None:
                continue
            yield self.finding(
                ctx, ctx.blob_place(blob),
                f"the {blob.what} of this {blob.layer.type} layer all start with one sign: "
                f"{reason}",
                "center the filler on zero (uniform min: -a max: a, gaussian mean: 0), or "
                'use type: "xavier"/"msra"')
