"""CF206: xavier/msra on a transposed InnerProduct (fans swapped)."""

from __future__ import annotations

from collections.abc import Iterator

from ..._proto import caffefill_pb2 as pb
from ...errors import CaffefillError
from ...fillers import fans, variance_n
from ..context import AuditContext
from ..finding import Finding
from ..rule import Rule


class TransposedFans(Rule):
    """`xavier` or `msra` on an InnerProduct with `transpose: true`.

    ## What it does
    With `transpose: true`, an InnerProduct stores its weights as [K, N]
    (inputs first) instead of [N, K].  Caffe's fillers compute
    `fan_in = count / shape[0]` and `fan_out = count / shape[1]` from the
    blob, so on a transposed blob "fan_in" is the number of outputs and
    "fan_out" the number of inputs.  Flagged when that changes the scale
    (the layer's inputs and outputs differ in number and `variance_norm`
    is not `AVERAGE`).  Needs the net's shapes.

    ## Why is this bad?
    `type: "msra"` then draws with std sqrt(2 / num_output) instead of
    sqrt(2 / inputs): with 4096 inputs and 10 outputs the weights are 20
    times too large.

    ## Example
    ```prototxt
    inner_product_param { num_output: 10 transpose: true weight_filler { type: "msra" } }
    ```

    ## Use instead
    ```prototxt
    inner_product_param { num_output: 10 transpose: true
                          weight_filler { type: "msra" variance_norm: FAN_OUT } }
    ```
    """

    code = "CF206"
    name = "transposed-fans"
    severity = "warning"
    tier = "shapes"

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        for blob, filler in ctx.filled_blobs("xavier", "msra", weights=True):
            layer = blob.layer
            if layer.type != "InnerProduct" or not layer.param.inner_product_param.transpose \
                    or len(blob.spec.shape) != 2:
                continue
            shape = tuple(blob.spec.shape)
            try:
                used = variance_n(filler, fans(shape, ctx.profile))
                meant = variance_n(filler, fans(shape[::-1], ctx.profile))
            except CaffefillError:
                continue
            if used == meant:
                continue
            norm = pb.FillerParameter.VarianceNorm.Name(filler.variance_norm)
            swapped = "FAN_OUT" if norm == "FAN_IN" else "FAN_IN"
            factor = (meant / used) ** 0.5
            yield self.finding(
                ctx, ctx.blob_place(blob),
                f"{filler.type} ({norm}) on a transposed InnerProduct [{shape[0]}, {shape[1]}] "
                f"uses n = {used:g} where the layer's {norm.lower().replace('_', '-')} is "
                f"{meant:g}: the weights are {factor:.3g}x "
                f"{'too large' if factor > 1 else 'too small'}",
                f"use variance_norm: {swapped} (Caffe's fans are swapped for transposed "
                f"weights)")
