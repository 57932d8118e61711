"""CF103: a filler type Caffe does not know."""

from __future__ import annotations

from collections.abc import Iterator

from ...fillers import caffe_unknown_error
from ..context import AuditContext
from ..finding import Finding
from ..rule import with_caffe_text
from ._refusal import RefusalRule


class UnknownFillerType(RefusalRule):
    """The filler's type is not one of Caffe's seven.

    ## What it does
    Checks every filler block's `type` against Caffe's fillers: `constant`,
    `gaussian`, `positive_unitball`, `uniform`, `xavier`, `msra` and
    `bilinear` (names are case-sensitive), and names the nearest one.
    caffefill's own fillers (`orthogonal`, `trunc_normal`) are reported too:
    `caffefill init` fills them, but Caffe aborts on them like on any other
    name it does not know, so no Caffe can use a prototxt that names them.

    ## Why is this bad?
    `GetFiller` ends in `LOG(FATAL) << "Unknown filler name"`: Caffe aborts
    when the layer is set up.  Typos such as `"Xavier"`, `"gauss"` or
    `"he"` are the usual cause.

    ## Example
    ```prototxt
    weight_filler { type: "Xavier" }
    ```

    ## Use instead
    ```prototxt
    weight_filler { type: "xavier" }
    ```
    """

    code = "CF103"
    name = "unknown-filler-type"

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        yield from super().check(ctx)
        for block in ctx.src.filler_blocks:
            error = caffe_unknown_error(block.filler.type)
            if error is not None:
                yield self.finding(ctx, ctx.block_place(block), with_caffe_text(error))
