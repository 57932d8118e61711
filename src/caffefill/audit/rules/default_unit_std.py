"""CF208: a gaussian weight filler without std (Caffe's default std is 1)."""

from __future__ import annotations

from collections.abc import Iterator

from ..context import AuditContext
from ..finding import Finding
from ..rule import Rule


class DefaultUnitStd(Rule):
    """A gaussian weight filler gives no `std`, so Caffe draws with std 1.

    ## What it does
    Flags `type: "gaussian"` weight fillers (Convolution, Deconvolution,
    InnerProduct, Embed, recurrent layers) that do not set `std`.

    ## Why is this bad?
    `FillerParameter.std` defaults to 1.  A unit summing n inputs then
    starts with n times the input's variance: with a 3x3x256 convolution
    that is 2304x (48x in standard deviation) per layer.  Writing
    `type: "gaussian"` alone almost always means the std was forgotten.

    ## Example
    ```prototxt
    weight_filler { type: "gaussian" }
    ```

    ## Use instead
    ```prototxt
    weight_filler { type: "gaussian" std: 0.01 }
    ```
    (or `type: "msra"`, which derives the std from the fan-in).
    """

    code = "CF208"
    name = "default-unit-std"
    severity = "warning"
    tier = "structure"

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        for blob, filler in ctx.filled_blobs("gaussian", weights=True):
            if filler.HasField("std"):
                continue
            yield self.finding(
                ctx, ctx.blob_place(blob),
                f"gaussian filler without std for the {blob.what} of this {blob.layer.type} "
                f"layer: Caffe's default std is 1",
                'set std (e.g. std: 0.01), or use type: "msra"/"xavier" to derive it from '
                "the fan-in")
