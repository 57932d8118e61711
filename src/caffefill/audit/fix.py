"""``caffefill audit --fix``: edits of the text as written, never a rewrite.

A fix is a list of :class:`Edit` s (replace ``text[start:end]``), made from
the offsets the prototxt reader keeps for every field, so that everything
else in the file (comments, blank lines, suppressions, layout) stays as it
was.  What is fixed:

* CF103, a filler type that differs from one of Caffe's only in case
  (``"Xavier"``): the type is written as Caffe spells it (safe); a type
  that is merely close to one (``"gausian"``) only with ``--unsafe-fixes``
  (the meant type is a guess);
* CF201, fields the filler type ignores: each such field is deleted (safe:
  Caffe ignores them, so the weights stay the same), with its line when
  nothing else is on it;
* CF110, an unknown field with a likely meant one (``weight_std`` for
  ``std``): renamed, only with ``--unsafe-fixes`` (a guess, and the value then
  takes effect).

A finding that is suppressed is not fixed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..fillers import SPECS
from ..lines import LINE_END, LineIndex
from ..messages import nearest
from ..net.reader import Field, FillerBlock, Scalar
from .context import AuditContext
from .finding import Finding
from .rules.ignored_filler_field import FIELDS

#: The codes ``--fix`` can fix.
FIXABLE = ("CF103", "CF110", "CF201")


@dataclass(frozen=True)
class Edit:
    """Replace ``text[start:end]`` with ``replacement``; ``delete_line``: a
    deletion that takes its line with it when nothing else is left on it."""

    start: int
    end: int
    replacement: str
    code: str
    safe: bool = True
    delete_line: bool = False


def fixes(ctx: AuditContext, findings: Sequence[Finding], *, unsafe: bool = False
          ) -> list[Edit]:
    """The edits that fix ``findings`` (those of one file, after suppressions)."""
    wanted = {(f.line, f.column, f.code) for f in findings if f.code in FIXABLE}
    edits: list[Edit] = []
    for block in ctx.src.filler_blocks:
        if block.node is None:
            continue
        if (block.line, block.column, "CF103") in wanted:
            edits.extend(_type_case(block))
        if (block.line, block.column, "CF201") in wanted:
            edits.extend(_ignored_fields(block))
    if unsafe:
        edits.extend(_renamed_fields(ctx, wanted))
    return sorted((e for e in edits if e.safe or unsafe), key=lambda e: e.start)


def _type_case(block: FillerBlock) -> list[Edit]:
    node = _last(block, "type")
    if node is None or not isinstance(node.value, Scalar) or node.value.kind != "string":
        return []
    written = block.filler.type
    meant = nearest(written, SPECS)
    if meant is None or meant == written:
        return []
    spec = SPECS[meant]
    # Safe only when the case alone differs and the result is a type Caffe knows.
    safe = meant.lower() == written.lower() and spec.caffe
    return [Edit(node.value.offset, node.value.end, f'"{meant}"', "CF103", safe)]


def _ignored_fields(block: FillerBlock) -> list[Edit]:
    spec = SPECS.get(block.filler.type)
    assert block.node is not None
    if spec is None:
        return []
    ignored = {f for f in FIELDS if block.filler.HasField(f) and f not in spec.fields_read}
    return [Edit(node.start, node.end, "", "CF201", True, True)
            for node in block.node.fields
            if node.name in ignored and node.start >= 0 and node.end >= 0]


def _renamed_fields(ctx: AuditContext, wanted: set[tuple[int | None, int | None, str]]
                    ) -> list[Edit]:
    """CF110: each unknown field with a guess renamed to it (where its name is written)."""
    index = LineIndex(ctx.text)
    edits = []
    for warning in ctx.src.warnings:
        name, meant = warning.field, warning.meant
        if name is None or meant is None or (warning.line, warning.column, "CF110") not in wanted:
            continue
        start = index.offset(warning.line, warning.column)
        if start is not None and ctx.text.startswith(name, start):
            edits.append(Edit(start, start + len(name), meant, "CF110", safe=False))
    return edits


def _last(block: FillerBlock, name: str) -> Field | None:
    assert block.node is not None
    found = [node for node in block.node.fields if node.name == name and node.start >= 0]
    return found[-1] if found else None


def apply(text: str, edits: Sequence[Edit]) -> str:
    """``text`` with ``edits`` applied (they must not overlap); a deleted field's
    separator (``;`` or ``,``) goes with it, and its line when nothing but
    blanks is left there."""
    out = text
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        start, end = edit.start, edit.end
        if not edit.delete_line:
            out = out[:start] + edit.replacement + out[end:]
            continue
        rest = out[end:]
        stripped = rest.lstrip(" \t")
        if stripped[:1] in (";", ","):
            end += len(rest) - len(stripped) + 1
        line_begin = out.rfind(LINE_END, 0, start) + 1
        line_end = out.find(LINE_END, end)
        line_end = len(out) if line_end < 0 else line_end
        before, after = out[line_begin:start], out[end:line_end]
        if not before.strip() and not after.strip():
            # The field had the line to itself: the line goes.
            cut_end = line_end + 1 if line_end < len(out) else line_end
            out = out[:line_begin] + out[cut_end:]
        elif not before.strip():
            out = out[:start] + after.lstrip(" \t") + out[line_end:]
        else:
            # Inline: the blanks before the field go with it.
            trimmed = before.rstrip(" \t")
            out = out[:line_begin] + trimmed + (" " if after.strip() and
                                                 not after.startswith((" ", "\t")) else "") \
                + out[end:]
    return out
