"""``caffefill show``: a table of a net's learnable blobs and their fillers."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import CaffefillError
from .options import (
    EXIT_OK,
    add_common_args,
    add_filler_args,
    add_net_args,
    add_profile_args,
    net_source,
    print_warnings,
)


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "show", help="table of a net's learnable blobs and their fillers")
    add_common_args(p)
    add_net_args(p)
    add_filler_args(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_profile_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..net.load import DEFAULT_PHASE, load_net
    from ..overrides import apply_overrides, parse_overrides
    from ..profiles import resolve
    from ..show import render_json, render_table, summarize
    from ..solver import load_train_net

    profile = resolve(args.caffe, args.boost)
    source = net_source(args)
    overrides = parse_overrides(source["fillers"])  # refused before the net is read
    if args.solver is not None:
        if args.phase is not None:
            raise CaffefillError("a solver builds its TRAIN net: give no --phase with it")
        _, src, model = load_train_net(args.solver, stages=tuple(args.stages),
                                       level=args.level, inputs=source["inputs"],
                                       strict=args.strict, profile=profile)
    else:
        src, model = load_net(args.prototxt, phase=args.phase or DEFAULT_PHASE,
                              stages=args.stages, level=args.level or 0,
                              inputs=source["inputs"], strict=args.strict, profile=profile)
    print_warnings(src.warnings)
    model, _ = apply_overrides(model, overrides, inputs=source["inputs"], profile=profile)
    rows = summarize(model, profile)
    print(render_json(model, rows) if args.json else render_table(model, rows))
    return EXIT_OK
