"""What the commands share: exit codes, argument types, option groups, defaults."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import CaffefillError, one_line
from ..net import DEFAULT_PHASE
from ..profiles import CAFFE_HELP, CAFFE_VERSIONS, DEFAULT_BOOST, DEFAULT_CAFFE

#: Exit status: success; differences (diff) or findings (audit); bad input or usage.
EXIT_OK, EXIT_FOUND, EXIT_ERROR = 0, 1, 2

PROFILE_HELP = (
    "Caffe build to reproduce. --caffe: "
    + "; ".join(f"{name}: {CAFFE_HELP[name]}" for name in CAFFE_VERSIONS)
    + ". --boost X.Y, the Boost Caffe was linked against: find it with "
    "`ldd $(which caffe) | grep boost` (libboost_*.so.1.XX.0) or from the OS (Ubuntu 14.04: "
    "1.54, 16.04: 1.58, 18.04: 1.65, 20.04: 1.71, 22.04: 1.74).")

#: What --max-memory defaults to, in words (see :func:`memory_limit`).
MEMORY_DEFAULT = "half of the memory available: RAM, or a container's or ulimit's limit"


INT32_MAX = 2**31 - 1
FLOAT32_MAX = 3.4028234663852886e38


def parse_int32(text: str) -> int:
    """An integer Caffe holds in an int32 (``--level``, ``--sparse``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not -INT32_MAX - 1 <= value <= INT32_MAX:
        raise argparse.ArgumentTypeError(f"{value} is outside Caffe's int32 range")
    return value


def parse_number(text: str) -> float:
    """``text`` as a float; the option types below add their own bounds."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def finite_above(bound: float, what: str) -> Callable[[str], float]:
    """An option type: a finite number above ``bound`` (``what`` names it in errors)."""

    def parse(text: str) -> float:
        value = parse_number(text)
        if not (value > bound and math.isfinite(value)):
            raise argparse.ArgumentTypeError(
                f"the {what} must be a finite number > {bound:g}, got {text}")
        return value

    return parse


#: ``--lsuv-tol``.
parse_tolerance = finite_above(0.0, "tolerance")
#: A ratio threshold: audit's ``--signal-threshold``, probe's ``--threshold``.
parse_threshold = finite_above(1.0, "threshold")


def parse_iterations(text: str) -> int:
    """A count of iterations (``--lsuv-iter``): 0 or more."""
    value = parse_int32(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"the number of iterations must be >= 0, got {text}")
    return value


def parse_float(text: str) -> float:
    """A float Caffe holds in a float32 (the filler options): finite and in range."""
    value = parse_number(text)
    if not math.isfinite(value) or abs(value) > FLOAT32_MAX:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a finite number a float32 can hold (at most {FLOAT32_MAX:.6g})")
    return value


def parse_dims(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(part) for part in text.replace("x", ",").split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a shape: {text!r} (expected e.g. 64,3,7,7)") from None
    if any(d < 0 for d in dims):
        raise argparse.ArgumentTypeError(f"negative dimension in {text!r}")
    if any(d > INT32_MAX for d in dims):
        raise argparse.ArgumentTypeError(f"a dimension of {text!r} is past Caffe's int32 limit")
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
    from ..memory import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Options every subcommand takes after its name as well (``init ... --debug``).

    SUPPRESS keeps a subcommand from resetting what was given before its name."""
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks on errors")


def add_profile_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Caffe build", PROFILE_HELP)
    group.add_argument("--caffe", default=DEFAULT_CAFFE, choices=CAFFE_VERSIONS,
                       help=f"Caffe version (default {DEFAULT_CAFFE})")
    group.add_argument("--boost", default=DEFAULT_BOOST, metavar="X.Y",
                       help=f"Boost version Caffe was built with (default {DEFAULT_BOOST})")


def add_memory_arg(parser: argparse.ArgumentParser, refused: str) -> None:
    """``--max-memory SIZE``: refuse ``refused`` (what the estimate counts) past SIZE."""
    parser.add_argument("--max-memory", type=parse_memory, default=None, metavar="SIZE",
                        help=f"refuse {refused} need more memory (default: {MEMORY_DEFAULT})")


def memory_limit(args: argparse.Namespace) -> int:
    """The byte cap of ``--max-memory``, or its default."""
    if args.max_memory is not None:
        return int(args.max_memory)
    from ..memory import available_memory

    return available_memory() // 2


def add_state_args(parser: argparse.ArgumentParser, input_help: str, *,
                   solver: bool = False) -> None:
    """The NetState (phase, stages, level) and the shapes of tops fed from outside.

    ``--phase`` and ``--level`` are None when not given: a solver or the audit's
    configuration file may decide them, else TRAIN and 0."""
    phase_help = f"net phase (default {DEFAULT_PHASE}: the net that is trained)"
    level_help = "NetState level (default 0)"
    if solver:
        phase_help += "; with --solver, the solver decides"
        level_help = "NetState level (default 0; with --solver, its train_state's)"
    parser.add_argument("--phase", default=None, type=str.upper, choices=["TRAIN", "TEST"],
                        help=phase_help)
    parser.add_argument("--stage", action="append", default=[], dest="stages",
                        help="a NetState stage (repeatable; with --solver, added to its "
                             "train_state's as `caffe train --stage` does)" if solver
                        else "a NetState stage (repeatable)")
    parser.add_argument("--level", type=parse_int32, default=None, help=level_help)
    parser.add_argument("--input", action="append", default=[], type=parse_input,
                        dest="inputs", metavar="NAME=N,C,H,W", help=input_help)


def add_net_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prototxt", nargs="?", help="the net definition (.prototxt)")
    parser.add_argument("--solver", metavar="SOLVER",
                        help="instead of a net: the TRAIN net of this solver file, with its "
                             "random_seed and train_state, as `caffe train --solver` builds "
                             "it (net files are opened from the working directory, as Caffe "
                             "opens them)")
    add_state_args(parser, "shape of a top whose shape comes from outside the prototxt "
                           "(Data, ImageData, HDF5Data, Python ...); repeatable", solver=True)
    parser.add_argument("--strict", action="store_true",
                        help="unknown prototxt fields are errors, not warnings")


def add_filler_args(parser: argparse.ArgumentParser) -> None:
    """``--filler PATTERN=FILLER`` (repeatable): filler overrides, as
    :func:`net_source` passes them to prepare_net (which reads them: a bad one
    is a one-line error, like any other bad input)."""
    parser.add_argument(
        "--filler", action="append", default=[], dest="fillers",
        metavar="PATTERN=FILLER",
        help="draw the layers whose names match the glob PATTERN with FILLER instead of "
             "their prototxt's filler, as if the prototxt said so (same stream, same order): "
             "'conv*=type: \"msra\"', 'fc8=type: \"gaussian\" std: 0.01', 'msra' (no "
             "PATTERN: every layer). PATTERN.bias targets the bias filler, PATTERN.weight "
             "(the default) the weight's. Repeatable; where several match, the last wins. "
             "A PATTERN that matches no layer is an error. Recorded in the output's metadata")


def add_data_arg(parser: argparse.ArgumentParser | Any, what: str = "the input values") -> None:
    """``--data FILE``: the values of the net's inputs (see
    :func:`caffefill.probe.measure.load_data`); ``what`` starts its help."""
    parser.add_argument("--data", metavar="FILE",
                        help=f"{what}: a .npy (the net's first input) or a .npz (arrays named "
                             f"after the net's inputs); a data layer's top takes its shape "
                             f"from its array")


def net_source(args: argparse.Namespace) -> dict[str, Any]:
    """The net to build, as prepare_net's keyword arguments (a file or a solver;
    the filler overrides when the command takes :func:`add_filler_args`)."""
    if (args.prototxt is None) == (args.solver is None):
        raise CaffefillError("give a net (NET) or a solver (--solver FILE), and only one")
    return {"path": args.prototxt, "solver": args.solver, "phase": args.phase,
            "stages": args.stages, "level": args.level, "inputs": inputs(args),
            "strict": args.strict, "fillers": list(getattr(args, "fillers", ()))}


def inputs(args: argparse.Namespace) -> dict[str, tuple[int, ...]]:
    return dict(args.inputs)


#: Warnings printed per unknown field name (the rest are counted at the end).
WARNINGS_PER_FIELD = 3


def print_warnings(warnings: Sequence[object]) -> None:
    """One line per warning, but at most :data:`WARNINGS_PER_FIELD` for one unknown
    field name (in one message type); then a count of those not shown."""
    left_out: dict[tuple[str, str], int] = {}
    shown: dict[tuple[str, str], int] = {}
    for warning in warnings:
        name = getattr(warning, "field", None)
        if name is not None:
            key = (str(name), str(getattr(warning, "message_type", None) or ""))
            shown[key] = shown.get(key, 0) + 1
            if shown[key] > WARNINGS_PER_FIELD:
                left_out[key] = left_out.get(key, 0) + 1
                continue
        print(f"warning: {warning}", file=sys.stderr)
    for (name, where), count in left_out.items():
        inside = f" in {where}" if where else ""
        print(one_line(f"warning: {count:,} more of unknown field '{name}'{inside} not shown"),
              file=sys.stderr)
