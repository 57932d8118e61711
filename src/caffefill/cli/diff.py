"""``caffefill diff``: compare two weight files blob by blob."""

from __future__ import annotations

import argparse
from typing import Any

from .options import EXIT_FOUND, EXIT_OK, add_common_args, add_memory_arg, memory_limit


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "diff", help="compare two weight files blob by blob")
    add_common_args(p)
    p.add_argument("a")
    p.add_argument("b")
    add_memory_arg(p, "files whose values")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..diff import diff_weights, render_diff
    from ..writers import load_weights

    limit = memory_limit(args)
    a = load_weights(args.a, max_bytes=limit)
    b = load_weights(args.b, max_bytes=max(0, limit - _weights_bytes(a)))
    report = diff_weights(a.params, b.params)
    print(render_diff(report, args.a, args.b))
    return EXIT_OK if report.identical else EXIT_FOUND


def _weights_bytes(weights: Any) -> int:
    return sum(int(array.nbytes) for blobs in weights.params.values() for array in blobs)
