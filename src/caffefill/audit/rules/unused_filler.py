"""CF208: a filler block that fills nothing."""

from __future__ import annotations

from collections.abc import Iterator

from ..context import AuditContext
from ..finding import Finding
from ..rule import Rule

#: Layers whose fillers are not (all) learnable blobs of the model.
_SKIP_TYPES = frozenset({"Python", "DummyData"})


class UnusedFiller(Rule):
    """A filler is written where the layer never reads it.

    ## What it does
    Flags filler blocks that do not fill any blob of their layer: a
    `bias_filler` with `bias_term: false`, a `weight_filler` in a
    `convolution_param` of a layer type that does not read that message
    (a Pooling layer, say), SegNet's `scale_filler` on a PSPNet-style BN
    that reads `slope_filler`.  Layers outside the audited phase, Python
    and DummyData layers, and fillers inside fields the schema does not
    know are not checked.

    ## Why is this bad?
    The filler has no effect, so the file does not do what it says: often
    the layer was meant to have the blob (`bias_term` was switched off by
    mistake) or the filler belongs to another layer.

    ## Example
    ```prototxt
    convolution_param { num_output: 64 kernel_size: 3 bias_term: false
                        weight_filler { type: "msra" }
                        bias_filler { type: "constant" value: 0.1 } }
    ```

    ## Use instead
    ```prototxt
    convolution_param { num_output: 64 kernel_size: 3 bias_term: false
                        weight_filler { type: "msra" } }
    ```
    """

    code = "CF208"
    name = "unused-filler"
    severity = "warning"
    tier = "structure"

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        used = {(b.block.line, b.block.column) for b in ctx.blobs() if b.block is not None}
        for block in ctx.src.filler_blocks:
            if not block.known or (block.line, block.column) in used:
                continue
            layer = ctx.layer_for_block(block)
            if layer is None or layer.index in ctx.placeholder_layers \
                    or ctx.layer_type(layer) in _SKIP_TYPES:
                continue
            field = block.field_path.rsplit(".", 1)[-1]
            owner = block.field_path.split(".", 1)[0]
            reason = f"no blob of this {layer.type} layer is filled from {block.field_path}"
            if field == "bias_filler" and owner != "layer":
                params = getattr(layer.param, owner, None)
                if params is not None and hasattr(params, "bias_term") and not params.bias_term:
                    reason = f"this {layer.type} layer has bias_term: false, so it has no bias"
            yield self.finding(ctx, ctx.block_place(block),
                               f"{field} is never used: {reason}",
                               f"remove {field}, or give the layer the blob it describes")
