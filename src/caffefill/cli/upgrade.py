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
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..net.reader import read_net
    from ..net.upgrade import upgrade_net, upgraded_text
    from ..writers.atomic import atomic_output

    src = read_net(args.prototxt)
    upgraded = upgrade_net(src)
    text = upgraded_text(upgraded)
    with atomic_output(args.output, force=args.force) as temp:
        temp.write_text(text, encoding="utf-8")
    what = upgraded.was_legacy or "current"
    print(one_line(f"{args.output}: upgraded from {what} syntax, "
                   f"{len(upgraded.param.layer)} layers"))
    for note in upgraded.notes:  # notes name layers of the file
        print(f"  {one_line(note)}")
    return EXIT_OK
