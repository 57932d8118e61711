"""CF307: a filler block that fills nothing."""

from __future__ import annotations

from collections.abc import Iterator

from ...net.registry import known_types, traits_of
from ..context import AuditContext
from ..finding import Finding
from ..rule import Rule


class UnusedFiller(Rule):
    """A filler is written where its layer never reads it.

    ## What it does
    Flags two kinds of dead filler blocks: a `bias_filler` in a parameter
    message whose `bias_term` is false (`bias_term: false` on a
    Convolution or InnerProduct, or a Scale layer without
    `bias_term: true`), and a filler inside a parameter message that the
    layer's type does not read at all (`inner_product_param` on a
    Convolution, `convolution_param` on a Pooling layer).  Fillers in
    fields that only some forks read, and layers outside the audited
    phase, are not checked.

    ## Why is this bad?
    The filler has no effect, so the file says something that does not
    happen.  Usually a harmless leftover of a generator script; sometimes
    the sign of a real mistake: a bias that was meant to exist, or a
    weight filler written into the wrong message while the real one is
    missing (then CF101 reports the zero weights too).

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

    code = "CF307"
    name = "unused-filler"
    severity = "info"
    tier = "structure"

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        used = {(b.block.line, b.block.column) for b in ctx.blobs() if b.block is not None}
        # The parameter messages some layer type reads (fillers in others are
        # not checked: only a fork caffefill does not model reads them).
        readers = {name for t in known_types() for name in traits_of(t).reads}
        for block in ctx.src.filler_blocks:
            if not block.known or (block.line, block.column) in used:
                continue
            parts = block.field_path.split(".")
            if len(parts) != 2 or parts[0] not in readers:
                continue
            owner, field = parts
            layer = ctx.layer_for_block(block)
            if layer is None or layer.index in ctx.placeholder_layers:
                continue
            kind = ctx.layer_type(layer)
            if owner not in ctx.traits(layer).reads:
                reason = f"a {kind} layer does not read {owner}"
            elif field == "bias_filler" and not getattr(getattr(layer.param, owner),
                                                        "bias_term", True):
                reason = f"this {kind} layer has no bias ({owner}.bias_term is false)"
            else:
                continue
            yield self.finding(ctx, ctx.block_place(block),
                               f"{field} is never used: {reason}",
                               f"remove {field}, or give the layer the blob it describes")
