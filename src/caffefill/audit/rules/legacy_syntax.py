"""CF303: a V0/V1 net definition."""

from __future__ import annotations

from collections.abc import Iterator

from ..context import AuditContext, Place
from ..finding import Finding
from ..rule import Rule


class LegacySyntax(Rule):
    """The file uses the legacy V1 (`layers { type: CONVOLUTION }`) or V0 syntax.

    ## What it does
    Reports once per file when the net is written with `layers` entries
    (V1 enum types, `blobs_lr`, `weight_decay`) or V0's nested
    `layers { layer { type: "conv" } }`.

    ## Why is this bad?
    Caffe upgrades such files on every load (logging a warning), forks
    differ in how far they upgrade, and the legacy fields hide what the
    current ones mean (`blobs_lr` becomes `param { lr_mult }`).  The
    upgraded text is easier to review and to audit.

    ## Example
    ```prototxt
    layers { name: "conv1" type: CONVOLUTION blobs_lr: 1 blobs_lr: 2 ... }
    ```

    ## Use instead
    ```prototxt
    layer { name: "conv1" type: "Convolution" param { lr_mult: 1 } param { lr_mult: 2 } ... }
    ```
    (`caffefill upgrade old.prototxt -o new.prototxt` writes it).
    """

    code = "CF303"
    name = "legacy-syntax"
    severity = "info"
    tier = "source"

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        if len(ctx.src.param.layers) == 0:
            return
        version = "V0" if any(e.HasField("layer") for e in ctx.src.param.layers) else "V1"
        if ctx.upgraded is not None and ctx.upgraded.was_legacy:
            version = ctx.upgraded.was_legacy
        line, column = ctx.src.legacy_positions[0] if ctx.src.legacy_positions else (1, 1)
        yield self.finding(
            ctx, Place(line, column),
            f"{version} syntax ('layers' entries): Caffe upgrades it on every load",
            f"rewrite it with `caffefill upgrade {ctx.path} -o NEW.prototxt`")
