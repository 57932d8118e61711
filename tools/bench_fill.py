#!/usr/bin/env python3
"""Fill speed of every random filler against Caffe's own fill and a memset.

Fills a (14884, 4096) blob (60,964,864 values, AlexNet's parameter count)
with gaussian std 0.01, msra, xavier, uniform, positive_unitball and the
sparse gaussian, exactly as Caffe would, on one thread.  In the same run:

* the baseline: tools/caffe_fill_baseline.cpp, built here with ``g++ -O2``
  against the system's Boost headers, does what Caffe 1.0's fillers do on
  the CPU (Boost distributions through variate_generator over
  boost::mt19937, one value per call); its values are checked against
  ours.  Skipped, with a message, when g++ or the Boost headers are missing.
* the limit: numpy's ``ndarray.fill`` of the same bytes (a memset).

Times are the filling thread's CPU time (the stream continues from fill to
fill, as successive fills of a net do), so other work on a shared machine
does not count, though it still slows both sides through the shared caches
and cores.  So each of ``--pairs`` fills of ours is made right before or right
after (alternately) one of the baseline's, which stays running and fills
when asked, and each such pair gives one ratio of two times measured within
a second of each other: the median of those ratios is the speed-up, their
quartiles and range say how steady it is, and the best time against the
best time (as earlier versions of this script printed it) is given beside
them.  Targets: every filler at least 5x the baseline.  The Boost
1.56-1.63 normal has no baseline here; its rate is printed for comparison
across runs.  The Boost <= 1.55 (Box-Muller) normal's bulk path, on 1
thread, 2 and all cores, is timed by wall clock against its one pair at a
time path (Boost's order) in the same run, and on 1 thread with the C
library's logf and sincosf too where it uses glibc_vec.c's (``--only
boxmuller`` times only this, ``--only NAME`` only that filler against the
baseline); ``--busy K`` keeps K other processes (each in a session of its
own, as other users' work is) spinning meanwhile, to see how the threads
fare on a loaded machine.

Both sides fill a buffer of their own whose pages were touched before any
timing (ours a NumPy array, which NumPy asks the kernel to back with huge
pages; the baseline's a std::vector), and refill it on every fill: the
time of the fill alone.  Real Caffe does more on a new blob: its
Filler::Fill calls Blob::mutable_cpu_data(), which on first use mallocs the
blob and memsets it to 0 (SyncedMemory::to_cpu) before the values are
drawn; the baseline leaves that out, so the speed-ups here are what is
left when neither side pays for memory.  What a user waits for with a new
blob is timed too (``--new-pairs`` pairs per filler): the baseline mallocs,
memsets and fills a new blob, ours is ``caffefill.fill``, a new array whose
pages the fill touches first; there the kernel's zeroing of fresh pages
counts on both sides (after one untimed new blob on each side: a VM's first
touch of memory the guest never used is the hypervisor's time).
The last line has every ratio.

    python3 tools/bench_fill.py [--pairs P] [--new-pairs P] [--repeat R] [--no-baseline]
                                [--only boxmuller|NAME] [--busy K] [--simd LEVEL]
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import caffefill
from caffefill import _core
from caffefill.fillers import fill_blob, parse_filler
from caffefill.profiles import resolve

ROOT = Path(__file__).resolve().parents[1]
BASELINE_SOURCE = ROOT / "tools" / "caffe_fill_baseline.cpp"
ROWS, COLS = 14884, 4096
SEED = 1701
#: The C core's vector code by level (caffefill._core.simd_level).
SIMD_LEVELS = ("portable", "AVX2", "AVX-512")
#: The build whose fills are timed against the baseline's.
CAFFE, BOOST = "1.0", "1.74"

#: name -> filler text; the baseline program knows each name.  The sparse
#: gaussian keeps each weight with probability sparse / rows = 0.5.
FILLERS = {
    "gaussian": 'type: "gaussian" std: 0.01',
    "msra": 'type: "msra"',
    "xavier": 'type: "xavier"',
    "uniform": 'type: "uniform" min: -0.05 max: 0.05',
    "positive_unitball": 'type: "positive_unitball"',
    "sparse_gaussian": f'type: "gaussian" std: 0.01 sparse: {ROWS // 2}',
}
#: Profiles whose normal has no baseline here: (label, boost version).
#: Boost 1.55's is timed by box_muller_scaling.
OLD_NORMALS = (("gaussian boost 1.58", "1.58"),)


def cpu_best(repeat: int, work: Callable[[], object]) -> float:
    """Best thread CPU time of ``repeat`` calls of ``work``."""
    best = float("inf")
    for _ in range(repeat):
        start = time.thread_time()
        work()
        best = min(best, time.thread_time() - start)
    return best


def wall_best(repeat: int, work: Callable[[], object]) -> tuple[float, float]:
    """Best wall time of ``repeat`` calls of ``work``, and the process CPU
    time (all threads) of that call."""
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        work()
        best = min(best, (time.perf_counter() - start, time.process_time() - cpu))
    return best


def box_muller_scaling(repeat: int, blob: np.ndarray, memset: float,
                       busy: int = 0) -> list[str]:
    """Boost 1.55's Box-Muller normal: the one pair at a time path (the
    reference; Boost's order) against the bulk path on 1 thread with the C
    library's logf and sincosf, and with glibc_vec.c's where it is in use,
    on 1 thread, 2 and all the process may use, alternating, wall time (and
    CPU time of all threads), with ``busy`` spinning processes beside.
    Prints a line each; returns the ratios."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"],
                                 start_new_session=True) for _ in range(busy)]
    try:
        return _box_muller_scaling(repeat, blob, memset, busy)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def _box_muller_scaling(repeat: int, blob: np.ndarray, memset: float,
                        busy: int) -> list[str]:
    from caffefill import _core

    n = blob.size
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    was, was_vector = _core.box_muller(), _core.box_muller_vector()
    vector = _core.box_muller_vector(1)
    # (label, threads, vector libm)
    settings = [("bulk, 1 thread, libm", 1, False)] if vector else []
    settings += [("bulk, 1 thread", 1, vector)]
    settings += [("bulk, 2 threads", 2, vector)] if cores >= 2 else []
    settings += [(f"bulk, all {cores} cores", 0, vector)] if cores > 2 else []
    fill = functools.partial(fill_blob, parse_filler(FILLERS["gaussian"]), blob,
                             caffefill.CaffeRNG(SEED), resolve("1.0", "1.55"))
    labels = ["reference"] + [label for label, _, _ in settings]
    best = {label: (float("inf"), float("inf")) for label in labels}
    try:
        for _ in range(repeat):
            _core.box_muller(0, 0)
            best["reference"] = min(best["reference"], wall_best(1, fill))
            for label, threads, use_vector in settings:
                _core.box_muller(1, threads)
                _core.box_muller_vector(int(use_vector))
                best[label] = min(best[label], wall_best(1, fill))
    finally:
        _core.box_muller(int(was[0]), was[1])
        _core.box_muller_vector(int(was_vector))
    source = "glibc_vec.c (four at a time)" if vector else \
        "the C library (glibc_vec.c is not usable here)"
    print(f"Box-Muller bulk path's logf and sincosf: {source}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{cores} cores for this process, {busy} spinning processes beside, "
          f"load average {load}")
    reference = best["reference"][0]
    ratios = []
    for label, (wall, cpu) in best.items():
        print(f"gaussian boost 1.55 {label:<22} {n / wall / 1e6:8.1f} M values/s wall "
              f"({n / cpu / 1e6:6.1f} per CPU second), {wall / memset:5.1f}x memset's time, "
              f"{reference / wall:5.2f}x the one pair at a time path")
        if label != "reference":
            name = "_".join(label.split(", ")[1:]).replace(" ", "_")
            ratios.append(f"boost1.55_{name}/pair_at_a_time={reference / wall:.2f}x")
    if "bulk, 2 threads" in best:
        ratio = best["bulk, 1 thread"][0] / best["bulk, 2 threads"][0]
        print(f"gaussian boost 1.55 bulk: 2 threads {ratio:.2f}x as fast as 1")
        ratios.append(f"boost1.55_2_threads/1_thread={ratio:.2f}x")
    return ratios


def checksums(blob: np.ndarray) -> tuple[int, int]:
    """The baseline's checksums: the float bits' sum mod 2**64 and their xor."""
    words = blob.reshape(-1).view(np.uint32)
    return int(words.sum(dtype=np.uint64)), int(np.bitwise_xor.reduce(words))


def build_baseline(workdir: str) -> str | None:
    """Compile the baseline program; None (after saying why) when it cannot be."""
    compiler = shutil.which("g++")
    if compiler is None:
        print("baseline skipped: no g++ on this machine")
        return None
    binary = os.path.join(workdir, "caffe_fill_baseline")
    result = subprocess.run([compiler, "-O2", "-o", binary, str(BASELINE_SOURCE)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        missing = "boost/" in result.stderr
        print("baseline skipped: " + ("the Boost headers are missing (Debian: apt-get "
                                      "install libboost-dev)" if missing else
                                      "it does not compile:\n" + result.stderr[-2000:]))
        return None
    return binary


def run_baseline(binary: str, name: str, repeat: int, count: int = ROWS * COLS,
                 rows: int = ROWS) -> tuple[float, tuple[int, int]]:
    """(best CPU seconds, checksums of the last fill) of the baseline for one
    filler on a blob of ``count`` values in ``rows`` rows."""
    out = subprocess.run([binary, name, str(count), str(rows), str(repeat), str(SEED)],
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), (int(out[1]), int(out[2]))


class BaselineFills:
    """The baseline for one filler kept running (its REPEAT 0 mode): each
    call makes one more fill of the stream and returns (CPU seconds, checksums)."""

    def __init__(self, binary: str, name: str) -> None:
        self.process = subprocess.Popen(
            [binary, name, str(ROWS * COLS), str(ROWS), "0", str(SEED)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def __call__(self, request: str = "fill") -> tuple[float, tuple[int, int]]:
        """One more fill: ``request`` "fill" refills the baseline's warm
        buffer, "new" fills a new blob as Caffe's first Fill of it does."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(request + "\n")
        self.process.stdin.flush()
        seconds, total, xored = self.process.stdout.readline().split()
        return float(seconds), (int(total), int(xored))

    def seconds(self) -> float:
        """One more fill; its CPU seconds."""
        return self()[0]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait()


def paired(pairs: int, ours: Callable[[], object],
           baseline: Callable[[], float]) -> tuple[list[float], list[float]]:
    """``pairs`` of one fill of ours and one of the baseline, made one right
    after the other, the order alternating: (our times, the baseline's).
    Both times of a pair were measured within a second of each other, so a
    change of load that lasts longer than that cancels out of their ratio."""
    mine: list[float] = []
    theirs: list[float] = []
    for p in range(pairs):
        if p % 2:
            theirs.append(baseline())
        mine.append(cpu_best(1, ours))
        if not p % 2:
            theirs.append(baseline())
    return mine, theirs


def new_blob_pairs(pairs: int, text: str, rng: caffefill.CaffeRNG, baseline: BaselineFills
                   ) -> tuple[list[float], list[float], str] | None:
    """``pairs`` fills of a new blob each, ours (``caffefill.fill``: a new
    array, its pages first touched by the fill) and the baseline's (malloc,
    memset, draw, as Caffe's first Fill of a blob), alternately first:
    (our times, the baseline's, whether the values agreed); None for 0 pairs.
    The time of handing the blob back to the system is left out on both sides."""
    if pairs <= 0:
        return None
    # One of each first, untimed: on a VM, memory the guest has never touched
    # costs its first toucher about 0.5 s per 232 MiB (seen on a Firecracker VM:
    # 558 ms, then 43 ms for each later new blob), the hypervisor's time, not
    # the fill's, and whichever side allocated first would pay it.
    baseline("new")
    caffefill.fill(text, (ROWS, COLS), rng=rng, caffe=CAFFE, boost=BOOST)  # the streams stay level
    mine: list[float] = []
    theirs: list[float] = []
    same = True
    for p in range(pairs):
        if p % 2:
            seconds, sums = baseline("new")
            theirs.append(seconds)
        start = time.thread_time()
        blob = caffefill.fill(text, (ROWS, COLS), rng=rng, caffe=CAFFE, boost=BOOST)
        mine.append(time.thread_time() - start)
        if not p % 2:
            seconds, sums = baseline("new")
            theirs.append(seconds)
        same = same and sums == checksums(blob)
        del blob
    return mine, theirs, "same values" if same else "VALUES DIFFER"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5,
                        help="best of R for the memset, the old normals and Box-Muller")
    parser.add_argument("--pairs", type=int, default=12,
                        help="fills of ours and of the baseline, one after the other, per filler")
    parser.add_argument("--new-pairs", type=int, default=4, metavar="P",
                        help="fills of a new blob each, ours and the baseline's, per filler")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the C++ baseline (it takes a few seconds per filler)")
    parser.add_argument("--only", choices=["boxmuller", *FILLERS],
                        help="time only the Boost <= 1.55 (Box-Muller) normal, or one filler "
                             "against the baseline")
    parser.add_argument("--simd", type=int, choices=[0, 1, 2], metavar="LEVEL",
                        help="cap the C core's vector code: 0 the portable code, 1 AVX2, "
                             "2 AVX-512 as well (default: the most the CPU has)")
    parser.add_argument("--busy", type=int, default=0, metavar="K",
                        help="K spinning processes beside the Box-Muller timing")
    args = parser.parse_args()
    n = ROWS * COLS
    level = _core.simd_level(-1 if args.simd is None else args.simd)
    blob = np.zeros((ROWS, COLS), dtype=np.float32)  # pages faulted in before any timing
    t_memset = cpu_best(args.repeat, lambda: blob.fill(0))
    print(f"blob {ROWS}x{COLS} ({n:,} values), one thread, CPU time; against the baseline "
          f"{args.pairs} pairs of fills")
    print(f"memset (ndarray.fill):        {n / t_memset / 1e6:8.1f} M values/s")
    print(f"vector code: {SIMD_LEVELS[level]}")
    ratios: list[str] = []
    if args.only == "boxmuller":
        ratios += box_muller_scaling(args.repeat, blob, t_memset, args.busy)
        print("ratios: " + " ".join(ratios))
        return
    with tempfile.TemporaryDirectory() as tmp:
        binary = None if args.no_baseline else build_baseline(tmp)
        profile = resolve(CAFFE, BOOST)
        for name, text in FILLERS.items():
            if args.only and name != args.only:
                continue
            param = parse_filler(text)
            rng = caffefill.CaffeRNG(SEED)
            ours = functools.partial(fill_blob, param, blob, rng, profile)
            ours()  # the first fill from the seed, checked against the baseline's first
            first = checksums(blob)
            if binary is None:
                t_ours = cpu_best(args.repeat, ours)
                print(f"{name:<18} caffefill {n / t_ours / 1e6:8.1f} M values/s, "
                      f"{t_ours / t_memset:5.1f}x memset's time")
                ratios.append(f"{name}/memset={t_ours / t_memset:.1f}")
                continue
            baseline = BaselineFills(binary, name)
            try:
                same = "same values" if baseline()[1] == first else "VALUES DIFFER"
                mine, theirs = paired(args.pairs, ours, baseline.seconds)
                new_blob = new_blob_pairs(args.new_pairs, text, rng, baseline)
            finally:
                baseline.close()
            t_ours, t_caffe = min(mine), min(theirs)
            pair_ratios = [t / o for t, o in zip(theirs, mine, strict=True)]
            q1, median, q3 = statistics.quantiles(pair_ratios, n=4, method="inclusive")
            low, high = min(pair_ratios), max(pair_ratios)
            print(f"{name:<18} caffefill {n / t_ours / 1e6:8.1f} M values/s, "
                  f"{t_ours / t_memset:5.1f}x memset's time; baseline "
                  f"{n / t_caffe / 1e6:7.1f} M values/s; speed-up {median:5.2f}x "
                  f"(median of {len(pair_ratios)} pairs; quartiles {q1:.2f}-{q3:.2f}, "
                  f"range {low:.2f}-{high:.2f}), best against best {t_caffe / t_ours:5.2f}x "
                  f"({same})")
            ratios += [f"{name}={t_caffe / t_ours:.2f}x", f"{name}/memset={t_ours / t_memset:.1f}",
                       f"{name}_median={median:.2f}x", f"{name}_quartiles={q1:.2f}-{q3:.2f}x",
                       f"{name}_range={low:.2f}-{high:.2f}x"]
            if new_blob:
                fresh_ours, fresh_caffe, fresh_same = new_blob
                fresh = statistics.median(t / o for t, o in zip(fresh_caffe, fresh_ours,
                                                                strict=True))
                print(f"{'':<18} new blob each fill: caffefill {min(fresh_ours) * 1e3:6.1f} ms, "
                      f"baseline (malloc, memset, draw) {min(fresh_caffe) * 1e3:6.1f} ms; "
                      f"speed-up {fresh:5.2f}x (median of {len(fresh_ours)} pairs; {fresh_same})")
                ratios.append(f"{name}_new_blob_median={fresh:.2f}x")
        for label, boost in OLD_NORMALS if not args.only else ():
            param = parse_filler(FILLERS["gaussian"])
            rng = caffefill.CaffeRNG(SEED)
            old = resolve("1.0", boost)
            t_ours = cpu_best(args.repeat, functools.partial(fill_blob, param, blob, rng, old))
            print(f"{label:<18} caffefill {n / t_ours / 1e6:8.1f} M values/s, "
                  f"{t_ours / t_memset:5.1f}x memset's time (no baseline)")
            ratios.append(f"boost{boost}/memset={t_ours / t_memset:.1f}")
        if not args.only:
            ratios += box_muller_scaling(args.repeat, blob, t_memset, args.busy)
    ratios.append(f"simd={SIMD_LEVELS[level]}")
    print("ratios: " + " ".join(ratios))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
