"""The shared shape of CF301/CF302: a fan filler before the other activation family."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from ..context import AuditContext
from ..finding import Finding
from ..graph import activation_after
from ..rule import Rule


class ActivationMismatch(Rule):
    """Base of CF301/CF302: one finding per net listing the mismatched layers."""

    severity = "info"
    tier = "structure"
    filler_type: ClassVar[str] = ""
    activation: ClassVar[str] = ""
    better: ClassVar[str] = ""
    why: ClassVar[str] = ""

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        layers = []
        for blob, _ in ctx.filled_blobs(self.filler_type, weights=True):
            if activation_after(ctx, blob.layer) == self.activation:
                layers.append(blob)
        if not layers:
            return
        first = layers[0]
        names = [b.layer.name for b in layers]
        shown = ", ".join(f"'{n}'" for n in names[:5]) + (", ..." if len(names) > 5 else "")
        count = f"{len(names)} layers" if len(names) > 1 else "1 layer"
        yield self.finding(
            ctx, ctx.blob_place(first),
            f"{self.filler_type} feeds a {self.why} in {count} ({shown})",
            f'type: "{self.better}" fits them better')
