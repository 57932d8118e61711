"""``caffefill init``: a net's initial weights, written to a file."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from typing import Any

from .options import (
    EXIT_OK,
    add_common_args,
    add_filler_args,
    add_memory_arg,
    add_net_args,
    add_profile_args,
    memory_limit,
    net_source,
    parse_seed,
    print_warnings,
)


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "init", help="materialize a net's initial weights",
        description="Fill every learnable blob exactly as Caffe's Net constructor "
                    "would for the seed, and write them.  The TRAIN net unless --phase "
                    "says otherwise; `--solver solver.prototxt` writes the weights "
                    "`caffe train --solver solver.prototxt` starts from.")
    add_common_args(p)
    add_net_args(p)
    add_filler_args(p)
    p.add_argument("-o", "--output", required=True,
                   help="output: .npz, .caffemodel, .h5, .safetensors, a folder (npy files), "
                        "or - for standard output (with --format npz or caffemodel)")
    p.add_argument("--format", choices=["npz", "npy", "caffemodel", "h5", "safetensors"],
                   help="output format (default: from the extension)")
    p.add_argument("--seed", type=parse_seed,
                   help="Caffe's random seed (default: a random one, printed and recorded)")
    p.add_argument("--force", action="store_true", help="replace an existing output")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_memory_arg(p, "runs estimated to")
    add_profile_args(p)
    p.set_defaults(func=run)


def _progress(blobs: Iterator[Any], total_values: int, total_blobs: int,
              enabled: bool) -> Iterator[Any]:
    if not enabled:
        yield from blobs
        return
    done_values = 0
    start = time.monotonic()
    for done, blob in enumerate(blobs, 1):
        yield blob
        done_values += int(blob.count)
        elapsed = max(time.monotonic() - start, 1e-9)
        width = 30
        frac = done_values / total_values if total_values else 1.0
        bar = "#" * int(frac * width)
        sys.stderr.write(f"\r[{bar:<{width}}] {done}/{total_blobs} blobs "
                         f"{done_values:,}/{total_values:,} values "
                         f"{done_values / elapsed / 1e6:.1f} M/s")
        sys.stderr.flush()
    sys.stderr.write("\n")


def run(args: argparse.Namespace) -> int:
    from ..init import prepare_net
    from ..memory import check_memory
    from ..writers import detect_format, prepare_output, write_weights

    fmt = detect_format(args.output, args.format)
    prepare_output(args.output, fmt, args.force,
                   inputs=[p for p in (args.prototxt, args.solver) if p is not None])
    prepared = prepare_net(seed=args.seed, caffe=args.caffe, boost=args.boost,
                           **net_source(args))
    print_warnings(prepared.warnings)
    check_memory(prepared.model, fmt, memory_limit(args), prepared.profile)
    if args.seed is None and args.solver is None:
        print(f"caffefill: no --seed given; using seed {prepared.seed}", file=sys.stderr)
    model = prepared.model
    total_values = sum(spec.count for layer in model.layers for spec in layer.blobs)
    total_blobs = sum(len(layer.blobs) for layer in model.layers)
    show = not args.quiet and sys.stderr.isatty()
    blobs = _progress(prepared.blobs(lazy=True), total_values, total_blobs, show)
    target = write_weights(args.output, blobs, prepared.meta(), model, fmt=fmt, force=args.force)
    where = "standard output" if args.output == "-" else target
    print(f"{where}: {total_blobs} blobs, {total_values:,} values, seed {prepared.seed}, "
          f"phase {prepared.phase}, caffe {prepared.profile.caffe}, "
          f"boost {prepared.profile.boost}",
          file=sys.stderr if args.output == "-" else sys.stdout)  # stdout holds the weights
    return EXIT_OK
