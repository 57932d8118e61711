#!/usr/bin/env python3
"""Speed and memory of ``caffefill diff`` on two VGG-16 .caffemodel files against ``cmp``.

Writes VGG-16's weights (138,357,544 values, 553 MB) twice with ``caffefill
init`` (the same seed, so the files are equal and both tools read every
byte), then in the same run times ``cmp A B`` and ``caffefill diff A B``
(each in a child process, best of --repeat, the files in the page cache) and
reports each child's peak RSS.  Targets: diff within 1.5x of cmp, peak RSS at
most 128 MiB.  With --differ, B gets another seed (every value differs: the
slow path's cost).

    python3 tools/bench_diff.py [--repeat R] [--differ]
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

# VGG-16 (Simonyan & Zisserman, configuration D): 13 3x3 convolutions, 3 fully connected.
CONVS = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]


def vgg16() -> str:
    parts = ['name: "VGG16"\nlayer { name: "data" type: "Input" top: "data" '
             'input_param { shape { dim: 1 dim: 3 dim: 224 dim: 224 } } }\n']
    bottom = "data"
    for block, (width, count) in enumerate(CONVS, 1):
        for i in range(1, count + 1):
            name = f"conv{block}_{i}"
            parts.append(f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" '
                         f'top: "{name}" convolution_param {{ num_output: {width} pad: 1 '
                         f'kernel_size: 3 weight_filler {{ type: "gaussian" std: 0.01 }} '
                         f'bias_filler {{ type: "constant" }} }} }}\n')
            bottom = name
        parts.append(f'layer {{ name: "pool{block}" type: "Pooling" bottom: "{bottom}" '
                     f'top: "pool{block}" pooling_param {{ pool: MAX kernel_size: 2 '
                     f'stride: 2 }} }}\n')
        bottom = f"pool{block}"
    for name, width in (("fc6", 4096), ("fc7", 4096), ("fc8", 1000)):
        parts.append(f'layer {{ name: "{name}" type: "InnerProduct" bottom: "{bottom}" '
                     f'top: "{name}" inner_product_param {{ num_output: {width} '
                     f'weight_filler {{ type: "gaussian" std: 0.005 }} '
                     f'bias_filler {{ type: "constant" value: 0.1 }} }} }}\n')
        bottom = name
    return "".join(parts)


def run_child(args: list[str], ok: tuple[int, ...] = (0,)) -> tuple[float, int]:
    """(wall seconds, peak RSS bytes) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in ok:
        sys.exit(f"child failed: {' '.join(args)}")
    return elapsed, usage.ru_maxrss * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--differ", action="store_true",
                        help="compare files of different seeds (every value differs)")
    args = parser.parse_args()
    if shutil.which("cmp") is None:
        sys.exit("needs cmp(1)")
    caffefill = [sys.executable, "-m", "caffefill"]
    with tempfile.TemporaryDirectory(prefix="caffefill-bench-diff-") as tmp:
        net = Path(tmp) / "vgg16.prototxt"
        net.write_text(vgg16(), encoding="utf-8")
        a, b = Path(tmp) / "a.caffemodel", Path(tmp) / "b.caffemodel"
        for out, seed in ((a, 1), (b, 2 if args.differ else 1)):
            subprocess.run([*caffefill, "init", str(net), "-o", str(out), "--seed", str(seed),
                            "--quiet"], check=True, stdout=subprocess.DEVNULL)
        size = a.stat().st_size
        ok = (0, 1)
        cmp_times, diff_times, cmp_peak, diff_peak = [], [], 0, 0
        for _ in range(args.repeat):  # alternate, so both see the same machine
            t, rss = run_child(["cmp", "-s", str(a), str(b)], ok)
            cmp_times.append(t)
            cmp_peak = max(cmp_peak, rss)
            t, rss = run_child([*caffefill, "diff", str(a), str(b), "--quiet"], ok)
            diff_times.append(t)
            diff_peak = max(diff_peak, rss)
    mb = size / 1e6
    print(f"files: 2 x {mb:.0f} MB (VGG-16, {'different' if args.differ else 'same'} seed)")
    print(f"cmp:  {min(cmp_times):.3f} s  peak RSS {cmp_peak / 2**20:.1f} MiB")
    print(f"diff: {min(diff_times):.3f} s  peak RSS {diff_peak / 2**20:.1f} MiB")
    print(f"diff/cmp time ratio {min(diff_times) / min(cmp_times):.2f} (target <= 1.5), "
          f"diff peak RSS {diff_peak / 2**20:.1f} MiB (target <= 128)")


if __name__ == "__main__":
    main()
