#!/usr/bin/env python3
"""Speed and memory of ``caffefill init`` on AlexNet against a plain numpy.save.

Runs ``caffefill init`` on the AlexNet train_val net of the reference data
(tests/data/nets/alexnet_train_val_input.prototxt, 60,965,224 values) to
.npz and to .caffemodel, each in a child process, and in the same run a
child that writes the same number of float32 bytes with ``numpy.save``.
Prints wall time, the ratio to the plain write and each child's peak RSS.
Targets: init to .npz within 2x of the plain write; peak RSS for .npz at
most the largest blob + 64 MiB.

    python3 tools/bench_init.py [--repeat R]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NET = ROOT / "tests" / "data" / "nets" / "alexnet_train_val_input.prototxt"

PLAIN = """
import sys, numpy as np
count = int(sys.argv[1])
np.save(sys.argv[2], np.ones(count, dtype=np.float32))
"""


def run_child(args: list[str]) -> tuple[float, int]:
    """(wall seconds, peak RSS bytes) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"child failed: {' '.join(args)}")
    return elapsed, usage.ru_maxrss * 1024


def best(repeat: int, args: list[str], out: Path) -> tuple[float, int]:
    times, peak = [], 0
    for _ in range(repeat):
        if out.exists():
            out.unlink()
        # Flush earlier runs' dirty pages so no run pays for another's writeback.
        os.sync()
        elapsed, rss = run_child(args)
        times.append(elapsed)
        peak = max(peak, rss)
    return min(times), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    sys.path.append(str(ROOT / "src"))  # an installed caffefill (or PYTHONPATH) comes first
    from caffefill.net.load import load_net

    _, model = load_net(NET, phase="TRAIN")
    counts = [spec.count for layer in model.layers for spec in layer.blobs]
    total, largest = sum(counts), max(counts)
    mib = 2**20
    print(f"net: {NET.name}: {total:,} values ({4 * total / mib:.1f} MiB), largest blob "
          f"{4 * largest / mib:.1f} MiB")

    with tempfile.TemporaryDirectory() as tmp:
        plain_out = Path(tmp) / "plain.npy"
        t_plain, rss_plain = best(args.repeat, [sys.executable, "-c", PLAIN, str(total),
                                                str(plain_out)], plain_out)
        print(f"numpy.save of {4 * total / mib:.1f} MiB:  {t_plain:6.2f} s  peak RSS "
              f"{rss_plain / mib:7.1f} MiB  (baseline)")
        for fmt in ("npz", "caffemodel"):
            out = Path(tmp) / f"w.{fmt}"
            cmd = [sys.executable, "-m", "caffefill.cli", "init", str(NET), "-o", str(out),
                   "--phase", "TRAIN", "--seed", "1701", "--quiet"]
            t, rss = best(args.repeat, cmd, out)
            budget = (largest * 4 + 64 * mib) / mib
            print(f"caffefill init -> .{fmt:<10}  {t:6.2f} s  peak RSS {rss / mib:7.1f} MiB  "
                  f"time ratio {t / t_plain:4.2f}x  (RSS budget largest blob + 64 MiB = "
                  f"{budget:.1f} MiB)")


if __name__ == "__main__":
    main()
