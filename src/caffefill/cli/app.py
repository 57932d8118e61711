"""The ``caffefill`` command line: the parser, and how a command's end becomes an exit status.

Every error about the input is one line on stderr - ``file:line:col: layer
'x': what is wrong`` - and exit status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from collections.abc import Sequence

from .. import __version__, interrupt
from ..errors import CaffefillError, one_line
from .options import EXIT_ERROR, add_common_args

#: The commands, in the order --help lists them; each module has add_parser and run.
COMMANDS = ("init", "fill", "show", "upgrade", "diff", "audit", "probe", "completion")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command; with ``only`` (one of :data:`COMMANDS`), of that
    command alone, so that running it imports only what its own options need."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="caffefill",
        description="Caffe's initial weights, bit for bit, without Caffe.",
        epilog="Exit status: 0 success, 1 differences/findings (diff, audit), 2 bad input or "
               "usage. Errors print one line: file:line:col: layer 'name': message.")
    parser.add_argument("--version", action="version", version=f"caffefill {__version__}")
    add_common_args(parser)
    parser.set_defaults(debug=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS if only is None else (only,):
        importlib.import_module(f".{name}", __package__).add_parser(sub)
    return parser


# ------------------------------------------------------------------ entry


def _stopped() -> str:
    """What an interrupted run leaves: nothing, or the outputs it had completed."""
    written = interrupt.written()
    if not written:
        return "nothing was written"
    return f"{', '.join(one_line(w) for w in written)} had been written in full before"


def _fill_closed_streams() -> None:
    """A standard stream that was closed (``2>&-``, cron, a daemon) is None in
    Python: read from and write to the null device instead, so that nothing has
    to check, and so that no file the run opens takes the free descriptor 0, 1
    or 2 (where a library's own messages would land in it)."""
    for name, mode in (("stdin", "r"), ("stdout", "w"), ("stderr", "w")):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, mode, encoding="utf-8"))  # noqa: SIM115


def main(argv: Sequence[str] | None = None) -> int:
    """The command line on ``argv`` (default: the program's own arguments);
    returns the exit status."""
    if argv is None:
        _idle_blas_threads()
    status = _main(argv)
    if argv is None:
        # The program itself (the console script, python -m caffefill), which
        # exits next: what is left is kept to the end, not traversed by the
        # collector at interpreter shutdown (0.2-0.3 s after a VGG-16 init:
        # the net, protobuf's and numpy's modules, for no memory returned).
        gc.freeze()
    return status


def _idle_blas_threads() -> None:
    """Let numpy's OpenBLAS worker threads sleep as soon as they start.

    numpy starts OpenBLAS's workers when it is imported, and each then spins
    (yielding) for about 2^28 cycles waiting for work before it sleeps: 0.05 -
    0.1 s of a core in every run, taken from the drawing and writing threads on
    a machine with few cores.  Nothing here calls BLAS but the orthogonal
    filler's QR, whose workers are woken when it calls; so, for the program
    itself and before numpy is imported, the spin is cut to OpenBLAS's least
    (2^4 cycles) unless the user's environment sets it."""
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")


def _main(argv: Sequence[str] | None) -> int:
    _fill_closed_streams()
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        with interrupt.handling():
            return int(args.func(args))
    except CaffefillError as exc:
        if args.debug:
            raise
        print(f"caffefill: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"caffefill: interrupted; {_stopped()}", file=sys.stderr)
        return 130
    except interrupt.Terminated as exc:
        print(f"caffefill: terminated (signal {exc.signum}); {_stopped()}", file=sys.stderr)
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

