"""``caffefill audit``: find the fillers that will sabotage training.

A linter for Caffe prototxt files: every rule has a stable code (CF1xx
errors, CF2xx warnings, CF3xx info), lives in its own module under
:mod:`caffefill.audit.rules` and documents itself (``--explain CODE``,
``docs/rules.md``).  The library entry points::

    from caffefill.audit import AuditOptions, audit_path, audit_text

    report = audit_path("train_val.prototxt", AuditOptions(phase="TRAIN"))
    for finding in report.findings:
        print(finding.text())
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .context import AuditOptions
    from .engine import EVERYTHING, FileReport, Selection, audit_path, audit_text, collect
    from .finding import Finding
    from .rules import RULES, rule_for

_LAZY = {
    "AuditOptions": "context", "EVERYTHING": "engine", "FileReport": "engine",
    "Selection": "engine", "audit_path": "engine", "audit_text": "engine", "collect": "engine",
    "Finding": "finding", "RULES": "rules", "rule_for": "rules",
}


def __getattr__(name: str) -> Any:
    # Loaded on first use: `caffefill audit`'s parser must not pull in the rules.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'caffefill.audit' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)

__all__ = [
    "EVERYTHING",
    "RULES",
    "AuditOptions",
    "FileReport",
    "Finding",
    "Selection",
    "audit_path",
    "audit_text",
    "collect",
    "rule_for",
]
