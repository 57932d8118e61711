"""Inline suppression: ``# caffefill: ignore[CODE1,CODE2]`` comments.

A comment silences the listed codes (or code prefixes, such as ``CF2``) for
findings on its own line, and for every finding of a layer when it is on
the line where the layer's entry opens (``layer {``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .finding import Finding

_DIRECTIVE = re.compile(r"caffefill\s*:\s*ignore\s*\[([^\]]*)\]", re.IGNORECASE)


def _comment(line: str) -> str | None:
    """The text after the line's ``#`` that is not inside a quoted string."""
    quote = ""
    escaped = False
    for i, char in enumerate(line):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#":
            return line[i + 1:]
    return None


def suppressions(text: str) -> dict[int, frozenset[str]]:
    """The codes silenced on each (1-based) line of ``text``."""
    table: dict[int, frozenset[str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if "#" not in line:
            continue
        comment = _comment(line)
        if comment is None:
            continue
        codes: set[str] = set()
        for match in _DIRECTIVE.finditer(comment):
            codes.update(c.strip().upper() for c in match.group(1).split(",") if c.strip())
        if codes:
            table[number] = frozenset(codes)
    return table


def is_suppressed(finding: Finding, table: dict[int, frozenset[str]]) -> bool:
    """Whether a comment on the finding's line or its layer's line silences it."""
    lines: Iterable[int | None] = (finding.line, *finding.suppress_lines)
    for line in lines:
        if line is None:
            continue
        for code in table.get(line, ()):
            if finding.code.startswith(code):
                return True
    return False
