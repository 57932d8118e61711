"""Inline suppression: ``# caffefill: ignore[CODE1,CODE2]`` comments.

A comment silences the listed codes (or code prefixes, such as ``CF2``) for
findings on its own line, and for every finding of a layer when it is on
the line where the layer's entry opens (``layer {``).  ``# caffefill:
ignore-file[CODES]``, on any line, silences them in the whole file.  A
directive code that silenced nothing, although every rule it names ran, is
itself reported (CF210).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..lines import split_lines
from .finding import Finding

_DIRECTIVE = re.compile(r"caffefill\s*:\s*ignore(-file)?\s*\[([^\]]*)\]", re.IGNORECASE)

#: The key of the file-level codes in a suppression table.
WHOLE_FILE = 0


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


@dataclass(frozen=True)
class Directive:
    """One code of one ``# caffefill: ignore[...]`` (or ``ignore-file[...]``) comment."""

    line: int
    code: str
    whole_file: bool = False


def suppressions(text: str) -> dict[int, frozenset[Directive]]:
    """The directives on each (1-based) line of ``text``; the file-level ones
    also under :data:`WHOLE_FILE`."""
    table: dict[int, set[Directive]] = {}
    for number, line in enumerate(split_lines(text), start=1):
        if "#" not in line:
            continue
        comment = _comment(line)
        if comment is None:
            continue
        for match in _DIRECTIVE.finditer(comment):
            whole = bool(match.group(1))
            for part in match.group(2).split(","):
                if part.strip():
                    directive = Directive(number, part.strip().upper(), whole)
                    table.setdefault(WHOLE_FILE if whole else number, set()).add(directive)
    return {line: frozenset(found) for line, found in table.items()}


def matching_directive(finding: Finding, table: dict[int, frozenset[Directive]]
                       ) -> Directive | None:
    """The directive that silences ``finding`` (a comment on its line, on its
    layer's line, or a file-level one), or None."""
    lines: Iterable[int | None] = (finding.line, *finding.suppress_lines, WHOLE_FILE)
    for line in lines:
        if line is None:
            continue
        for directive in sorted(table.get(line, ()), key=lambda d: d.code):
            if finding.code.startswith(directive.code):
                return directive
    return None


def is_suppressed(finding: Finding, table: dict[int, frozenset[Directive]]) -> bool:
    """Whether a directive silences ``finding``."""
    return matching_directive(finding, table) is not None
