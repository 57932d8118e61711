#!/usr/bin/env python3
"""Speed of ``caffefill audit``: a folder of thousands of nets on every core
against one (``--files``), or the shared corpus from a cold start against
the interpreter's own start (``--corpus``).

``--files N`` copies the nets of tests/data (and of the shared corpus when it
is there) into a temporary folder until it holds N files, then times
``caffefill audit`` on it twice in child processes, best of --repeat: with
the worker processes it starts from ``PARALLEL_MIN_WORK`` on, and forced to
one process.  Prints both times, their ratio and whether the two
outputs are identical (they must be).

``--corpus`` times, in child processes, best of --repeat each, interleaved:
the bare interpreter start (``python -c pass``), the import of the runtime
dependencies (``python -c "import numpy, google.protobuf"``), ``caffefill
--version`` and ``caffefill audit`` on the shared corpus (tests/data's nets
when it is absent), run as the program is (``python -m caffefill``, its end
included).  It prints each time, the audit's time above the bare
start, and the ratios: the audit against the bare start and against the
dependencies' import, and the audit's time above the bare start against the
dependencies' (the last line has every ratio), each for the wall time and
for the CPU time (user + system; what a loaded machine disturbs least).
With ``--against SRC`` (a folder holding the caffefill package, e.g. an
earlier commit's ``src`` with its extension built), the same audit, both
ways, as imported from SRC is timed in the same rounds: a before/after in
one run, its ratios on the last line too.
With ``--contention`` (and ``--corpus``), the same files are also split in two
shares as the audit splits them, and the CPU time of auditing them (imports
left out) is compared four ways, best of --repeat each, interleaved: in one
process; as the audit does on two cores (the first share in the process, the
second at the same time in a child it forks); in two processes started
apart, at the same time; and in those two processes one after the other.
When the audit's way costs more than one process and the two started apart
cost as much as it does, running two at once is what costs (the machine's
shared core or cache), not the fork.
Then, in one child, the share of the audit's own CPU time that goes to
reading the text (the parser), with the garbage collector paused as the audit
pauses it.  The children compile caffefill's modules once
into a temporary bytecode cache before timing (as an installed package has
its .pyc files), whatever PYTHONDONTWRITEBYTECODE says here.

    python3 tools/bench_audit.py [--files N] [--repeat R]
    python3 tools/bench_audit.py --corpus [--repeat R] [--against SRC] [--contention]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CAFFEFILL_SHARED", ROOT.parent / "shared"))

#: Runs the audit in a child with the parallel threshold (bytes) set from argv[1],
#: as the program runs it (main() reading sys.argv: what the program does at its
#: end, freezing what is left for a quick shutdown, is part of its time).
CHILD = """
import sys
import caffefill.audit.engine as engine
engine.PARALLEL_MIN_WORK = int(sys.argv[1])
from caffefill.cli import main
sys.argv = ["caffefill", "audit", "--isolated", "--exit-zero", "--format", "json", sys.argv[2]]
raise SystemExit(main())
"""


def sources() -> list[Path]:
    found = sorted((ROOT / "tests" / "data" / "audit").glob("*.prototxt"))
    found += sorted((ROOT / "tests" / "data" / "nets").glob("*.prototxt"))
    corpus = SHARED / "corpus"
    if corpus.is_dir():
        found += sorted(corpus.rglob("*.prototxt"))
    return found


def timed(threshold: int, folder: Path, repeat: int) -> tuple[float, bytes]:
    best, out = float("inf"), b""
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", CHILD, str(threshold), str(folder)],
                              capture_output=True, check=True)
        best = min(best, time.perf_counter() - start)
        out = done.stdout
    return best, out


#: Where the audit's own time goes, in one process: argv[1] the folder, argv[2] repeats.
PHASES = """
import gc, sys, time
from caffefill.audit.context import AuditOptions
from caffefill.audit.engine import collect, run_rules
from caffefill.audit.loading import load_context
from caffefill.net.reader import read_net
files, _ = collect([sys.argv[1]])
texts = [(path, open(path, encoding="utf-8").read()) for path in files]
best = {"total": float("inf"), "read": float("inf")}  # CPU seconds
gc.disable()  # as the audit runs its files (engine._collector_paused)
for _ in range(int(sys.argv[2])):
    start = time.process_time()
    for path, text in texts:
        try:
            run_rules(load_context(path, text, AuditOptions()))
        except Exception:
            pass
        gc.collect(0)
    best["total"] = min(best["total"], time.process_time() - start)
    start = time.process_time()
    for path, text in texts:
        try:
            read_net(path, text=text)
        except Exception:
            pass
        gc.collect(0)
    best["read"] = min(best["read"], time.process_time() - start)
print(len(texts), best["total"], best["read"])
"""


#: The CPU seconds of auditing the files of argv[1]: all of them in this process
#: (argv[2] "all"), one of the two shares the audit gives two cores ("0", "1"),
#: or both as the audit does ("fork": the first here while a forked child audits
#: the second; their sum).
SHARES = """
import os, sys, time
import caffefill.audit.engine as engine
from caffefill.audit.context import AuditOptions
files, _ = engine.collect([sys.argv[1]])
jobs = [(path, AuditOptions(), engine.EVERYTHING) for path in files]
sizes = [os.path.getsize(path) for path in files]
shares = [[jobs[i] for i in share] for share in engine._shares(sizes, 2)]
def cpu(share):
    with engine._collector_paused():
        start = time.process_time()
        for job in share:
            engine._audit_job(job)
        return time.process_time() - start
mode = sys.argv[2]
if mode == "all":
    print(cpu(jobs))
elif mode == "fork":
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, f"{cpu(shares[1])!r}".encode())
        os._exit(0)
    os.close(write)
    here = cpu(shares[0])
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        print(here + float(pipe.read()))
else:
    print(cpu(shares[int(mode)]))
"""


def bench_contention(folder: Path, repeat: int, env: dict[str, str]) -> str:
    """The four ways of :data:`SHARES` (see the module's docstring); the ratios line."""
    py = sys.executable

    def run(*modes: str) -> float:
        """CPU seconds of the given modes' children, started at the same time."""
        children = [subprocess.Popen([py, "-c", SHARES, str(folder), mode], env=env,
                                     stdout=subprocess.PIPE, text=True) for mode in modes]
        return sum(float(child.communicate()[0]) for child in children)

    ways: dict[str, Callable[[], float]] = {
        "one process": lambda: run("all"),
        "this process and a forked child at once": lambda: run("fork"),
        "two processes at once": lambda: run("0", "1"),
        "two processes one after the other": lambda: run("0") + run("1")}
    best = dict.fromkeys(ways, float("inf"))
    for _ in range(repeat):
        for name, way in ways.items():
            best[name] = min(best[name], way())
    one = best["one process"]
    print("CPU time of auditing the files in two shares (imports left out), best of "
          f"{repeat}:")
    for name, used in best.items():
        print(f"  {name:<42} {used:7.3f} s  {used / one:5.2f}x one process")
    forked, apart, serial = (best[name] / one for name in list(ways)[1:])
    return (f"contention as the audit/one {forked:.2f}, apart at once/one {apart:.2f}, "
            f"apart one after the other/one {serial:.2f}")


def corpus_folder() -> tuple[Path, str]:
    """The shared corpus, else tests/data's nets (copied to one folder by the caller)."""
    corpus = SHARED / "corpus"
    if corpus.is_dir():
        return corpus, "the shared corpus"
    return ROOT / "tests" / "data" / "nets", "tests/data/nets (no shared corpus here)"


def child_env(cache: str) -> dict[str, str]:
    """The children's environment: a bytecode cache of their own, written."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = cache
    return env


def timed_child(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one child run; CPU is user + system, which a
    machine shared with other work inflates far less than the wall time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, capture_output=True, check=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bench_corpus(repeat: int, against: str | None = None, contention: bool = False) -> int:
    folder, what = corpus_folder()
    py = sys.executable
    audit = [py, "-m", "caffefill", "audit", "--isolated", "--exit-zero", str(folder)]
    serial = [py, "-c", CHILD.replace('"--format", "json", ', ""), str(10**18), str(folder)]
    runs = {
        "bare start (python -c pass)": [py, "-c", "pass"],
        "import numpy, google.protobuf": [py, "-c", "import numpy, google.protobuf"],
        "caffefill --version": [py, "-c", "from caffefill.cli import main; main(['--version'])"],
        f"caffefill audit ({what})": audit,
        "the same audit forced to one process": serial,
    }
    before = {"the audit, from --against": audit,
              "forced to one process, from --against": serial} if against else {}
    with tempfile.TemporaryDirectory(prefix="bench_audit-pyc-") as cache:
        env = child_env(cache)
        env_before = dict(env, PYTHONPATH=str(Path(against).resolve())) if against else env
        envs = {**dict.fromkeys(runs, env), **dict.fromkeys(before, env_before)}
        for name, command in {**runs, **before}.items():  # warm the bytecode and page caches
            subprocess.run(command, capture_output=True, check=True, env=envs[name])
        best = dict.fromkeys({**runs, **before}, float("inf"))
        cpu = dict.fromkeys({**runs, **before}, float("inf"))
        for _ in range(repeat):  # interleaved: a load that comes and goes hits all alike
            for name, command in {**runs, **before}.items():
                wall, used = timed_child(command, envs[name])
                best[name], cpu[name] = min(best[name], wall), min(cpu[name], used)
        phases = subprocess.run([py, "-c", PHASES, str(folder), str(max(repeat, 1))],
                                capture_output=True, check=True, text=True, env=env)
        shared = bench_contention(folder, max(repeat, 1), env) if contention else ""
    count, total, read = (float(v) for v in phases.stdout.split())
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1, 5, 15 min) at the end; "
          f"{len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'} cores")
    print(f"{'best of ' + str(repeat):<44} {'wall':>9} {'CPU':>9}")
    for name in best:
        print(f"{name:<44} {best[name]:7.3f} s {cpu[name]:7.3f} s")
    ratios = []
    for label, times in (("wall", best), ("CPU", cpu)):
        bare, deps, version, whole, one = (times[name] for name in runs)
        print(f"{label}: the audit above the bare start {whole - bare:.3f} s, the "
              f"dependencies' import {deps - bare:.3f} s, caffefill --version "
              f"{version - bare:.3f} s")
        ratios.append(f"{label} audit/bare {whole / bare:.2f}, audit/deps {whole / deps:.2f}, "
                      f"(audit-bare)/(deps-bare) {(whole - bare) / (deps - bare):.2f}, "
                      f"version/deps {version / deps:.2f}, one process/audit {one / whole:.2f}")
        if before:
            then, then_one = (times[name] for name in before)
            ratios[-1] += (f", audit/against {whole / then:.2f}, one process/against's "
                           f"{one / then_one:.2f}")
    print(f"in one process, {count:.0f} files, CPU: audit {total:.3f} s, of which reading the "
          f"text (the parser) {read:.3f} s = {read / total:.0%}")
    if shared:
        ratios.append(shared)
    print(f"ratios: {'; '.join(ratios)}; parser share {read / total:.2f}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--corpus", action="store_true",
                        help="time the shared corpus's audit from a cold start instead")
    parser.add_argument("--against", metavar="SRC",
                        help="with --corpus, also time the audit as imported from SRC (a "
                             "folder holding the caffefill package, e.g. an earlier commit's src)")
    parser.add_argument("--contention", action="store_true",
                        help="with --corpus, also compare the CPU time of two shares audited "
                             "at once (forked, or started apart) with one process's")
    args = parser.parse_args()
    if args.corpus:
        return bench_corpus(args.repeat, args.against, args.contention)
    nets = sources()
    with tempfile.TemporaryDirectory(prefix="bench_audit-") as tmp:
        folder = Path(tmp) / "nets"
        for i in range(args.files):
            sub = folder / f"{i // 100:03d}"
            sub.mkdir(parents=True, exist_ok=True)
            source = nets[i % len(nets)]
            shutil.copyfile(source, sub / f"{i:05d}_{source.name}")
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        one, serial = timed(10**9, folder, args.repeat)
        every, parallel = timed(1, folder, args.repeat)
    print(f"{args.files} files, {cores} cores: one process {one:.2f} s, every core "
          f"{every:.2f} s, ratio {one / every:.2f}x; outputs identical: {serial == parallel}")
    return 0 if serial == parallel else 1


if __name__ == "__main__":
    raise SystemExit(main())
