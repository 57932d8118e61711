#!/usr/bin/env python3
"""Fill speed on Caffe's exact stream against numpy's PCG64 float32 normal.

Fills 60,965,224 values (AlexNet's parameter count) with gaussian std 0.01,
xavier, msra and uniform, exactly as Caffe would, and in the same run draws
the same number of numpy PCG64 ``standard_normal(dtype=float32)`` values.
Prints values/s for each and the ratio to numpy.  Target: the exact
gaussian at least 4x numpy's PCG64 float32 normal.

    python3 tools/bench_fill.py [--count N] [--repeat R] [--caffe 1.0] [--boost 1.74]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

import caffefill
from caffefill.fillers import fill_blob, parse_filler
from caffefill.profiles import resolve

ALEXNET_VALUES = 60_965_224


def best_of(repeat: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=ALEXNET_VALUES)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--caffe", default="1.0")
    parser.add_argument("--boost", default="1.74")
    args = parser.parse_args()
    n = args.count
    profile = resolve(args.caffe, args.boost)
    out = np.empty(n, dtype=np.float32)
    out.fill(0)  # fault the pages in once, outside the timings

    generator = np.random.Generator(np.random.PCG64(1701))
    t_numpy = best_of(args.repeat, lambda: generator.standard_normal(out=out, dtype=np.float32))
    print(f"numpy PCG64 standard_normal float32: {n / t_numpy / 1e6:8.1f} M values/s "
          f"(baseline)")

    # A 2-D shape with AlexNet's count keeps xavier/msra fans realistic.
    shape = (n // 4096, 4096) if n % 4096 == 0 else (n,)
    fills = {
        "gaussian std 0.01": 'type: "gaussian" std: 0.01',
        "xavier": 'type: "xavier"',
        "msra": 'type: "msra"',
        "uniform -0.05..0.05": 'type: "uniform" min: -0.05 max: 0.05',
    }
    blob = out.reshape(shape)
    for label, text in fills.items():
        param = parse_filler(text)
        rng = caffefill.CaffeRNG(1701)
        elapsed = best_of(args.repeat, lambda p=param, r=rng: fill_blob(p, blob, r, profile))
        rate = n / elapsed / 1e6
        print(f"exact {label:<20} ({profile.caffe}/boost {profile.boost}): {rate:8.1f} M values/s"
              f"  ratio to numpy {t_numpy / elapsed:5.2f}x")


if __name__ == "__main__":
    main()
