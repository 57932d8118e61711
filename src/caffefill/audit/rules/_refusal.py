"""The shared shape of the rules that report one kind of filler refusal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from ..context import AuditContext
from ..finding import Finding
from ..rule import Rule, with_caffe_text
from ..validate import refusals


class RefusalRule(Rule):
    """Base of CF103-CF109: each reports the refusals classified under its code."""

    severity = "error"
    tier = "source"

    #: What to write instead (None: the refusal's own message says it).
    fix: ClassVar[str | None] = None

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        for refused in refusals(ctx):
            if refused.code != self.code:
                continue
            yield self.finding(ctx, refused.place, with_caffe_text(refused.error), self.fix)
