"""What the audit reports: one :class:`Finding` per problem, at a place in a file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import one_line

#: Severities from the most to the least serious.  ``note`` is not a finding
#: about the net but about the audit itself (rules it could not run).
SEVERITIES = ("error", "warning", "info", "note")
_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}

#: The code of the audit's own notes (``note`` severity).
NOTE_CODE = "CF000"

#: What ``caffefill audit --explain CF000`` prints (and docs/rules.md shows).
NOTE_EXPLANATION = f"""{NOTE_CODE} note

The audit's own notes, not findings about the net: which rules were skipped
for a file and why (a data layer whose shape needs --input NAME=N,C,H,W, an
unknown layer type, a net Caffe refuses to set up - see CF100), or a rule
that failed.  In text output they read `path: note: ...`; in JSON they are
objects with code "{NOTE_CODE}" and severity "note"; in SARIF they are tool
execution notifications.  They never change the exit status.  Hide them
with --ignore {NOTE_CODE}.
"""


def severity_rank(severity: str) -> int:
    """0 for errors, 1 for warnings, 2 for info, 3 for notes."""
    return _RANK[severity]


def at_least(severity: str, threshold: str) -> bool:
    """Whether ``severity`` is as serious as ``threshold`` or more."""
    return _RANK[severity] <= _RANK[threshold]


@dataclass(frozen=True)
class Finding:
    """One problem found in one file.

    ``line``/``column`` are 1-based (None when unknown).  ``layer`` is the
    layer's name when the problem belongs to a layer.  ``fix`` says in one
    sentence what to write instead (None when there is nothing to say).
    ``suppress_lines`` are the other lines whose ``# caffefill: ignore[...]``
    comment silences this finding (the opening line of its layer).
    """

    path: str
    line: int | None
    column: int | None
    code: str
    severity: str
    layer: str | None
    message: str
    fix: str | None = None
    suppress_lines: tuple[int, ...] = field(default=(), compare=False)

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.path, self.line or 0, self.column or 0, self.code, self.message)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: path, line, column, code, severity, layer, message, fix."""
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "code": self.code,
            "severity": self.severity,
            "layer": self.layer,
            "message": self.message,
            "fix": self.fix,
        }

    def text(self, *, show_fix: bool = False) -> str:
        """``path:line:col: CODE severity [layer] message`` (one line: characters that
        could break the line or drive a terminal, in names from the file or in the
        file's own name, are escaped as in every error message)."""
        return one_line(self._text(show_fix))

    def _text(self, show_fix: bool) -> str:
        if self.severity == "note":
            where = self.path if self.line is None else f"{self.path}:{self.line}:{self.column}"
            return f"{where}: note: {self.message}"
        where = self.path
        if self.line is not None:
            where += f":{self.line}:{self.column if self.column is not None else 1}"
        layer = f" [{self.layer}]" if self.layer is not None else ""
        text = f"{where}: {self.code} {self.severity}{layer} {self.message}"
        if show_fix and self.fix:
            text += f" (fix: {self.fix})"
        return text
