#!/usr/bin/env python3
"""Speed and memory of ``caffefill diff`` on two VGG-16 .caffemodel files against ``cmp``.

Writes VGG-16's weights (138,357,544 values, 553 MB) twice with ``caffefill
init`` (the same seed, so the files are equal and both tools read every
byte), then in the same run times ``cmp A B`` and ``caffefill diff A B``
(each in a child process, best of --repeat, alternating, the files in the
page cache) and reports each child's CPU time (user + system, all threads)
and peak RSS.  For scale, a child that only starts Python and imports numpy
is timed too: the floor of any Python command.  The children keep compiled
bytecode in a cache of the run (``PYTHONPYCACHEPREFIX``, even where
``PYTHONDONTWRITEBYTECODE`` is set), warmed by a first untimed run, as an
installed package has its ``.pyc`` files.  Targets: diff within 1.5x of
cmp, peak RSS at most 128 MiB.  With --differ, B gets another seed (every
value differs: the slow path's cost).  With --against SRC, the ``caffefill
diff`` of another source tree (an earlier commit's ``src``, its extension
built) is timed too, in the same rounds: a before/after in one run.  The
last line has every ratio.

    python3 tools/bench_diff.py [--repeat R] [--differ] [--dir /dev/shm] [--against SRC]
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


def child_env(cache: str) -> dict[str, str]:
    """The environment of the timed children: bytecode cached in ``cache``."""
    env = dict(os.environ, PYTHONPYCACHEPREFIX=cache)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_child(args: list[str], ok: tuple[int, ...] = (0,),
              env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak RSS bytes) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in ok:
        sys.exit(f"child failed: {' '.join(args)}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--differ", action="store_true",
                        help="compare files of different seeds (every value differs)")
    parser.add_argument("--dir", help="where the files are written (default: a temporary "
                        "folder; /dev/shm keeps them in memory)")
    parser.add_argument("--against", metavar="SRC",
                        help="also time caffefill diff as imported from SRC (a folder holding "
                             "the caffefill package, e.g. an earlier commit's src)")
    args = parser.parse_args()
    if shutil.which("cmp") is None:
        sys.exit("needs cmp(1)")
    caffefill = [sys.executable, "-m", "caffefill"]
    runs: dict[str, list[tuple[float, float, int]]] = {"cmp": [], "diff": [], "start": []}
    if args.against:
        runs["against"] = []
    with tempfile.TemporaryDirectory(prefix="caffefill-bench-diff-", dir=args.dir) as tmp:
        net = Path(tmp) / "vgg16.prototxt"
        net.write_text(vgg16(), encoding="utf-8")
        a, b = Path(tmp) / "a.caffemodel", Path(tmp) / "b.caffemodel"
        for out, seed in ((a, 1), (b, 2 if args.differ else 1)):
            subprocess.run([*caffefill, "init", str(net), "-o", str(out), "--seed", str(seed),
                            "--quiet"], check=True, stdout=subprocess.DEVNULL)
        size = a.stat().st_size
        ok = (0, 1)
        env = child_env(str(Path(tmp) / "pycache"))
        diff = [*caffefill, "diff", str(a), str(b), "--quiet"]
        env_before = dict(env, PYTHONPATH=str(Path(args.against).resolve())) \
            if args.against else env
        for child in (env, env_before):
            run_child(diff, ok, child)  # fills the bytecode cache
        for _ in range(args.repeat):  # alternate, so all see the same machine
            runs["cmp"].append(run_child(["cmp", "-s", str(a), str(b)], ok))
            runs["diff"].append(run_child(diff, ok, env))
            if args.against:
                runs["against"].append(run_child(diff, ok, env_before))
            runs["start"].append(run_child([sys.executable, "-c", "import numpy"], env=env))
    best = {name: (min(r[0] for r in rs), min(r[1] for r in rs), max(r[2] for r in rs))
            for name, rs in runs.items()}
    print(f"files: 2 x {size / 1e6:.0f} MB (VGG-16, {'different' if args.differ else 'same'} "
          f"seed), best of {args.repeat}")
    for name, label in (("cmp", "cmp -s A B"), ("diff", "caffefill diff A B --quiet"),
                        ("against", "  the same, from --against"),
                        ("start", "python -c 'import numpy'")):
        if name not in best:
            continue
        wall, cpu, peak = best[name]
        print(f"{label:<28} {wall:6.3f} s  (CPU {cpu:6.3f} s)  peak RSS {peak / 2**20:6.1f} MiB")
    ratio = best["diff"][0] / best["cmp"][0]
    cpu_ratio = best["diff"][1] / best["cmp"][1]
    rss = best["diff"][2] / 2**20
    if args.differ:
        print("(cmp stops at the first byte that differs: with --differ, compare with "
              "--against)")
    print(f"diff/cmp time ratio {ratio:.2f} (target <= 1.5), CPU ratio {cpu_ratio:.2f}, "
          f"diff peak RSS {rss:.1f} MiB (target <= 128); Python + numpy's start alone is "
          f"{best['start'][0] / best['cmp'][0]:.2f}x cmp's time")
    before_note = ""
    if "against" in best:
        before = best["against"][0] / best["cmp"][0]
        print(f"--against's diff/cmp time ratio {before:.2f}, CPU ratio "
              f"{best['against'][1] / best['cmp'][1]:.2f}, peak RSS "
              f"{best['against'][2] / 2**20:.1f} MiB")
        before_note = (f" against/cmp={before:.2f} "
                       f"diff/against={best['diff'][0] / best['against'][0]:.2f}")
    print(f"ratios: diff/cmp={ratio:.2f} diff/cmp_cpu={cpu_ratio:.2f} "
          f"start/cmp={best['start'][0] / best['cmp'][0]:.2f} diff_rss_mib={rss:.0f}{before_note}")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
