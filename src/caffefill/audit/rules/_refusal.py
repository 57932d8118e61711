"""The shared shape of the rules that report one kind of filler refusal."""

from __future__ import annotations

from collections.abc import Iterator

from ..context import AuditContext
from ..finding import Finding
from ..rule import Rule
from ..validate import refusals


class RefusalRule(Rule):
    """Base of CF103-CF109: each reports the refusals classified under its code."""

    severity = "error"
    tier = "source"
    #: Part of the checks need exact shapes (they are skipped without them).
    partly_shapes = False

    def fix(self, message: str) -> str | None:
        """What to write instead (the refusal's message says it best by default)."""
        return None

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        for refused in refusals(ctx):
            if refused.code != self.code:
                continue
            error = refused.error
            message = error.message
            if error.caffe_message and error.caffe_message not in message:
                message += f" (Caffe: {error.caffe_message})"
            yield self.finding(ctx, refused.place, message, self.fix(error.message))
