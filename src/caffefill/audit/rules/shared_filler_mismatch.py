"""CF205: layers sharing a param declare different fillers."""

from __future__ import annotations

from collections.abc import Iterator

from ...fillers import describe
from ..context import AuditContext
from ..finding import Finding
from ..rule import Rule


class SharedFillerMismatch(Rule):
    """A layer sharing a named param declares a filler that differs from the owner's.

    ## What it does
    For every blob shared by name (`param { name: "w" }`), compares the
    filler the sharing layer writes with the one of the layer that owns the
    param (the first layer with that name).

    ## Why is this bad?
    Only the owner's filler counts: Caffe draws the sharing layer's fill
    (it still consumes the random stream) and then replaces the blob with
    the owner's.  A different filler on a sharing layer suggests the author
    thinks it matters - or that the sharing is a mistake.

    ## Example
    ```prototxt
    layer { name: "conv1"   param { name: "conv1_w" } ...
            convolution_param { weight_filler { type: "xavier" } } }
    layer { name: "conv1_p" param { name: "conv1_w" } ...
            convolution_param { weight_filler { type: "gaussian" std: 0.01 } } }
    ```

    ## Use instead
    ```prototxt
    layer { name: "conv1"   param { name: "conv1_w" } ...
            convolution_param { weight_filler { type: "xavier" } } }
    layer { name: "conv1_p" param { name: "conv1_w" } ...
            convolution_param { weight_filler { type: "xavier" } } }
    ```
    """

    code = "CF205"
    name = "shared-filler-mismatch"
    severity = "warning"
    tier = "structure"

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        assert ctx.model is not None
        for blob in ctx.blobs():
            if blob.owner is None or not blob.explicit:
                continue
            owner = ctx.owner_blob(blob)
            if owner is blob or owner.filler == blob.filler:
                continue
            name = blob.layer.param_specs[blob.index] if blob.index < len(
                blob.layer.param_specs) else ""
            owned = describe(owner.filler) if owner.explicit else \
                f"no filler ({describe(owner.filler)})"
            yield self.finding(
                ctx, ctx.blob_place(blob),
                f"param '{name}' is owned by layer '{owner.layer.name}', filled with {owned}; "
                f"this layer's {describe(blob.filler)} is drawn and thrown away",
                f"give this layer the owner's filler, or move the filler to layer "
                f"'{owner.layer.name}'")
