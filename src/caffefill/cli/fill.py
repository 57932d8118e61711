"""``caffefill fill``: one filler on one blob shape."""

from __future__ import annotations

import argparse
import shutil
import sys
from typing import TYPE_CHECKING, Any

from ..errors import CaffefillError
from ..fillers import FILLER_FIELDS, FillerParameter
from .options import (
    EXIT_OK,
    add_common_args,
    add_memory_arg,
    add_profile_args,
    memory_limit,
    parse_dims,
    parse_float,
    parse_int32,
    parse_seed,
)

if TYPE_CHECKING:  # numpy loads when a fill is written or printed, not at start-up
    import numpy as np


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "fill", help="one filler on one blob",
        description="Run one Caffe filler on one blob shape.")
    add_common_args(p)
    p.add_argument("--filler", help='FillerParameter text, e.g. \'type: "msra"\'')
    p.add_argument("--type", help="filler type (instead of --filler)")
    for field in FillerParameter.DESCRIPTOR.fields:  # every field some filler reads
        if field.name not in FILLER_FIELDS:
            continue
        option = "--" + field.name.replace("_", "-")
        if field.enum_type is not None:
            p.add_argument(option, choices=[v.name for v in field.enum_type.values])
        else:
            p.add_argument(option, type=parse_float if field.cpp_type == field.CPPTYPE_FLOAT
                           else parse_int32)
    p.add_argument("--shape", required=True, type=parse_dims, help="blob shape, e.g. 64,3,7,7")
    p.add_argument("--seed", type=parse_seed,
                   help="Caffe's random seed (default: a random one, printed)")
    p.add_argument("-o", "--output", help="write the values to this .npy file")
    p.add_argument("--print", action="store_true", dest="print_values",
                   help="print the values, in the blob's shape (long blobs summarized)")
    p.add_argument("--force", action="store_true", help="replace an existing output")
    add_memory_arg(p, "blobs estimated to")
    add_profile_args(p)
    p.set_defaults(func=run)


def _filler_text(args: argparse.Namespace) -> str:
    if args.filler is not None:
        return str(args.filler)
    if args.type is None:
        raise CaffefillError("give --filler TEXT or --type NAME")
    parts = [f'type: "{args.type}"']
    for name in FILLER_FIELDS:
        value = getattr(args, name)
        if value is not None:
            parts.append(f"{name}: {value}")
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    from ..fillers import check_shape, fill
    from ..init import choose_seed
    from ..memory import check_blob_memory
    from ..writers.atomic import atomic_output, check_target, open_output

    text = _filler_text(args)
    if args.output:
        check_target(args.output, args.force)
    check_blob_memory(check_shape(args.shape), memory_limit(args))
    seed = args.seed
    if seed is None:  # as init does: a random seed, said so it can be given again
        seed = choose_seed()
        print(f"caffefill: no --seed given; using seed {seed}", file=sys.stderr)
    values = fill(text, args.shape, seed=seed, caffe=args.caffe, boost=args.boost)
    if args.output:
        import numpy as np

        with atomic_output(args.output, force=args.force) as temp, open_output(temp) as f:
            np.save(f, values, allow_pickle=False)
    from ..summary import mean_std

    mean, std = mean_std(values)
    target = f" -> {args.output}" if args.output else ""
    print(f"{text} shape={list(values.shape)} count={values.size} seed={seed} "
          f"mean={mean:.6g} std={std:.6g}{target}")
    if args.print_values:
        print(format_values(values))
    return EXIT_OK


def format_values(values: np.ndarray) -> str:
    """``values`` as numpy prints them, in the blob's shape: each float32 in the
    shortest form that reads back exactly, fixed-point while that stays readable, rows as wide
    as the terminal, and the middle of a long blob elided."""
    import numpy as np

    width = shutil.get_terminal_size().columns
    return np.array2string(values, max_line_width=max(width, 40), separator=" ",
                           floatmode="unique", threshold=1000, edgeitems=3)
