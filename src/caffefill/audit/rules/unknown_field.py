"""CF110: a field Caffe's parser does not know."""

from __future__ import annotations

from collections.abc import Iterator

from ..context import AuditContext, Place
from ..finding import Finding
from ..rule import Rule


class UnknownField(Rule):
    """A field that no message of Caffe's schema (or of the forks caffefill knows) has.

    ## What it does
    Reports every field name the prototxt reader did not recognise, with the
    field it most likely meant.  Fields of the forks caffefill reads (SSD,
    SegNet, R-FCN, PSPNet, ...) are known and stay quiet; list other forks'
    fields under `allow-fields` in the configuration (`name` or
    `Message.name`, e.g. `"LayerParameter.my_param"`).

    ## Why is this bad?
    Caffe reads prototxt with protobuf's text parser, which stops at the
    first unknown field: `caffe train` aborts before anything is built.  A
    misspelt field is worse when a fork's parser skips it: the value the
    author meant is silently replaced by the default (a `weight_std` that
    never reaches the filler leaves Caffe's std of 1).

    ## Example
    ```prototxt
    weight_filler { type: "gaussian" weight_std: 0.01 }
    ```

    ## Use instead
    ```prototxt
    weight_filler { type: "gaussian" std: 0.01 }
    ```
    """

    code = "CF110"
    name = "unknown-field"
    severity = "error"
    tier = "source"

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        allowed = set(ctx.options.allow_fields)
        for warning in ctx.src.warnings:
            if warning.field is None:
                continue
            if warning.field in allowed or f"{warning.message_type}.{warning.field}" in allowed:
                continue
            hint = f": {warning.hint}" if warning.hint else ""
            yield self.finding(
                ctx, Place(warning.line, warning.column, warning.layer),
                f"{warning.message}{hint} (Caffe's parser stops here: the file cannot be read)",
                warning.hint)
