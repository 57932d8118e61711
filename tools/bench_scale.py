#!/usr/bin/env python3
"""How ``show``, ``audit`` and ``init`` scale with the size of a net.

For each family of large synthetic nets (tests/bignets.py: long chains, one
top read by many layers, wide concats, one layer with many tops, long
in-place runs, long pass-through tails) runs each command on a net of N
layers (or edges) and on one of 4N, in this process, and prints the ratio of
their CPU times and of their peak traced allocations (tracemalloc, a second
run).  Near-linear work gives ratios near 4; work that grows with the square
gives 16.  Target: every ratio at most 6.

    python3 tools/bench_scale.py [--size N] [--families chain,fan-out] [--commands audit]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.append(str(ROOT / "src"))  # an installed caffefill (or PYTHONPATH) comes first

import bignets  # noqa: E402

from caffefill.cli import main as caffefill  # noqa: E402

COMMANDS = ("show", "audit", "init")


def run(command: str, net: Path, out: Path, traced: bool) -> tuple[float, int]:
    """(CPU seconds, peak traced bytes or 0) of one command."""
    args = [command, str(net)]
    if command == "init":
        args += ["-o", str(out), "--seed", "1", "--quiet", "--force"]
    if traced:
        tracemalloc.start()
    start = time.process_time()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        status = caffefill(args)
    elapsed = time.process_time() - start
    peak = tracemalloc.get_traced_memory()[1] if traced else 0
    tracemalloc.stop()
    if status not in (0, 1):
        sys.exit(f"caffefill {' '.join(args)} exited with {status}")
    return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000, help="N (default 1000)")
    parser.add_argument("--families", default=",".join(bignets.FAMILIES))
    parser.add_argument("--commands", default=",".join(COMMANDS))
    args = parser.parse_args()
    worst = 0.0
    print(f"{'family':12} {'command':7} {'cpu N':>8} {'cpu 4N':>8} {'ratio':>6} "
          f"{'mem N':>9} {'mem 4N':>9} {'ratio':>6}")
    with tempfile.TemporaryDirectory(prefix="caffefill-bench-scale-") as tmp:
        for family in args.families.split(","):
            make = bignets.FAMILIES[family]
            nets = []
            for n in (args.size, 4 * args.size):
                net = Path(tmp) / f"{family}-{n}.prototxt"
                net.write_text(make(n), encoding="utf-8")
                nets.append(net)
            for command in args.commands.split(","):
                out = Path(tmp) / "out.npz"
                run(command, nets[0], out, False)  # warm up: imports, caches
                cpu = [run(command, net, out, False)[0] for net in nets]
                mem = [run(command, net, out, True)[1] for net in nets]
                ratios = (cpu[1] / max(cpu[0], 1e-9), mem[1] / max(mem[0], 1))
                worst = max(worst, *ratios)
                print(f"{family:12} {command:7} {cpu[0]:7.2f}s {cpu[1]:7.2f}s {ratios[0]:6.1f} "
                      f"{mem[0] / 2**20:7.1f}Mi {mem[1] / 2**20:7.1f}Mi {ratios[1]:6.1f}",
                      flush=True)
    print(f"worst ratio {worst:.1f} (near-linear: about 4; target at most 6)")


if __name__ == "__main__":
    main()
