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

from .context import AuditOptions
from .engine import EVERYTHING, FileReport, Selection, audit_path, audit_text, collect
from .finding import Finding
from .rules import RULES, rule_for

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
