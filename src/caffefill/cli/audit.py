"""``caffefill audit``: find fillers that will sabotage training.

Exit status: 0 when no finding is at or above ``--fail-on`` (default
``error``), 1 when some are, 2 on a usage error or a file that cannot be
read (its one-line error goes to stderr; the other files are still audited).
The rules, the engine and the net model load only when audit runs, so the
other commands do not pay for them at start-up.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from ..errors import CaffefillError, one_line

if TYPE_CHECKING:
    from ..audit.context import AuditOptions
    from ..audit.engine import FileReport, Selection
    from ..audit.finding import Finding
    from ..solver import NetRef
from .options import (
    EXIT_ERROR,
    EXIT_FOUND,
    EXIT_OK,
    add_common_args,
    add_profile_args,
    add_state_args,
    inputs,
    parse_threshold,
)


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "audit", help="find fillers that will sabotage training (a linter for prototxt)",
        description="Check every filler of one or more nets: what Caffe would refuse, what "
                    "cannot learn, what is silently ignored, and what will make the signal "
                    "vanish or explode.  Directories are searched for *.prototxt (or the "
                    "configuration's include globs); '-' reads standard input.  Settings "
                    "come from the nearest caffefill.toml, .caffefill.toml or pyproject.toml "
                    "[tool.caffefill] upward from each file; options here take precedence.",
        epilog="Suppress a finding with a comment '# caffefill: ignore[CF201]' on its line or "
               "on the line of its layer's 'layer {'.  Exit status: 0 no finding at or above "
               "--fail-on, 1 findings, 2 usage or read error.")
    add_common_args(p)
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="prototxt files or directories ('-': standard input)")
    p.add_argument("--format", choices=["text", "json", "sarif", "github"], default="text",
                   help="output format (default text; github: workflow annotations)")
    p.add_argument("--select", action="append", default=[], metavar="CODES",
                   help="only these codes or prefixes, comma-separated (e.g. CF1,CF201); "
                        "replaces the configuration's select")
    p.add_argument("--extend-select", action="append", default=[], metavar="CODES",
                   help="codes or prefixes to add to the selection")
    p.add_argument("--ignore", action="append", default=[], metavar="CODES",
                   help="skip these codes or prefixes, comma-separated (adds to the "
                        "configuration's ignore)")
    p.add_argument("--fail-on", choices=["error", "warning", "info"], default=None,
                   help="lowest severity that makes the exit status 1 (default error)")
    p.add_argument("--exit-zero", action="store_true",
                   help="exit 0 even when there are findings (2 still means a usage or "
                        "read error)")
    p.add_argument("--statistics", action="store_true",
                   help="print the number of findings per code instead of the findings")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print the findings and nothing else (no summary, no notes)")
    p.add_argument("--config", metavar="FILE", default=None,
                   help="use this configuration file for every path (no discovery)")
    p.add_argument("--isolated", action="store_true", help="ignore every configuration file")
    p.add_argument("--stdin-filename", metavar="PATH", default=None,
                   help="the name to report (and to match globs against) for '-'")
    add_state_args(p, "shape of a data layer's top (repeatable); without it the rules "
                   "that need shapes are skipped for nets with Data/ImageData/HDF5Data/"
                   "Python inputs")
    p.add_argument("--signal-threshold", type=parse_threshold, default=None, metavar="X",
                   help="CF202 reports the signal when its scale changes more than X times, "
                        "CF212 the gradient when the activations change it X times more than "
                        "the signal (default 100)")
    p.add_argument("--show-fixes", action="store_true",
                   help="append each finding's suggested fix (text output)")
    p.add_argument("--fix", action="store_true",
                   help="fix what can be fixed safely, in place (comments, blank lines and "
                        "suppressions are kept; '-': the fixed text on standard output), "
                        "then report what is left")
    p.add_argument("--unsafe-fixes", action="store_true",
                   help="with --fix or --diff, also the fixes that guess what was meant "
                        "(a filler type close to one of Caffe's, the field an unknown one "
                        "likely meant)")
    p.add_argument("--diff", action="store_true",
                   help="print the fixes as a unified diff and write nothing (exit 1 when "
                        "there is something to fix)")
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
        print(one_line(f"caffefill: error: unknown rule code '{code}' (see --list-rules)"),
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


def _error(message: str) -> int:
    print(one_line(f"caffefill audit: error: {message}"), file=sys.stderr)
    return EXIT_ERROR


def _fix(path: str, shown: str, options: AuditOptions, selection: Selection,
         args: argparse.Namespace) -> tuple[FileReport, int]:
    """Fix one file (``--fix``: in place, or standard input to standard output;
    ``--diff``: print the diff); the report of the fixed text and 1 when it changed."""
    import difflib

    from ..audit.engine import FileReport, audit_text, fix_text, read_text
    from ..writers.atomic import atomic_output

    try:
        text = sys.stdin.read() if path == "-" else read_text(path)
    except CaffefillError as exc:
        return FileReport(path, error=str(exc.located(path=path))), 0
    fixed, _ = fix_text(shown, text, options, selection, unsafe=args.unsafe_fixes)
    changed = int(fixed != text)
    if args.diff:
        sys.stdout.writelines(difflib.unified_diff(
            text.splitlines(keepends=True), fixed.splitlines(keepends=True),
            fromfile=f"a/{shown}", tofile=f"b/{shown}"))
    elif path == "-":
        sys.stdout.write(fixed)
    elif changed:
        try:
            mode = os.lstat(path).st_mode & 0o7777
            with atomic_output(path, force=True, report=lambda _: None) as temp:
                temp.write_bytes(fixed.encode("utf-8", "surrogateescape"))
                os.chmod(temp, mode)
        except CaffefillError as exc:
            return FileReport(path, error=f"{path}: not fixed: {exc.message}"), 0
        except OSError as exc:
            return FileReport(path, error=f"{path}: not fixed: {exc.strerror or exc}"), 0
    return audit_text(shown, fixed, options, selection), changed


def _solver_nets(path: str, *, direct: bool
                 ) -> tuple[list[tuple[NetRef, str | None]], Finding]:
    """The nets a solver names, each with why it cannot be opened (None: it can),
    and the note that says the file is a solver.  A net that cannot be opened is
    an error for a solver given by name, and left out of a folder walk (where
    the working directory is seldom the one Caffe runs in)."""
    from ..audit.finding import NOTE_CODE, Finding
    from ..solver import NetRef, missing_net, solver_nets

    try:
        refs = solver_nets(path)
    except CaffefillError as exc:
        error = str(exc.located(path=path))
        return [(NetRef("", path), error)], Finding(path, None, None, NOTE_CODE, "note", None,
                                                    "a solver, not a net")
    out: list[tuple[NetRef, str | None]] = []
    left = []
    for ref in refs:
        problem = None if ref.text is not None else missing_net(ref.path, path)
        if problem is None or direct:
            out.append((ref, problem))
        else:
            left.append(ref.path)
    named = ", ".join(f"{ref.field} '{ref.path}'" if ref.text is None else ref.field
                      for ref in refs) or "no net"
    tail = f" ({', '.join(left)} not found from {os.getcwd()}, where Caffe opens them)" \
        if left else ""
    return out, Finding(path, None, None, NOTE_CODE, "note", None,
                        f"a solver, not a net: its nets are audited ({named}){tail}")


def run(args: argparse.Namespace) -> int:
    """Run the audit for the parsed arguments; returns the exit status."""
    from pathlib import Path

    from ..audit.config import AuditConfig, ConfigFinder, load_config, merge_codes
    from ..audit.context import AuditOptions
    from ..audit.engine import Selection, audit_path, audit_paths, audit_text, collect
    from ..audit.finding import SEVERITIES, at_least
    from ..audit.report import render
    from ..profiles import resolve

    if args.explain:
        return _explain(args.explain)
    if args.list_rules:
        return _list_rules()
    if not args.paths:
        return _error("give at least one PATH (or --explain CODE, --list-rules)")
    if args.unsafe_fixes and not (args.fix or args.diff):
        return _error("--unsafe-fixes applies only with --fix or --diff")
    try:
        profile = resolve(args.caffe, args.boost)
        Selection.parse([*args.select, *args.extend_select], args.ignore)
        fixed = load_config(Path(args.config)) if args.config else None
        if args.config and fixed is None:
            return _error(f"{args.config}: no [tool.caffefill] table in it")
    except CaffefillError as exc:
        return _error(str(exc))
    finder = ConfigFinder(fixed=fixed, isolated=args.isolated)
    stdin_name = args.stdin_filename or "-"
    try:
        files, missing = collect([p for p in args.paths if p != "-"],
                                 wanted=lambda path: finder.for_path(path).included(path),
                                 skip_dir=lambda path: finder.for_path(path).excluded(path))
    except CaffefillError as exc:
        return _error(str(exc))
    status = EXIT_OK
    for path in missing:
        print(one_line(f"{path}: error: no such file or directory (or it cannot be listed)"),
              file=sys.stderr)
        status = EXIT_ERROR
    if "-" in args.paths:
        files.append("-")
    if not files and not missing:
        print("caffefill audit: warning: no files to audit found", file=sys.stderr)
    def settings(shown: str) -> tuple[AuditConfig, Selection, AuditOptions]:
        config = finder.for_path(shown)
        select, ignore = merge_codes(config, args.select, args.extend_select, args.ignore,
                                     shown)
        return config, Selection.parse(select, ignore), AuditOptions(
            phase=args.phase or config.phase or "TRAIN",
            stages=tuple(args.stages) or config.stages or (),
            level=args.level if args.level is not None else (config.level or 0),
            inputs={**config.inputs_for(shown), **inputs(args)}, profile=profile,
            signal_threshold=args.signal_threshold or config.signal_threshold or 100.0,
            allow_fields=config.allow_fields)

    reports: list[FileReport] = []
    failing = False
    # The files found are audited first (on every core when there are many).
    ready: dict[int, FileReport] = {}
    if not (args.fix or args.diff):
        try:
            jobs = [(i, path, *settings(path)[1:]) for i, path in enumerate(files)
                    if path != "-"]
        except CaffefillError as exc:
            return _error(str(exc))
        done = audit_paths([(path, options, selection) for _, path, selection, options in jobs])
        ready = {i: report for (i, *_), report in zip(jobs, done, strict=True)}
    # Each file once: a solver's nets join the queue unless the walk found them.
    pending = list(files)
    queued = {os.path.realpath(p) for p in files if p != "-"}
    inline: dict[int, tuple[str, str]] = {}  # queue index -> (solver, its inline net's text)
    index = -1
    fixed_files = 0
    while index + 1 < len(pending):
        index += 1
        path = pending[index]
        shown = stdin_name if path == "-" else path
        try:
            config, selection, options = settings(shown)
        except CaffefillError as exc:
            return _error(str(exc))
        if index in ready:
            report = ready[index]
        elif index in inline:
            report = audit_text(path, inline[index][1], options, selection)
        elif args.fix or args.diff:
            report, changed = _fix(path, shown, options, selection, args)
            fixed_files += changed
        elif path == "-":
            report = audit_text(shown, sys.stdin.read(), options, selection)
        else:
            report = audit_path(path, options, selection)
        if report.solver and path != "-":
            report.error = None
            nets, note = _solver_nets(path, direct=path in args.paths)
            for ref, problem in nets:
                if problem is not None:
                    report.error = problem
                elif ref.text is not None:
                    inline[len(pending)] = (path, ref.text)
                    pending.append(path)
                elif os.path.realpath(ref.path) not in queued:
                    queued.add(os.path.realpath(ref.path))
                    pending.append(ref.path)
            report.findings.append(note)
        if report.error is not None:
            print(one_line(report.error), file=sys.stderr)
            status = EXIT_ERROR
        if args.diff or (args.fix and path == "-"):
            continue  # the diff or the fixed text is the output
        fail_on = args.fail_on or config.fail_on or "error"
        failing = failing or any(
            f.severity in SEVERITIES[:3] and at_least(f.severity, fail_on)
            for f in report.findings)
        reports.append(report)
    if args.diff or (args.fix and files == ["-"]):
        if status == EXIT_ERROR:
            return status
        return EXIT_FOUND if args.diff and fixed_files else EXIT_OK
    if args.fix and fixed_files:
        print(f"caffefill audit: fixed {fixed_files} file{'s' if fixed_files > 1 else ''}",
              file=sys.stderr)
    output = render(reports, args.format, show_fixes=args.show_fixes, quiet=args.quiet,
                    statistics=args.statistics)
    if output and (reports or not missing):  # a missing path alone is an error, not "0 files"
        print(output)
    if status == EXIT_ERROR:
        return status
    return EXIT_FOUND if failing and not args.exit_zero else EXIT_OK
