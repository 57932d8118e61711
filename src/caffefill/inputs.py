"""Opening and reading inputs without trusting what they are.

Every file caffefill reads goes through here, so that no input can make a
read block for ever or run until memory is gone:

* :func:`open_regular` opens a file without blocking (a FIFO with no writer
  would block ``open`` itself) and refuses anything but a regular file: the
  weight readers seek, and a device or pipe (``/dev/zero``) never ends;
* :func:`read_bounded` reads at most ``limit + 1`` bytes of a text input.
  A regular file is read directly; a pipe, FIFO or character device (a shell's
  ``<(...)``, ``/dev/stdin``) is read too, but gives up when it sends nothing
  for :data:`PIPE_IDLE_SECONDS`.
"""

from __future__ import annotations

import os
import select
import stat
import time

from .errors import CaffefillError

#: A pipe or device that sends nothing for this long is given up on.
PIPE_IDLE_SECONDS = 10.0
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def kind_of(mode: int) -> str:
    """What a file of ``mode`` is, in words ("a FIFO (named pipe)", ...)."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _open_nonblocking(path: str | os.PathLike[str]) -> int:
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | \
        getattr(os, "O_NOCTTY", 0)
    try:
        return os.open(path, flags)
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        reason = getattr(exc, "strerror", None) or str(exc)
        raise CaffefillError(f"cannot read the file: {reason}", path=os.fspath(path)) from None


def _set_blocking(fd: int) -> None:
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)


def open_regular(path: str | os.PathLike[str], what: str = "a weights file") -> int:
    """A read-only descriptor of the regular file ``path`` (the caller closes it).

    Anything else is refused with a CaffefillError saying what it is; the
    check is made on the opened descriptor, so the file cannot be swapped
    between the check and the read."""
    fd = _open_nonblocking(path)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise CaffefillError(f"it is {kind_of(mode)}, not a regular file: {what} is read "
                                 f"from regular files only", path=os.fspath(path))
        _set_blocking(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bounded(path: str | os.PathLike[str], limit: int) -> bytes:
    """At most ``limit + 1`` bytes of ``path`` (more than ``limit`` means: too large).

    A folder is refused; a pipe or device is read until it ends, ``limit + 1``
    bytes have come, or it stays silent for :data:`PIPE_IDLE_SECONDS`."""
    fd = _open_nonblocking(path)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise CaffefillError("cannot read the file: it is a folder", path=os.fspath(path))
        if stat.S_ISREG(mode):
            _set_blocking(fd)
            return _read_regular(fd, limit + 1)
        return _read_stream(fd, limit + 1, os.fspath(path))
    except OSError as exc:
        raise CaffefillError(f"cannot read the file: {exc.strerror or exc}",
                             path=os.fspath(path)) from None
    finally:
        os.close(fd)


def _read_regular(fd: int, wanted: int) -> bytes:
    parts: list[bytes] = []
    got = 0
    while got < wanted:
        part = os.read(fd, min(wanted - got, 1 << 24))
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _read_stream(fd: int, wanted: int, path: str) -> bytes:
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    parts: list[bytes] = []
    got = 0
    quiet_since = time.monotonic()
    while got < wanted:
        left = PIPE_IDLE_SECONDS - (time.monotonic() - quiet_since)
        if left <= 0:
            raise CaffefillError(f"nothing came from it for {PIPE_IDLE_SECONDS:g} s (a pipe or "
                                 f"device with no writer?)", path=path)
        if not poller.poll(max(1, int(left * 1000))):
            continue
        try:
            part = os.read(fd, min(wanted - got, 1 << 20))
        except BlockingIOError:
            continue
        if not part:
            break
        parts.append(part)
        got += len(part)
        quiet_since = time.monotonic()
    return b"".join(parts)
