"""The ``caffefill`` command line: the parser, and how a command's end becomes an exit status.

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
from collections.abc import Iterator, Sequence
from typing import Any

from .. import __version__
from ..errors import CaffefillError, one_line
from .options import EXIT_ERROR, add_common_args

#: The commands, in the order --help lists them; each module has add_parser and run.
COMMANDS = ("init", "fill", "show", "upgrade", "diff", "audit")


def build_parser() -> argparse.ArgumentParser:
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
    for name in COMMANDS:
        importlib.import_module(f".{name}", __package__).add_parser(sub)
    return parser


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

