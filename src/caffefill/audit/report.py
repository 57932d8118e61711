"""The audit's three output formats: text, JSON and SARIF 2.1.0."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from .. import __version__
from ..errors import one_line
from .engine import FileReport
from .finding import NOTE_CODE, NOTE_EXPLANATION, Finding
from .rules import RULES

SARIF_SCHEMA = ("https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/"
                "sarif-schema-2.1.0.json")
SARIF_VERSION = "2.1.0"
_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note", "note": "note"}


def _plural(n: int, word: str) -> str:
    if word == "info":
        return f"{n} info"
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary(reports: Sequence[FileReport]) -> str:
    """The last line of the text output."""
    counts = Counter(f.severity for r in reports for f in r.findings if f.severity != "note")
    files = _plural(len(reports), "file")
    unread = sum(1 for r in reports if r.error is not None)
    tail = f" ({_plural(unread, 'file')} could not be read)" if unread else ""
    if not counts:
        return f"caffefill audit: no findings in {files}{tail}"
    parts = [_plural(counts[s], s) for s in ("error", "warning", "info") if counts[s]]
    return f"caffefill audit: {', '.join(parts)} in {files}{tail}"


def render_text(reports: Sequence[FileReport], *, show_fixes: bool = False) -> str:
    """One line per finding (``path:line:col: CODE severity [layer] message``), then
    the summary line."""
    lines = [f.text(show_fix=show_fixes) for r in reports for f in r.findings]
    lines.append(summary(reports))
    return "\n".join(lines)


def _json(value: object) -> str:
    """``value`` as indented JSON (the json module is imported here: the text
    format, the default, does without it)."""
    import json

    return json.dumps(value, indent=2)


def render_json(reports: Sequence[FileReport]) -> str:
    """A JSON list of findings (notes have code CF000 and severity "note")."""
    return _json([f.as_dict() for r in reports for f in r.findings])


#: The base the SARIF log's relative URIs resolve against: the folder the
#: audit ran in (``originalUriBaseIds``), as code-scanning services expect.
SARIF_BASE = "SRCROOT"


def _artifact(path: str) -> dict[str, Any]:
    """An artifactLocation: relative to :data:`SARIF_BASE` for files under the
    working folder, else an absolute ``file:`` URI."""
    absolute = os.path.abspath(path)
    base = os.getcwd()
    if os.path.commonpath([absolute, base]) == base:
        rel = PurePath(os.path.relpath(absolute, base)).as_posix()
        return {"uri": quote(rel, safe="/"), "uriBaseId": SARIF_BASE}
    return {"uri": PurePath(absolute).as_uri()}


def _fingerprint(finding: Finding) -> str:
    """Stable across line moves: the rule, the file, the layer and the message."""
    import hashlib  # (SARIF's alone, as in render_sarif)

    key = "\0".join((finding.code, os.path.relpath(os.path.abspath(finding.path)),
                      finding.layer or "", finding.message))
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _location(finding: Finding) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": _artifact(finding.path)}
    if finding.line is not None:
        region: dict[str, int] = {"startLine": finding.line}
        if finding.column is not None:
            region["startColumn"] = finding.column
        physical["region"] = region
    location: dict[str, Any] = {"physicalLocation": physical}
    if finding.layer is not None:
        location["logicalLocations"] = [{"name": finding.layer, "kind": "object"}]
    return location


#: The anchor of CF000's section in docs/rules.md (its heading is "CF000 note").
NOTE_ANCHOR = f"{NOTE_CODE.lower()}-note"

#: Project-URL labels (of the installed distribution's metadata) that name the
#: repository holding docs/rules.md, in the order they are tried.
_REPOSITORY_LABELS = ("repository", "source", "source code", "homepage")


def repository_url() -> str | None:
    """The project's repository URL from its package metadata (pyproject's
    ``[project.urls]``), None when it declares none."""
    import importlib.metadata  # here: only SARIF needs it, and its import is slow

    try:
        entries = importlib.metadata.metadata("caffefill").get_all("Project-URL") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    urls: dict[str, str] = {}
    for entry in entries:
        label, _, url = str(entry).partition(",")
        if url.strip():
            urls.setdefault(label.strip().lower(), url.strip())
    return next((urls[label] for label in _REPOSITORY_LABELS if label in urls), None)


def help_uri(anchor: str, repository: str | None) -> str | None:
    """Where a rule's documentation is read online: its section of docs/rules.md
    in the repository (None without a repository URL)."""
    if repository is None:
        return None
    return f"{repository.rstrip('/')}/blob/HEAD/docs/rules.md#{anchor}"


def sarif_rules() -> list[dict[str, Any]]:
    """``tool.driver.rules``: one reportingDescriptor per rule (with ``helpUri`` when
    the project declares its repository URL; then for every rule, else for none)."""
    out = []
    repository = repository_url()
    for rule in RULES:
        doc = rule.doc()
        descriptor: dict[str, Any] = {
            "id": rule.code,
            "name": rule.name,
            "shortDescription": {"text": rule.summary()},
            "fullDescription": {"text": rule.sections().get("What it does", rule.summary())},
            "help": {"text": doc, "markdown": doc},
            "defaultConfiguration": {"level": _SARIF_LEVEL[rule.severity]},
            "properties": {"severity": rule.severity, "tier": rule.tier},
        }
        uri = help_uri(rule.anchor(), repository)
        if uri is not None:
            descriptor["helpUri"] = uri
        out.append(descriptor)
    return out


def _note_descriptor() -> dict[str, Any]:
    """The descriptor of CF000, the audit's own notes (a file it could not read)."""
    descriptor: dict[str, Any] = {
        "id": NOTE_CODE, "name": "audit-note",
        "shortDescription": {"text": "the audit's own note: a file it could not read"},
        "help": {"text": NOTE_EXPLANATION, "markdown": NOTE_EXPLANATION},
        "defaultConfiguration": {"level": "error"}}
    uri = help_uri(NOTE_ANCHOR, repository_url())
    if uri is not None:
        descriptor["helpUri"] = uri
    return descriptor


def render_sarif(reports: Sequence[FileReport]) -> str:
    """One SARIF 2.1.0 log with one run; notes and read errors are tool notifications."""
    import hashlib  # here: only SARIF needs it (the other formats start without it)

    index = {rule.code: i for i, rule in enumerate(RULES)}
    results: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = []
    for report in reports:
        if report.error is not None:
            where = {"physicalLocation": {"artifactLocation": _artifact(report.path)}}
            notifications.append({"level": "error", "message": {"text": report.error},
                                  "locations": [where]})
            # Also a result, so that code-scanning views list the unreadable file.
            results.append({"ruleId": NOTE_CODE, "ruleIndex": len(RULES), "level": "error",
                            "message": {"text": report.error}, "locations": [where],
                            "partialFingerprints": {"caffefill/v1": hashlib.sha256(
                                report.error.encode("utf-8", "surrogatepass")
                            ).hexdigest()[:32]}})
        for f in report.findings:
            if f.severity == "note":
                notifications.append({"level": "note", "message": {"text": f.message},
                                      "locations": [_location(f)]})
                continue
            result: dict[str, Any] = {
                "ruleId": f.code,
                "level": _SARIF_LEVEL[f.severity],
                "message": {"text": f.message},
                "locations": [_location(f)],
                "partialFingerprints": {"caffefill/v1": _fingerprint(f)},
            }
            if f.code in index:
                result["ruleIndex"] = index[f.code]
            if f.fix:
                result["properties"] = {"fix": f.fix}
            results.append(result)
    log = {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {
                "name": "caffefill",
                "version": __version__,
                "rules": [*sarif_rules(), _note_descriptor()],
            }},
            "originalUriBaseIds": {SARIF_BASE: {"uri": PurePath(os.getcwd()).as_uri() + "/"}},
            "invocations": [{
                "executionSuccessful": all(r.error is None for r in reports),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    }
    return _json(log)


def _github_escape(text: str, *, prop: bool = False) -> str:
    """GitHub's workflow-command escaping (``%``, CR, LF; also ``:`` and ``,``
    in properties), then the remaining characters that are not printable as
    every text output escapes them (:func:`~caffefill.errors.one_line`)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return one_line(text)


_GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice", "note": "notice"}


def render_github(reports: Sequence[FileReport]) -> str:
    """One GitHub Actions annotation (``::error file=...,line=...::message``) per
    finding and per file that could not be read."""
    lines = []
    for report in reports:
        if report.error is not None:
            lines.append(f"::error file={_github_escape(report.path, prop=True)},"
                         f"title=caffefill::{_github_escape(report.error)}")
        for f in report.findings:
            props = [f"file={_github_escape(f.path, prop=True)}"]
            if f.line is not None:
                props.append(f"line={f.line}")
                if f.column is not None:
                    props.append(f"col={f.column}")
            title = f.code if f.layer is None else f"{f.code} [{f.layer}]"
            props.append(f"title={_github_escape(title, prop=True)}")
            lines.append(f"::{_GITHUB_LEVEL[f.severity]} {','.join(props)}::"
                         f"{_github_escape(f.message)}")
    return "\n".join(lines)


def render_statistics(reports: Sequence[FileReport]) -> str:
    """The number of findings per code, most frequent first (``--statistics``)."""
    counts = Counter((f.code, f.severity) for r in reports for f in r.findings
                     if f.severity != "note")
    names = {rule.code: rule.name for rule in RULES}
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0][0]))
    width = max((len(str(n)) for n in counts.values()), default=1)
    return "\n".join(f"{n:>{width}}  {code}  {severity:<7}  {names.get(code, '')}"
                     for (code, severity), n in rows)


def render(reports: Sequence[FileReport], fmt: str, *, show_fixes: bool = False,
           quiet: bool = False, statistics: bool = False) -> str:
    """The output of ``caffefill audit`` in format ``fmt`` (``--quiet`` drops the
    summary line and the notes of the text format; ``--statistics`` counts
    findings per code instead of listing them)."""
    if statistics:
        if fmt == "json":
            counts = Counter(f.code for r in reports for f in r.findings if f.severity != "note")
            return _json([{"code": code, "count": n} for code, n in counts.most_common()])
        return render_statistics(reports)
    if fmt == "json":
        return render_json(reports)
    if fmt == "sarif":
        return render_sarif(reports)
    if fmt == "github":
        return render_github(reports)
    if quiet:
        return "\n".join(f.text(show_fix=show_fixes) for r in reports for f in r.findings
                         if f.severity != "note")
    return render_text(reports, show_fixes=show_fixes)
