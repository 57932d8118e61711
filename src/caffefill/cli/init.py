"""``caffefill init``: a net's initial weights, written to a file."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import CaffefillError, one_line
from .options import (
    EXIT_OK,
    add_common_args,
    add_filler_args,
    add_memory_arg,
    add_net_args,
    add_profile_args,
    memory_limit,
    net_source,
    parse_iterations,
    parse_seed,
    parse_tolerance,
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
    add_lsuv_args(p)
    add_profile_args(p)
    p.set_defaults(func=run)


def add_lsuv_args(parser: argparse.ArgumentParser) -> None:
    from ..lsuv import DEFAULT_MAX_ITER, DEFAULT_TOL

    group = parser.add_argument_group(
        "LSUV", "layer-sequential unit-variance init (Mishkin & Matas 2015): the weights of "
                "the Convolution/InnerProduct/Deconvolution layers drawn with the orthogonal "
                "filler from Caffe's stream, then each rescaled, in net order, until its "
                "output's variance on the inputs is 1 (needs the torch extra)")
    group.add_argument("--lsuv", action="store_true", help="run LSUV before writing")
    group.add_argument("--lsuv-tol", type=parse_tolerance, default=None, metavar="X",
                       help=f"stop rescaling a layer once |variance - 1| < X "
                            f"(default {DEFAULT_TOL:g})")
    group.add_argument("--lsuv-iter", type=parse_iterations, default=None, metavar="N",
                       help=f"rescale a layer at most N times; layers left outside the "
                            f"tolerance are reported (default {DEFAULT_MAX_ITER})")


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

    check_lsuv_args(args)
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
    drawn: Iterable[Any] = prepared.blobs(lazy=True)
    meta = prepared.meta()
    if args.lsuv:
        model, drawn, meta = run_lsuv(args, prepared)
    total_values = sum(spec.count for layer in model.layers for spec in layer.blobs)
    total_blobs = sum(len(layer.blobs) for layer in model.layers)
    show = not args.quiet and sys.stderr.isatty()
    blobs = _progress(iter(drawn), total_values, total_blobs, show)
    target = write_weights(args.output, blobs, meta, model, fmt=fmt, force=args.force)
    where = "standard output" if args.output == "-" else target
    print(f"{where}: {total_blobs} blobs, {total_values:,} values, seed {prepared.seed}, "
          f"phase {prepared.phase}, caffe {prepared.profile.caffe}, "
          f"boost {prepared.profile.boost}",
          file=sys.stderr if args.output == "-" else sys.stdout)  # stdout holds the weights
    return EXIT_OK


def check_lsuv_args(args: argparse.Namespace) -> None:
    """Refuse the LSUV options without --lsuv, and --lsuv without torch, before any work."""
    if args.lsuv:
        from ..lsuv import require_torch

        require_torch()
        return
    given = [name for name, value in (("--lsuv-tol", args.lsuv_tol),
                                      ("--lsuv-iter", args.lsuv_iter)) if value is not None]
    if given:
        raise CaffefillError(f"{' and '.join(given)} go{'es' if len(given) == 1 else ''} "
                             f"with --lsuv")


def run_lsuv(args: argparse.Namespace, prepared: Any) -> tuple[Any, list[Any], dict[str, Any]]:
    """LSUV on the prepared net: the net as set up (orthonormal start), its
    rescaled blobs and the metadata; a warning per layer left outside the tolerance."""
    from ..lsuv import DEFAULT_MAX_ITER, DEFAULT_TOL, lsuv

    tol = DEFAULT_TOL if args.lsuv_tol is None else args.lsuv_tol
    result = lsuv(prepared, tol=tol,
                  max_iter=DEFAULT_MAX_ITER if args.lsuv_iter is None else args.lsuv_iter)
    for layer in result.unconverged:
        print(one_line(f"warning: LSUV: layer '{layer.layer}': output variance "
                       f"{layer.variance:.4g} after {layer.iterations} rescalings, not within "
                       f"{tol:g} of 1"), file=sys.stderr)
    return result.net.prepared.model, result.blobs(), result.meta
