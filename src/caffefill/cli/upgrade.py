"""``caffefill upgrade``: rewrite a V0/V1 prototxt in current syntax."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import one_line
from .options import EXIT_OK, add_common_args


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "upgrade", help="rewrite a V0/V1 prototxt in current syntax")
    add_common_args(p)
    p.add_argument("prototxt")
    p.add_argument("-o", "--output", required=True,
                   help="the upgraded prototxt ('-': standard output)")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from ..net.reader import read_net, read_source
    from ..net.upgrade import upgrade_net, upgraded_source
    from ..writers.atomic import atomic_output

    data = read_source(args.prototxt)
    src = read_net(args.prototxt, text=data)
    upgraded = upgrade_net(src)
    text, kept = upgraded_source(data.decode("utf-8"), src, upgraded)
    if args.output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        report = sys.stderr
    else:
        with atomic_output(args.output, force=args.force) as temp:
            temp.write_text(text, encoding="utf-8")
        report = sys.stdout
    what = upgraded.was_legacy or "current"
    layout = "" if kept else " (written as Caffe prints it: the source's comments are not kept)"
    print(one_line(f"{args.output}: upgraded from {what} syntax, "
                   f"{len(upgraded.param.layer)} layers{layout}"), file=report)
    for note in upgraded.notes:  # notes name layers of the file
        print(f"  {one_line(note)}", file=report)
    return EXIT_OK
