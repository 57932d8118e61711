"""Running the rules over files: selection, suppression, notes, file discovery."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..cores import usable_cores
from ..errors import CaffefillError, ErrorKind
from .context import AuditContext, AuditOptions
from .finding import NOTE_CODE, Finding
from .loading import load_context
from .rule import Rule
from .rules import RULES
from .rules.unused_suppression import UnusedSuppression
from .suppress import Directive, matching_directive, suppressions

ALL_CODES = (NOTE_CODE, *(rule.code for rule in RULES))


@dataclass(frozen=True)
class Selection:
    """Which codes to report: ``select`` and ``ignore`` are code prefixes.

    A code is reported when it matches a ``select`` prefix (or nothing is
    selected) and no ``ignore`` prefix.  The audit's notes (CF000) are kept
    unless ignored explicitly.
    """

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()

    def wants(self, code: str) -> bool:
        if any(code.startswith(prefix) for prefix in self.ignore):
            return False
        if code == NOTE_CODE or not self.select:
            return True
        return any(code.startswith(prefix) for prefix in self.select)

    @staticmethod
    def parse(select: Iterable[str], ignore: Iterable[str]) -> Selection:
        """Normalise comma-separated prefixes; raises CaffefillError on unknown ones."""
        def split(values: Iterable[str]) -> tuple[str, ...]:
            out: list[str] = []
            for value in values:
                for part in value.split(","):
                    code = part.strip().upper()
                    if not code:
                        continue
                    if not any(known.startswith(code) for known in ALL_CODES):
                        raise CaffefillError(
                            f"unknown rule code or prefix '{part.strip()}' (codes are "
                            f"{ALL_CODES[1]}..{ALL_CODES[-1]}; see --list-rules)")
                    out.append(code)
            return tuple(out)

        return Selection(split(select), split(ignore))


#: Every code reported.
EVERYTHING = Selection()


@dataclass
class FileReport:
    """The outcome for one file: its findings (notes included) or why it was not read."""

    path: str
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    #: The file is a solver, not a net (``error`` says so).
    solver: bool = False


def _note(path: str, message: str) -> Finding:
    return Finding(path, None, None, NOTE_CODE, "note", None, message)


def audit_text(path: str, text: str, options: AuditOptions,
               selection: Selection = EVERYTHING) -> FileReport:
    """Audit one prototxt given as text (``path`` is only for the report)."""
    report = FileReport(path)
    try:
        ctx = load_context(path, text, options)
    except CaffefillError as exc:
        report.error = str(exc.located(path=path))
        report.solver = exc.kind is ErrorKind.SOLVER_AS_NET
        return report
    except RecursionError:
        report.error = f"{path}: the file is nested too deeply to read"
        return report
    except Exception as exc:  # a bug on odd input: one line, never a traceback
        report.error = (f"{path}: internal error while reading: {type(exc).__name__}: {exc} "
                        f"(please report it)")
        return report
    report.findings = run_rules(ctx, selection)
    return report


def run_rules(ctx: AuditContext, selection: Selection = EVERYTHING,
              rules: Sequence[type[Rule]] = RULES) -> list[Finding]:
    """Every selected rule on one context, suppressions applied, sorted; notes last."""
    findings: list[Finding] = []
    notes: list[Finding] = []
    skipped: dict[str, list[str]] = {"structure": [], "shapes": []}
    for rule_class in rules:
        if not selection.wants(rule_class.code):
            continue
        if not ctx.has(rule_class.tier):
            skipped[rule_class.tier].append(rule_class.code)
            continue
        if rule_class.partly_shapes and not ctx.has("shapes"):
            skipped["shapes"].append(f"{rule_class.code} (its shape checks)")
        try:
            findings.extend(rule_class().check(ctx))
        except Exception as exc:  # a rule's bug must not stop the audit
            notes.append(_note(ctx.path, f"rule {rule_class.code} failed: "
                                         f"{type(exc).__name__}: {exc} (please report it)"))
    if ctx.assumed_inputs:
        shapes = ", ".join(f"{top}={','.join(str(d) for d in shape)}"
                           for top, shape in ctx.assumed_inputs.items())
        notes.append(_note(ctx.path, f"shapes assumed for the data layers: {shapes} (3 "
                                     f"channels at the crop or resize size the prototxt "
                                     f"gives); pass --input to override"))
    if skipped["structure"]:
        codes = ", ".join(sorted(skipped["structure"] + skipped["shapes"]))
        notes.append(_note(ctx.path, f"structure and shape rules skipped "
                                     f"({ctx.missing_reason('structure')}): {codes}"))
    elif skipped["shapes"]:
        codes = ", ".join(sorted(skipped["shapes"]))
        notes.append(_note(ctx.path, f"shape rules skipped ({ctx.missing_reason('shapes')}): "
                                     f"{codes}"))
    table = suppressions(ctx.text)
    kept: list[Finding] = []
    used: set[Directive] = set()
    for found in findings:
        directive = matching_directive(found, table)
        if directive is None:
            kept.append(found)
        else:
            used.add(directive)
    if selection.wants(UnusedSuppression.code):
        ran = {rule.code for rule in rules if selection.wants(rule.code)
               and ctx.has(rule.tier) and not (rule.partly_shapes and not ctx.has("shapes"))}
        kept.extend(UnusedSuppression.unused(ctx, table, used, ran))
    kept.sort(key=Finding.sort_key)
    if not selection.wants(NOTE_CODE):
        notes = []
    return kept + notes


#: Rounds of fixing one file at most (a fix can reveal another: a type's case
#: fixed, the fields that type ignores are found).
_FIX_ROUNDS = 8


def fix_text(path: str, text: str, options: AuditOptions, selection: Selection = EVERYTHING,
             *, unsafe: bool = False) -> tuple[str, int]:
    """``text`` with every fixable finding fixed (see :mod:`caffefill.audit.fix`),
    and the number of edits made; the text unchanged when it cannot be read."""
    from .fix import apply, fixes

    made = 0
    for _ in range(_FIX_ROUNDS):
        try:
            ctx = load_context(path, text, options)
        except CaffefillError:
            break
        edits = fixes(ctx, run_rules(ctx, selection), unsafe=unsafe)
        if not edits:
            break
        fixed = apply(text, edits)
        try:
            load_context(path, fixed, options)
        except CaffefillError:
            break  # a fix that would leave the file unreadable is not made
        text = fixed
        made += len(edits)
    return text, made


def read_text(path: str) -> str:
    """A file's text (UTF-8, undecodable bytes replaced), read as every prototxt is
    (bounded: a file past the size limit is a CaffefillError)."""
    from ..net.reader import read_source

    return read_source(path).decode("utf-8", errors="replace")


def audit_path(path: str, options: AuditOptions, selection: Selection = EVERYTHING
               ) -> FileReport:
    """Audit one file on disk."""
    try:
        text = read_text(path)
    except CaffefillError as exc:
        return FileReport(path, error=str(exc.located(path=path)))
    return audit_text(path, text, options, selection)


#: :func:`audit_paths` audits on every core from this much work on: the files'
#: bytes, each file counted :data:`FILE_WORK` bytes more (what a file costs
#: whatever its size).  Starting forked workers and moving the reports back
#: costs a few hundredths of a second, about what one process audits of 30 KiB
#: of prototxt in: past this the work is split (the shared corpus, 46 nets and
#: 600 KiB, is far past it; a net or two of a few layers stays in one process).
#: tools/bench_audit.py --corpus times both ways.
PARALLEL_MIN_WORK = 96 * 1024
FILE_WORK = 2 * 1024


def _audit_job(job: tuple[str, AuditOptions, Selection]) -> FileReport:
    report = audit_path(*job)
    # What the file left in reference cycles (an exception caught and kept holds
    # its frames): the collector is paused, see _collector_paused.
    gc.collect(0)
    return report


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while files are audited.

    Reading a net allocates hundreds of thousands of objects that reference
    counting frees when the file is done; the collector, left on, would scan
    them again and again while they are built (a fifth of the audit's time).
    :func:`_audit_job` collects the young generation after each file instead
    (everything the file allocated is in it while the collector is off), so
    memory stays bounded over thousands of files.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def audit_paths(jobs: Sequence[tuple[str, AuditOptions, Selection]]) -> list[FileReport]:
    """:func:`audit_path` for each (path, options, selection), in order: on
    every core from :data:`PARALLEL_MIN_WORK` on, this process and a forked
    worker per other core (each file is audited on its own, so the reports are
    the same as one by one)."""
    with _collector_paused():  # in the workers too: they are forked with it off
        return _audit_all(jobs)


def _audit_all(jobs: Sequence[tuple[str, AuditOptions, Selection]]) -> list[FileReport]:
    workers = min(usable_cores(), len(jobs))
    if workers < 2 or not hasattr(os, "fork"):
        return [_audit_job(job) for job in jobs]
    sizes = [_size(job[0]) for job in jobs]
    if sum(sizes) + FILE_WORK * len(jobs) < PARALLEL_MIN_WORK:
        return [_audit_job(job) for job in jobs]
    shares = _shares(sizes, workers)
    reports: list[FileReport] = [FileReport("")] * len(jobs)
    for share, done in zip(shares, _forked([[jobs[i] for i in share] for share in shares]),
                           strict=True):
        for i, report in zip(share, done, strict=True):
            reports[i] = report
    return reports


def _shares(sizes: Sequence[int], workers: int) -> list[list[int]]:
    """The indices of files of these sizes (bytes) split in ``workers`` shares:
    the largest files first, each to the share with the least work so far, so
    that no worker is left with a large one at the end."""
    shares: list[list[int]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for i in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        least = loads.index(min(loads))
        shares[least].append(i)
        loads[least] += sizes[i] + FILE_WORK
    return shares


def _forked(shares: Sequence[Sequence[tuple[str, AuditOptions, Selection]]]
            ) -> list[list[FileReport]]:
    """The first share audited here, each other in a forked child of its own
    (which shares the modules this process has imported), its reports sent
    back pickled through a pipe.  A share whose child could not start or did
    not finish is audited here too (so an error a file raises is raised here,
    as one by one).

    Plain fork and a pipe per child: a process pool would cost its own imports
    and start-up, several hundredths of a second, next to a corpus audited in a
    few tenths; and this process, which would only wait, takes a share itself
    (a fork, and pickling a share's reports, fewer)."""
    import pickle

    children: list[tuple[int, int] | None] = []
    try:
        for share in shares[1:]:
            children.append(_start(share))
        out: list[list[FileReport]] = [[_audit_job(job) for job in share] for share in shares[:1]]
        for k, share in enumerate(shares[1:]):
            child = children[k]
            done = None
            if child is not None:
                pid, fd = child
                children[k] = (pid, -1)  # the pipe is closed below, whatever happens
                with os.fdopen(fd, "rb") as pipe:
                    data = pipe.read()
                _, status = os.waitpid(pid, 0)
                children[k] = None
                if status == 0 and data:
                    done = pickle.loads(data)
            out.append(done if done is not None else [_audit_job(job) for job in share])
        return out
    finally:  # stopped or failed here: the children still running go too
        for child in children:
            if child is not None:
                pid, fd = child
                if fd >= 0:
                    os.close(fd)
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                with contextlib.suppress(OSError):
                    os.waitpid(pid, 0)


def _start(share: Sequence[tuple[str, AuditOptions, Selection]]) -> tuple[int, int] | None:
    """Fork a child that audits ``share`` and writes its reports, pickled, to a
    pipe: (its pid, the pipe's reading end), or None when it cannot start."""
    import pickle

    try:
        read, write = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(read)
        os.close(write)
        return None
    if pid == 0:  # the child: never returns
        code = 1
        try:
            os.close(read)
            data = pickle.dumps([_audit_job(job) for job in share], pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write, "wb") as pipe:
                pipe.write(data)
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    return pid, read


def _is_prototxt(path: str) -> bool:
    return path.endswith(".prototxt")


def _never(path: str) -> bool:
    return False


def collect(paths: Iterable[str], *, wanted: Callable[[str], bool] = _is_prototxt,
            skip_dir: Callable[[str], bool] = _never) -> tuple[list[str], list[str]]:
    """The files to audit and the paths that do not exist or cannot be listed.

    A file named in ``paths`` is always audited; folders are walked (sorted,
    without recursion, so any depth works; a symlinked folder is entered
    once, so links that loop end) for the files ``wanted`` accepts, skipping
    the folders ``skip_dir`` names."""
    files: list[str] = []
    missing: list[str] = []
    for raw in paths:
        if os.path.isdir(raw):
            if not _walk(raw, wanted, skip_dir, files):
                missing.append(raw)
        elif os.path.exists(raw):
            files.append(os.fspath(raw))
        else:
            missing.append(raw)
    return list(dict.fromkeys(files)), missing


def _walk(top: str, wanted: Callable[[str], bool], skip_dir: Callable[[str], bool],
          files: list[str]) -> bool:
    """Append the wanted files under ``top``, sorted by path; False when ``top``
    cannot be listed."""
    found: list[str] = []
    seen: set[tuple[int, int]] = set()
    stack = [top]
    first = True
    while stack:
        folder = stack.pop()
        try:
            info = os.stat(folder)
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            with os.scandir(folder) as entries:
                children = list(entries)
        except OSError:
            if first:
                return False
            continue
        first = False
        subfolders = []
        for entry in children:
            try:
                is_dir = entry.is_dir()
                is_file = not is_dir and entry.is_file()
            except OSError:
                continue
            if is_dir:
                if not skip_dir(entry.path):
                    subfolders.append(entry.path)
            elif is_file and wanted(entry.path):
                found.append(entry.path)
        stack.extend(subfolders)
    files.extend(sorted(found))
    return True
