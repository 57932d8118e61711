"""``caffefill show``: a table of a net's learnable blobs and their fillers."""

from __future__ import annotations

import argparse
from typing import Any

from .options import (
    EXIT_OK,
    add_common_args,
    add_net_args,
    add_profile_args,
    inputs,
    print_warnings,
)


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "show", help="table of a net's learnable blobs and their fillers")
    add_common_args(p)
    add_net_args(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_profile_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..net.load import load_net
    from ..profiles import resolve
    from ..show import render_json, render_table, summarize

    profile = resolve(args.caffe, args.boost)
    src, model = load_net(args.prototxt, phase=args.phase, stages=args.stages, level=args.level,
                          inputs=inputs(args), strict=args.strict, profile=profile)
    print_warnings(src.warnings)
    rows = summarize(model, profile)
    print(render_json(model, rows) if args.json else render_table(model, rows))
    return EXIT_OK
