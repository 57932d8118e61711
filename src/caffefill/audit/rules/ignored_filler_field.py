"""CF201: filler parameters the chosen type never reads."""

from __future__ import annotations

from collections.abc import Iterator

from ...fillers import FILLERS
from ..context import AuditContext
from ..finding import Finding
from ..rule import Rule

#: The FillerParameter fields each filler reads (``type`` aside; ``sparse``
#: on a filler other than gaussian is CF104).
USED: dict[str, frozenset[str]] = {
    "constant": frozenset({"value"}),
    "gaussian": frozenset({"mean", "std", "sparse"}),
    "uniform": frozenset({"min", "max"}),
    "positive_unitball": frozenset(),
    "xavier": frozenset({"variance_norm"}),
    "msra": frozenset({"variance_norm"}),
    "bilinear": frozenset(),
}
FIELDS = ("value", "min", "max", "mean", "std", "variance_norm")

_WHY = {
    "xavier": "its scale is sqrt(3 / n) from the blob's fan-in",
    "msra": "its std is sqrt(2 / n) from the blob's fan-in",
    "bilinear": "its kernel comes from the kernel size alone",
    "positive_unitball": "it draws uniform values and normalises each row to sum 1",
    "constant": "it writes `value` everywhere",
    "gaussian": "it reads mean, std and sparse",
    "uniform": "it reads min and max",
}


class IgnoredFillerField(Rule):
    """A filler sets parameters that its type never reads.

    ## What it does
    Lists, for each filler block, the fields that are set (written in the
    file, whatever their value) but that the filler type ignores:
    `constant` reads only `value`; `gaussian` `mean`, `std` and `sparse`;
    `uniform` `min` and `max`; `xavier` and `msra` only `variance_norm`;
    `positive_unitball` and `bilinear` nothing.

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
            used = USED.get(filler.type)
            if used is None or filler.type not in FILLERS:
                continue  # an unknown type is CF103
            ignored = [f for f in FIELDS if filler.HasField(f) and f not in used]
            if not ignored:
                continue
            names = ", ".join(ignored)
            plural = "are" if len(ignored) > 1 else "is"
            hint = _hint(filler.type, ignored)
            yield self.finding(
                ctx, ctx.block_place(block),
                f"{names} {plural} ignored by the {filler.type} filler "
                f"({_WHY[filler.type]})", hint)


def _hint(filler_type: str, ignored: list[str]) -> str:
    if filler_type in ("xavier", "msra") and "std" in ignored:
        return (f'remove std, or use type: "gaussian" if std is what you meant '
                f"(then {filler_type} is not applied)")
    if filler_type == "gaussian" and "value" in ignored:
        return 'use type: "constant" for a fixed value, or remove value'
    if filler_type == "constant" and ("std" in ignored or "mean" in ignored):
        return 'use type: "gaussian" for random values, or remove ' + ", ".join(ignored)
    return "remove " + ", ".join(ignored) + " (or choose the type that reads it)"
