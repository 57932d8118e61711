"""CF201: filler parameters the chosen type never reads."""

from __future__ import annotations

from collections.abc import Iterator

from ...fillers import FILLER_FIELDS, SPECS
from ..context import AuditContext
from ..finding import Finding
from ..rule import Rule

#: The fields this rule looks at: every field some filler reads, but
#: ``sparse`` (on a filler other than gaussian Caffe refuses it: CF104).
FIELDS = tuple(f for f in FILLER_FIELDS if f != "sparse")


class IgnoredFillerField(Rule):
    """A filler sets parameters that its type never reads.

    ## What it does
    Lists, for each filler block, the fields that are set (written in the
    file, whatever their value) but that the filler type ignores:
    `constant` reads only `value`; `gaussian` `mean`, `std` and `sparse`;
    `uniform` `min` and `max`; `xavier` and `msra` only `variance_norm`;
    `positive_unitball` and `bilinear` nothing; caffefill's own
    `orthogonal` reads `gain`, `trunc_normal` `mean`, `std`, `a` and `b`.

    ## Why is this bad?
    Caffe silently ignores them, so the file says something that does not
    happen: `type: "xavier" std: 0.01` draws from
    U(-sqrt(3/fan_in), sqrt(3/fan_in)), not with std 0.01; `value: 0.1` on
    a gaussian bias does not make it 0.1.  Either the parameter or the type
    is a mistake.

    ## Example
    ```prototxt
    weight_filler { type: "xavier" std: 0.01 }
    bias_filler { type: "gaussian" value: 0.1 }
    ```

    ## Use instead
    ```prototxt
    weight_filler { type: "xavier" }
    bias_filler { type: "constant" value: 0.1 }
    ```
    """

    code = "CF201"
    name = "ignored-filler-field"
    severity = "warning"
    tier = "source"

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        for block in ctx.src.filler_blocks:
            filler = block.filler
            spec = SPECS.get(filler.type)
            if spec is None:
                continue  # an unknown type is CF103
            ignored = [f for f in FIELDS
                       if filler.HasField(f) and f not in spec.fields_read]
            if not ignored:
                continue
            names = ", ".join(ignored)
            plural = "are" if len(ignored) > 1 else "is"
            hint = _hint(filler.type, ignored)
            yield self.finding(
                ctx, ctx.block_place(block),
                f"{names} {plural} ignored by the {filler.type} filler "
                f"({_reads(spec.fields_read)}: {spec.description})", hint)


def _reads(fields: tuple[str, ...]) -> str:
    if not fields:
        return "it reads no field"
    return "it reads " + ", ".join(fields)


def _hint(filler_type: str, ignored: list[str]) -> str:
    if filler_type in ("xavier", "msra") and "std" in ignored:
        return (f'remove std, or use type: "gaussian" if std is what you meant '
                f"(then {filler_type} is not applied)")
    if filler_type == "gaussian" and "value" in ignored:
        return 'use type: "constant" for a fixed value, or remove value'
    if filler_type == "constant" and ("std" in ignored or "mean" in ignored):
        return 'use type: "gaussian" for random values, or remove ' + ", ".join(ignored)
    return "remove " + ", ".join(ignored) + " (or choose the type that reads it)"
