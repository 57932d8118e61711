"""``caffefill init``: a net's initial weights, written to a file."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import CaffefillError, one_line
from .options import (
    EXIT_OK,
    add_common_args,
    add_data_arg,
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
from .progress import Bar


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
    add_data_arg(group, "the inputs LSUV measures on (default: each Input top a unit "
                        "Gaussian from Caffe's stream after the fill, other data layers' "
                        "images a unit Gaussian, labels 0)")


class _Counted:
    """A blob that tells the bar about each piece the writer takes from it."""

    def __init__(self, blob: Any, bar: Bar) -> None:
        self._blob, self._bar, self._told = blob, bar, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._blob, name)

    def _tell(self, values: int) -> None:
        values = min(values, int(self._blob.count) - self._told)
        self._told += values
        self._bar.advance(values)

    @property
    def array(self) -> Any:
        array = self._blob.array
        self._tell(int(self._blob.count))
        return array

    def pieces(self) -> Iterator[Any]:
        for piece in self._blob.pieces():
            yield piece
            self._tell(int(piece.size))

    def finish(self) -> None:
        self._tell(int(self._blob.count))
        self._bar.advance(blobs=1)


def _progress(blobs: Iterator[Any], total_values: int, total_blobs: int,
              enabled: bool) -> Iterator[Any]:
    """``blobs``, drawing the progress line (:class:`Bar`) on stderr if ``enabled``."""
    if not enabled:
        yield from blobs
        return
    bar = Bar(total_values, total_blobs)
    bar.advance()
    try:
        for blob in blobs:
            counted = _Counted(blob, bar)
            yield counted
            counted.finish()
    finally:
        bar.end()


def run(args: argparse.Namespace) -> int:
    from ..init import prepare_net
    from ..memory import check_memory
    from ..writers import detect_format, prepare_output, write_weights

    check_lsuv_args(args)
    fmt = detect_format(args.output, args.format)
    prepare_output(args.output, fmt, args.force,
                   inputs=[p for p in (args.prototxt, args.solver) if p is not None])
    options = {"seed": args.seed, "caffe": args.caffe, "boost": args.boost, **net_source(args)}
    data = None
    if args.data is not None:  # data tops may take their shapes from the arrays
        from ..probe.measure import load_data, prepare_with_data

        data = load_data(args.data)
        prepared = prepare_with_data(options.pop("path"), data, options)
    else:
        prepared = prepare_net(**options)
    print_warnings(prepared.warnings)
    check_memory(prepared.model, fmt, memory_limit(args), prepared.profile)
    if args.seed is None and args.solver is None:
        print(f"caffefill: no --seed given; using seed {prepared.seed}", file=sys.stderr)
    model = prepared.model
    drawn: Iterable[Any] = prepared.blobs(lazy=True)
    meta = prepared.meta()
    if args.lsuv:
        model, drawn, meta = run_lsuv(args, prepared, data)
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
        from ..torch import require_torch

        require_torch("--lsuv")
        return
    given = [name for name, value in (("--lsuv-tol", args.lsuv_tol),
                                      ("--lsuv-iter", args.lsuv_iter),
                                      ("--data", args.data)) if value is not None]
    if given:
        raise CaffefillError(f"{', '.join(given)} go{'es' if len(given) == 1 else ''} "
                             f"with --lsuv")


def run_lsuv(args: argparse.Namespace, prepared: Any, data: Any
             ) -> tuple[Any, list[Any], dict[str, Any]]:
    """LSUV on the prepared net: the net as set up (orthonormal start), its
    rescaled blobs and the metadata; a warning per layer left outside the tolerance."""
    from ..lsuv import DEFAULT_MAX_ITER, DEFAULT_TOL, lsuv

    tol = DEFAULT_TOL if args.lsuv_tol is None else args.lsuv_tol
    result = lsuv(prepared, data=data, data_path=args.data, tol=tol,
                  max_iter=DEFAULT_MAX_ITER if args.lsuv_iter is None else args.lsuv_iter)
    for layer in result.unconverged:
        print(one_line(f"warning: LSUV: layer '{layer.layer}': output variance "
                       f"{layer.variance:.4g} after {layer.iterations} rescalings, not within "
                       f"{tol:g} of 1"), file=sys.stderr)
    done = [layer for layer in result.layers if layer.converged]
    if done:
        worst = max(abs(layer.variance - 1.0) for layer in done)
        print(f"caffefill: LSUV: {len(done)} of {len(result.layers)} layers at output variance "
              f"1 within {tol:g} (largest miss {worst:.2g}, at most "
              f"{max(layer.iterations for layer in done)} rescalings each)", file=sys.stderr)
    return result.net.prepared.model, result.blobs(), result.meta
