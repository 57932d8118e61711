"""``caffefill audit``: find fillers that will sabotage training.

Exit status: 0 when no finding is at or above ``--fail-on`` (default
``error``), 1 when some are, 2 on a usage error or a file that cannot be
read (its one-line error goes to stderr; the other files are still audited).
The rules, the engine and the net model load only when audit runs, so the
other commands do not pay for them at start-up.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from ..errors import CaffefillError
from .options import (
    EXIT_ERROR,
    EXIT_FOUND,
    EXIT_OK,
    add_common_args,
    add_profile_args,
    add_state_args,
    inputs,
)


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (value > 1.0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"the threshold must be a finite number > 1, got {text}")
    return value


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "audit", help="find fillers that will sabotage training (a linter for prototxt)",
        description="Check every filler of one or more nets: what Caffe would refuse, what "
                    "cannot learn, what is silently ignored, and what will make the signal "
                    "vanish or explode.  Directories are searched for *.prototxt.",
        epilog="Suppress a finding with a comment '# caffefill: ignore[CF201]' on its line or "
               "on the line of its layer's 'layer {'.  Exit status: 0 no finding at or above "
               "--fail-on, 1 findings, 2 usage or read error.")
    add_common_args(p)
    p.add_argument("paths", nargs="*", metavar="PATH", help="prototxt files or directories")
    p.add_argument("--format", choices=["text", "json", "sarif"], default="text",
                   help="output format (default text)")
    p.add_argument("--select", action="append", default=[], metavar="CODES",
                   help="only these codes or prefixes, comma-separated (e.g. CF1,CF201)")
    p.add_argument("--ignore", action="append", default=[], metavar="CODES",
                   help="skip these codes or prefixes, comma-separated")
    p.add_argument("--fail-on", choices=["error", "warning", "info"], default="error",
                   help="lowest severity that makes the exit status 1 (default error)")
    add_state_args(p, "TRAIN", "net phase to audit (default TRAIN: fillers matter for training)",
                   "shape of a data layer's top (repeatable); without it the rules "
                   "that need shapes are skipped for nets with Data/ImageData/HDF5Data/"
                   "Python inputs")
    p.add_argument("--signal-threshold", type=_threshold, default=100.0, metavar="X",
                   help="CF202 reports the signal when its scale changes more than X times "
                        "(default 100)")
    p.add_argument("--show-fixes", action="store_true",
                   help="append each finding's suggested fix (text output)")
    p.add_argument("--explain", metavar="CODE", help="print a rule's documentation and exit")
    p.add_argument("--list-rules", action="store_true", help="list the rules and exit")
    add_profile_args(p)
    p.set_defaults(func=run)


def _explain(code: str) -> int:
    from ..audit.finding import NOTE_CODE, NOTE_EXPLANATION
    from ..audit.rules import rule_for

    if code.strip().upper() == NOTE_CODE:
        print(NOTE_EXPLANATION, end="")
        return EXIT_OK
    rule = rule_for(code)
    if rule is None:
        print(f"caffefill: error: unknown rule code '{code}' (see --list-rules)",
              file=sys.stderr)
        return EXIT_ERROR
    print(rule.explain(), end="")
    return EXIT_OK


def _list_rules() -> int:
    from ..audit.rules import RULES

    width = max(len(rule.name) for rule in RULES)
    for rule in RULES:
        print(f"{rule.code}  {rule.severity:<7}  {rule.name:<{width}}  {rule.summary()}")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Run the audit for the parsed arguments; returns the exit status."""
    from ..audit.context import AuditOptions
    from ..audit.engine import Selection, audit_path, collect
    from ..audit.finding import SEVERITIES, at_least
    from ..audit.report import render_json, render_sarif, render_text
    from ..profiles import resolve

    if args.explain:
        return _explain(args.explain)
    if args.list_rules:
        return _list_rules()
    if not args.paths:
        print("caffefill audit: error: give at least one PATH (or --explain CODE, "
              "--list-rules)", file=sys.stderr)
        return EXIT_ERROR
    try:
        selection = Selection.parse(args.select, args.ignore)
        profile = resolve(args.caffe, args.boost)
    except CaffefillError as exc:
        print(f"caffefill audit: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    options = AuditOptions(phase=args.phase, stages=tuple(args.stages), level=args.level,
                           inputs=inputs(args), profile=profile,
                           signal_threshold=args.signal_threshold)
    files, missing = collect(args.paths)
    status = EXIT_OK
    for path in missing:
        print(f"{path}: error: no such file or directory (or it cannot be listed)",
              file=sys.stderr)
        status = EXIT_ERROR
    if not files and not missing:
        print("caffefill audit: warning: no .prototxt files found", file=sys.stderr)
    reports = []
    for path in files:
        report = audit_path(path, options, selection)
        if report.error is not None:
            print(report.error, file=sys.stderr)
            status = EXIT_ERROR
        reports.append(report)
    if args.format == "json":
        print(render_json(reports))
    elif args.format == "sarif":
        print(render_sarif(reports))
    else:
        print(render_text(reports, show_fixes=args.show_fixes))
    if status == EXIT_ERROR:
        return status
    failing = any(f.severity in SEVERITIES[:3] and at_least(f.severity, args.fail_on)
                  for r in reports for f in r.findings)
    return EXIT_FOUND if failing else EXIT_OK
