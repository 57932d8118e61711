#!/usr/bin/env python3
"""Speed of the prototxt reader against protobuf's own text_format, in the same run.

Reads every ``*.prototxt`` of the shared corpus (or, when it is not there, of
tests/data) into memory, then times, best of --repeat, reading all of them:

* ``read_net`` (what ``audit``, ``init`` and ``show`` use: the parse with
  positions, the binding to NetParameter, filler blocks, unknown fields as
  warnings), and ``parse_tree`` alone (the schema-free tree);
* ``google.protobuf.text_format.Parse`` of the same texts into a
  ``NetParameter`` (the baseline).

Files that protobuf refuses (unknown fork fields, V0 syntax it cannot bind)
are left out of all timings, so each number covers the same texts.  The last
line gives the ratios (protobuf's time over ours: above 1 means ours is faster).
Times are the process's CPU time, which other work on a busy machine disturbs
less than the wall clock.

    python3 tools/bench_reader.py [--repeat R] [FOLDER]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

from google.protobuf import text_format

from caffefill._proto import caffefill_pb2 as pb
from caffefill.net.reader import parse_tree, read_net

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CAFFEFILL_SHARED", ROOT.parent / "shared"))


def sources(folder: Path | None) -> list[Path]:
    if folder is None:
        corpus = SHARED / "corpus"
        folder = corpus if corpus.is_dir() else ROOT / "tests" / "data"
    return sorted(folder.rglob("*.prototxt"))


def protobuf_reads(text: bytes) -> bool:
    try:
        text_format.Parse(text, pb.NetParameter())
    except text_format.ParseError:
        return False
    return True


def best_of(repeat: int, run: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    texts = [(str(p), p.read_bytes()) for p in sources(args.folder)]
    kept = [(path, text) for path, text in texts if protobuf_reads(text)]
    if not kept:
        print("no file to read")
        return 1

    def ours() -> None:
        for path, text in kept:
            read_net(path, text=text)

    def tree() -> None:
        for path, text in kept:
            parse_tree(text, path=path)

    def theirs() -> None:
        for _, text in kept:
            text_format.Parse(text, pb.NetParameter())

    size = sum(len(text) for _, text in kept)
    # Interleaved, so that a busy machine slows every candidate alike.
    ours_s = tree_s = theirs_s = float("inf")
    for _ in range(args.repeat):
        ours_s = min(ours_s, best_of(1, ours))
        tree_s = min(tree_s, best_of(1, tree))
        theirs_s = min(theirs_s, best_of(1, theirs))
    print(f"{len(kept)} files ({size / 1024:.0f} KiB; {len(texts) - len(kept)} that protobuf "
          f"refuses left out), best of {args.repeat}")
    print(f"read_net            {ours_s * 1000:8.1f} ms")
    print(f"parse_tree alone    {tree_s * 1000:8.1f} ms")
    print(f"protobuf text_format{theirs_s * 1000:8.1f} ms")
    print(f"ratios (protobuf / ours): read_net {theirs_s / ours_s:.2f}x, parse_tree "
          f"{theirs_s / tree_s:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
