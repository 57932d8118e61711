#!/usr/bin/env python3
"""Speed of ``caffefill audit`` on a folder of thousands of nets: every core
against one, in the same run.

Copies the nets of tests/data (and of the shared corpus when it is there)
into a temporary folder until it holds --files files, then times ``caffefill
audit`` on it twice in child processes, best of --repeat: with the worker
processes it starts from ``PARALLEL_MIN_FILES`` files on, and forced to one
process.  Prints both times, their ratio and whether the two outputs are
identical (they must be).

    python3 tools/bench_audit.py [--files N] [--repeat R]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CAFFEFILL_SHARED", ROOT.parent / "shared"))

#: Runs the audit in a child with the parallel threshold set from argv[1].
CHILD = """
import sys
import caffefill.audit.engine as engine
engine.PARALLEL_MIN_FILES = int(sys.argv[1])
from caffefill.cli import main
raise SystemExit(main(["audit", "--isolated", "--exit-zero", "--format", "json", sys.argv[2]]))
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
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
