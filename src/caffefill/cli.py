"""The ``caffefill`` command line: a thin layer over the library.

Every error about the input is one line on stderr - ``file:line:col: layer
'x': what is wrong`` - and exit status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import CaffefillError, one_line
from .profiles import DEFAULT_BOOST, DEFAULT_CAFFE

EXIT_OK, EXIT_DIFFER, EXIT_ERROR = 0, 1, 2

PROFILE_HELP = (
    "Caffe build to reproduce. --caffe 1.0 (the release, and forks such as SSD) or master "
    "(BVLC master after 2018); --boost X.Y, the Boost Caffe was linked against: find it with "
    "`ldd $(which caffe) | grep boost` (libboost_*.so.1.XX.0) or from the OS (Ubuntu 14.04: "
    "1.54, 16.04: 1.58, 18.04: 1.65, 20.04: 1.71, 22.04: 1.74).")


def parse_dims(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(part) for part in text.replace("x", ",").split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a shape: {text!r} (expected e.g. 64,3,7,7)") from None
    if any(d < 0 for d in dims):
        raise argparse.ArgumentTypeError(f"negative dimension in {text!r}")
    return dims


def parse_input(text: str) -> tuple[str, tuple[int, ...]]:
    name, sep, dims = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=N,C,H,W, got {text!r}")
    return name, parse_dims(dims)


def parse_seed(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer seed: {text!r}") from None
    if not 0 <= value <= 0xFFFFFFFF:
        raise argparse.ArgumentTypeError(f"seed {value} is outside 0..4294967295")
    return value


def parse_memory(text: str) -> int:
    units = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
    raw = text.strip().lower().removesuffix("ib").removesuffix("b")
    scale = 1
    if raw and raw[-1] in units:
        scale = units[raw[-1]]
        raw = raw[:-1]
    try:
        return int(float(raw) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 8G, 512M)") from None


def add_profile_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Caffe build", PROFILE_HELP)
    group.add_argument("--caffe", default=DEFAULT_CAFFE, choices=["1.0", "master"],
                       help=f"Caffe filler code (default {DEFAULT_CAFFE})")
    group.add_argument("--boost", default=DEFAULT_BOOST, metavar="X.Y",
                       help=f"Boost version Caffe was built with (default {DEFAULT_BOOST})")


def add_memory_arg(parser: argparse.ArgumentParser, refused: str,
                   default: str = "half of the memory available") -> None:
    """``--max-memory SIZE``: refuse ``refused`` (what the estimate counts) past SIZE."""
    parser.add_argument("--max-memory", type=parse_memory, default=None, metavar="SIZE",
                        help=f"refuse {refused} need more memory (default: {default})")


def add_net_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prototxt", help="the net definition (.prototxt)")
    parser.add_argument("--phase", default="TEST", type=str.upper, choices=["TRAIN", "TEST"],
                        help="net phase (default TEST)")
    parser.add_argument("--stage", action="append", default=[], dest="stages",
                        help="a NetState stage (repeatable)")
    parser.add_argument("--level", type=int, default=0, help="NetState level (default 0)")
    parser.add_argument("--input", action="append", default=[], type=parse_input,
                        dest="inputs", metavar="NAME=N,C,H,W",
                        help="shape of a top whose shape comes from outside the prototxt "
                             "(Data, ImageData, HDF5Data, Python ...); repeatable")
    parser.add_argument("--strict", action="store_true",
                        help="unknown prototxt fields are errors, not warnings")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="caffefill",
        description="Caffe's initial weights, bit for bit, without Caffe.",
        epilog="Exit status: 0 success, 1 differences/findings (diff, audit), 2 bad input or "
               "usage. Errors print one line: file:line:col: layer 'name': message.")
    parser.add_argument("--version", action="version", version=f"caffefill {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("init", help="materialize a net's initial weights",
                       description="Fill every learnable blob exactly as Caffe's Net constructor "
                                   "would for the seed, and write them.")
    add_net_args(p)
    p.add_argument("-o", "--output", required=True,
                   help="output: .npz, .caffemodel, .h5, or a folder (npy files)")
    p.add_argument("--format", choices=["npz", "npy", "caffemodel", "h5"],
                   help="output format (default: from the extension)")
    p.add_argument("--seed", type=parse_seed,
                   help="Caffe's random seed (default: a random one, printed and recorded)")
    p.add_argument("--force", action="store_true", help="replace an existing output")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_memory_arg(p, "runs estimated to",
                   "half of the memory available: RAM, or a container's or ulimit's limit")
    add_profile_args(p)
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("fill", help="one filler on one blob",
                       description="Run one Caffe filler on one blob shape.")
    p.add_argument("--filler", help='FillerParameter text, e.g. \'type: "msra"\'')
    p.add_argument("--type", help="filler type (instead of --filler)")
    for name in ("value", "min", "max", "mean", "std"):
        p.add_argument(f"--{name}", type=float)
    p.add_argument("--sparse", type=int)
    p.add_argument("--variance-norm", choices=["FAN_IN", "FAN_OUT", "AVERAGE"])
    p.add_argument("--shape", required=True, type=parse_dims, help="blob shape, e.g. 64,3,7,7")
    p.add_argument("--seed", type=parse_seed, required=True)
    p.add_argument("-o", "--output", help="write the values to this .npy file")
    p.add_argument("--force", action="store_true", help="replace an existing output")
    add_memory_arg(p, "blobs estimated to")
    add_profile_args(p)
    p.set_defaults(func=cmd_fill)

    p = sub.add_parser("show", help="table of a net's learnable blobs and their fillers")
    add_net_args(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_profile_args(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("upgrade", help="rewrite a V0/V1 prototxt in current syntax")
    p.add_argument("prototxt")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=cmd_upgrade)

    p = sub.add_parser("diff", help="compare two weight files blob by blob")
    p.add_argument("a")
    p.add_argument("b")
    add_memory_arg(p, "files whose values")
    p.set_defaults(func=cmd_diff)

    from .audit.cli import add_audit_parser

    add_audit_parser(sub)
    return parser


# ------------------------------------------------------------------ commands


def _filler_text(args: argparse.Namespace) -> str:
    if args.filler is not None:
        return str(args.filler)
    if args.type is None:
        raise CaffefillError("give --filler TEXT or --type NAME")
    parts = [f'type: "{args.type}"']
    for name in ("value", "min", "max", "mean", "std", "sparse"):
        value = getattr(args, name)
        if value is not None:
            parts.append(f"{name}: {value}")
    if args.variance_norm:
        parts.append(f"variance_norm: {args.variance_norm}")
    return " ".join(parts)


def cmd_fill(args: argparse.Namespace) -> int:
    from .fillers import fill
    from .writers.atomic import atomic_output

    text = _filler_text(args)
    if args.output:
        from .writers.atomic import check_target

        check_target(Path(args.output), args.force)
    from .fillers import check_shape
    from .memory import check_blob_memory

    limit = args.max_memory if args.max_memory is not None else _available_memory() // 2
    check_blob_memory(check_shape(args.shape), limit)
    values = fill(text, args.shape, seed=args.seed, caffe=args.caffe, boost=args.boost)
    if args.output:
        with atomic_output(Path(args.output), force=args.force) as temp, open(temp, "wb") as f:
            np.save(f, values, allow_pickle=False)
    with np.errstate(all="ignore"):  # inf or NaN values (a constant inf, say)
        mean = float(values.mean(dtype=np.float64)) if values.size else 0.0
        std = float(values.std(dtype=np.float64)) if values.size else 0.0
    target = f" -> {args.output}" if args.output else ""
    print(f"{text} shape={list(values.shape)} count={values.size} mean={mean:.6g} "
          f"std={std:.6g}{target}")
    return EXIT_OK


def _inputs(args: argparse.Namespace) -> dict[str, tuple[int, ...]]:
    return dict(args.inputs)


def _available_memory() -> int:
    from .memory import available_memory

    return available_memory()


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


def cmd_init(args: argparse.Namespace) -> int:
    from .init import prepare_net
    from .memory import check_memory
    from .writers import detect_format, prepare_output, write_weights

    fmt = detect_format(args.output, args.format)
    prepare_output(args.output, fmt, args.force)
    prepared = prepare_net(args.prototxt, phase=args.phase, seed=args.seed, stages=args.stages,
                           level=args.level, inputs=_inputs(args), caffe=args.caffe,
                           boost=args.boost, strict=args.strict)
    for warning in prepared.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    limit = args.max_memory if args.max_memory is not None else _available_memory() // 2
    check_memory(prepared.model, fmt, limit)
    if args.seed is None:
        print(f"caffefill: no --seed given; using seed {prepared.seed}", file=sys.stderr)
    model = prepared.model
    total_values = sum(spec.count for layer in model.layers for spec in layer.blobs)
    total_blobs = sum(len(layer.blobs) for layer in model.layers)
    show = not args.quiet and sys.stderr.isatty()
    blobs = _progress(prepared.blobs(lazy=True), total_values, total_blobs, show)
    target = write_weights(args.output, blobs, prepared.meta(), model, fmt=fmt, force=args.force)
    print(f"{target}: {total_blobs} blobs, {total_values:,} values, seed {prepared.seed}, "
          f"phase {prepared.phase}, caffe {prepared.profile.caffe}, "
          f"boost {prepared.profile.boost}")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from .net.load import load_net
    from .profiles import resolve
    from .show import render_json, render_table, summarize

    profile = resolve(args.caffe, args.boost)
    src, model = load_net(args.prototxt, phase=args.phase, stages=args.stages, level=args.level,
                          inputs=_inputs(args), strict=args.strict)
    for warning in src.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    rows = summarize(model, profile)
    print(render_json(model, rows) if args.json else render_table(model, rows))
    return EXIT_OK


def cmd_upgrade(args: argparse.Namespace) -> int:
    from .net.reader import read_net
    from .net.upgrade import upgrade_net, upgraded_text
    from .writers.atomic import atomic_output

    src = read_net(args.prototxt)
    upgraded = upgrade_net(src)
    text = upgraded_text(upgraded)
    with atomic_output(Path(args.output), force=args.force) as temp:
        temp.write_text(text, encoding="utf-8")
    what = upgraded.was_legacy or "current"
    print(f"{args.output}: upgraded from {what} syntax, {len(upgraded.param.layer)} layers")
    for note in upgraded.notes:
        print(f"  {note}")
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from .diff import diff_weights, render_diff
    from .writers import load_weights

    limit = args.max_memory if args.max_memory is not None else _available_memory() // 2
    a = load_weights(args.a, max_bytes=limit)
    b = load_weights(args.b, max_bytes=max(0, limit - _weights_bytes(a)))
    report = diff_weights(a.params, b.params)
    print(render_diff(report, args.a, args.b))
    return EXIT_OK if report.identical else EXIT_DIFFER


def _weights_bytes(weights: Any) -> int:
    return sum(int(array.nbytes) for blobs in weights.params.values() for array in blobs)


# ------------------------------------------------------------------ entry


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C, so no partial output stays."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def _termination_unwinds() -> Iterator[None]:
    """While a command runs, SIGTERM/SIGHUP raise :class:`Terminated` (their default
    kills the process on the spot, leaving a temporary file behind).  Only default
    handlers are replaced, and only in the main thread; they are restored after."""
    replaced: list[tuple[int, Any]] = []
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGTERM", "SIGHUP"):
            signum = getattr(signal, name, None)
            if signum is not None and signal.getsignal(signum) == signal.SIG_DFL:
                replaced.append((signum, signal.signal(signum, _terminate)))
    try:
        yield
    finally:
        for signum, previous in replaced:
            signal.signal(signum, previous)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _termination_unwinds():
            return int(args.func(args))
    except CaffefillError as exc:
        if args.debug:
            raise
        print(f"caffefill: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("caffefill: interrupted; nothing was written", file=sys.stderr)
        return 130
    except Terminated as exc:
        print(f"caffefill: terminated (signal {exc.signum}); nothing was written",
              file=sys.stderr)
        return 128 + exc.signum
    except BrokenPipeError:
        # The reader of stdout went away (`caffefill show ... | head`): stop quietly,
        # as a tool killed by SIGPIPE does, and keep Python from complaining at exit.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 128 + 13
    except MemoryError:
        if args.debug:
            raise
        print("caffefill: error: out of memory; try --max-memory or a smaller net",
              file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # a bug: still one line, never a traceback by default
        if args.debug:
            raise
        print(f"caffefill: internal error: {type(exc).__name__}: {one_line(str(exc))} "
              f"(run with --debug for a traceback and please report it)", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
