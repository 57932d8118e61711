"""Stop requests: Ctrl-C, SIGTERM and SIGHUP, recorded and honoured at safe points.

While a command runs (:func:`handling`), the signal handler records the
request and raises :class:`KeyboardInterrupt` or :class:`Terminated` so the
work unwinds at once.  A raise can be lost - Python drops an exception raised
while a finaliser or a library callback runs - so the request is also kept:
the writers call :func:`check` between blobs and pieces, which raises it
again, and no output is put in place once a stop was asked for.  Inside
:func:`deferred` (putting an output in place, removing what a run replaced)
the handler only records; the request is raised when the block ends.
:func:`requested` lets worker threads see the request too.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C, so no partial output stays."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


_requested: int | None = None
_deferred = 0
_written: list[str] = []


def requested() -> int | None:
    """The signal whose stop was asked for, or None."""
    return _requested


def request(signum: int) -> None:
    """Record a stop request (the first one counts)."""
    global _requested
    if _requested is None:
        _requested = signum


def _exception(signum: int) -> BaseException:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def check() -> None:
    """A safe point: raise the stop asked for, if any (outside :func:`deferred`)."""
    if _requested is not None and not _deferred:
        raise _exception(_requested)


def _handler(signum: int, frame: Any) -> None:
    request(signum)
    if not _deferred:
        raise _exception(signum)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A block a signal must not cut short: a stop asked for inside it is raised
    when it ends (unless it ends with an exception of its own)."""
    global _deferred
    _deferred += 1
    try:
        yield
    finally:
        _deferred -= 1
    check()


def note_written(path: str | Path) -> None:
    """Record an output put in place, for the message after an interruption."""
    _written.append(str(path))


def written() -> list[str]:
    """Outputs put in place by this command so far."""
    return list(_written)


@contextlib.contextmanager
def handling() -> Iterator[None]:
    """While a command runs: SIGINT, SIGTERM and SIGHUP request a stop.  Only
    handlers left at Python's defaults are replaced, only in the main thread,
    and they are restored after."""
    global _requested
    _requested = None
    _written.clear()
    replaced: list[tuple[int, Any]] = []
    if threading.current_thread() is threading.main_thread():
        defaults = {"SIGINT": signal.default_int_handler, "SIGTERM": signal.SIG_DFL,
                    "SIGHUP": signal.SIG_DFL}
        for name, default in defaults.items():
            signum = getattr(signal, name, None)
            if signum is not None and signal.getsignal(signum) == default:
                replaced.append((signum, signal.signal(signum, _handler)))
    try:
        yield
    finally:
        for signum, previous in replaced:
            signal.signal(signum, previous)
        _requested = None
