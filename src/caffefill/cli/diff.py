"""``caffefill diff``: compare two weight files blob by blob."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from .options import (
    EXIT_FOUND,
    EXIT_OK,
    add_common_args,
    add_memory_arg,
    memory_limit,
    parse_number,
)


def parse_tolerance(text: str) -> float:
    value = parse_number(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"a tolerance is a finite number >= 0, not {text!r}")
    return value


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "diff", help="compare two weight files blob by blob",
        description="Compare two weight files (.npz, .caffemodel, .h5, .npy folders; any two "
                    "formats) blob by blob, as float32 bits, reading both piece by piece. "
                    "Exit status 0: the same (within --atol/--rtol if given), 1: they differ.")
    add_common_args(p)
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--atol", type=parse_tolerance, default=0.0, metavar="X",
                   help="values with |a-b| <= atol + rtol*|b| count as the same "
                        "(default 0: every bit counts)")
    p.add_argument("--rtol", type=parse_tolerance, default=0.0, metavar="X",
                   help="relative tolerance, as numpy.isclose (default 0)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--quiet", "-q", action="store_true",
                     help="print nothing; the exit status says it")
    out.add_argument("--json", action="store_true",
                     help="machine-readable report (strict JSON: a float that is not finite "
                          "is the string \"nan\", \"inf\" or \"-inf\")")
    add_memory_arg(p, "files whose comparison would")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..diff import (
        WORKING_BYTES,
        Tolerance,
        comparison_size,
        diff_weights,
        render_diff,
        render_json,
    )
    from ..readers import ReadBudget, open_weights

    budget = ReadBudget(memory_limit(args))
    budget.take(WORKING_BYTES, "the comparison")
    tolerance = Tolerance(args.atol, args.rtol)
    with open_weights(args.a, budget=budget) as a, open_weights(args.b, budget=budget) as b:
        bar = None
        if not args.quiet and sys.stderr.isatty():
            from .progress import Bar

            bar = Bar(*comparison_size(a.params, b.params))
            bar.advance()
        try:
            report = diff_weights(a.params, b.params, tolerance=tolerance, budget=budget,
                                  progress=bar.advance if bar is not None else None)
        finally:
            if bar is not None:
                bar.end()
    if args.json:
        print(render_json(report, args.a, args.b, tolerance))
    elif not args.quiet:
        print(render_diff(report, args.a, args.b))
    return EXIT_OK if report.same else EXIT_FOUND
