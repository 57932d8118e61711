"""The base of every audit rule.

A rule is a small class in its own module under :mod:`caffefill.audit.rules`:
a stable ``code`` (CF1xx errors, CF2xx warnings, CF3xx info), a kebab-case
``name``, one ``severity``, the ``tier`` of information it needs (see
:mod:`caffefill.audit.context`) and a ``check`` that yields findings.  Its
docstring is its documentation, both ``caffefill audit --explain CODE`` and
``docs/rules.md``: a one-line summary, then the sections *What it does*,
*Why is this bad?*, *Example* and *Use instead*.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import ClassVar

from ..errors import CaffefillError
from .context import AuditContext, Place
from .finding import Finding

SECTIONS = ("What it does", "Why is this bad?", "Example", "Use instead")


def with_caffe_text(error: CaffefillError) -> str:
    """An error's message, followed by Caffe's own CHECK text when it adds something."""
    message = error.message
    caffe = error.caffe_message
    if caffe and caffe.lower() not in message.lower():
        message += f" (Caffe: {caffe})"
    return message


class Rule:
    """An audit rule (subclasses document themselves in their docstring)."""

    code: ClassVar[str] = ""
    name: ClassVar[str] = ""
    severity: ClassVar[str] = "warning"
    tier: ClassVar[str] = "source"
    #: A source rule some of whose checks need exact shapes (skipped without them).
    partly_shapes: ClassVar[bool] = False

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        """Yield this rule's findings for one file."""
        raise NotImplementedError

    # ------------------------------------------------------------ findings

    def finding(self, ctx: AuditContext, place: Place, message: str,
                fix: str | None = None) -> Finding:
        """A finding of this rule at ``place``."""
        extra = (place.layer_line,) if place.layer_line and place.layer_line != place.line \
            else ()
        return Finding(ctx.path, place.line, place.column, self.code, self.severity,
                       place.layer, message, fix, extra)

    # ------------------------------------------------------------ documentation

    @classmethod
    def doc(cls) -> str:
        """The rule's docstring, dedented."""
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def summary(cls) -> str:
        """The docstring's first line."""
        return cls.doc().split("\n", 1)[0].strip()

    @classmethod
    def sections(cls) -> dict[str, str]:
        """The docstring's ``## Section`` bodies, by section title."""
        found: dict[str, list[str]] = {}
        current: list[str] | None = None
        for line in cls.doc().splitlines()[1:]:
            if line.startswith("## "):
                current = found.setdefault(line[3:].strip(), [])
                continue
            if current is not None:
                current.append(line)
        return {title: "\n".join(body).strip() for title, body in found.items()}

    @classmethod
    def anchor(cls) -> str:
        """The rule's section anchor in docs/rules.md (its heading, as GitHub slugs it)."""
        return f"{cls.code.lower()}-{cls.name}"

    @classmethod
    def explain(cls) -> str:
        """What ``--explain`` prints."""
        return f"{cls.code} {cls.name} ({cls.severity})\n\n{cls.doc()}\n"
