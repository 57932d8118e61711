"""Atomic output: write next to the target, then rename over it.

On any failure - an exception, Ctrl-C, a full disk - the temporary file or
folder is removed and the target is left as it was.  An existing target is
only replaced with ``force``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import WriteError


def check_target(target: Path, force: bool) -> None:
    """Refuse early (before any work) when the output exists or cannot be made."""
    if target.exists() and not force:
        raise WriteError("the output already exists; pass --force to replace it",
                         path=str(target))
    try:
        mode: int | None = target.lstat().st_mode
    except OSError:
        mode = None
    if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
        # The output is renamed into place: that would replace a device or a pipe
        # (/dev/null) itself, not write into it.
        raise WriteError("the output is not a regular file or folder (a device or a pipe?); "
                         "write to a file", path=str(target))
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise WriteError(f"cannot write here: folder {parent} does not exist",
                         path=str(target))
    if not os.access(parent, os.W_OK):
        raise WriteError(f"cannot write here: folder {parent} is not writable",
                         path=str(target))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _remove_despite_interrupts(path: Path) -> None:
    """Remove ``path``; a second Ctrl-C while it is being removed does not stop it."""
    for _ in range(10):
        try:
            _remove(path)
            return
        except KeyboardInterrupt:
            continue


@contextlib.contextmanager
def atomic_output(target: Path, *, force: bool = False, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it into place on success."""
    check_target(target, force)
    parent = target.parent if str(target.parent) else Path(".")
    prefix = f".{target.name}."
    try:
        if directory:
            temp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=parent))
        else:
            fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=parent)
            os.close(fd)
            temp = Path(name)
    except OSError as exc:
        raise WriteError(f"cannot write: {exc.strerror or exc}", path=str(target)) from None
    try:
        yield temp
        if not directory:
            os.chmod(temp, 0o666 & ~_umask())
        _replace(temp, target)
    except BaseException as exc:
        _remove_despite_interrupts(temp)
        if isinstance(exc, OSError):
            raise WriteError(f"cannot write: {exc.strerror or exc}",
                             path=str(target)) from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _replace(temp: Path, target: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        # A folder cannot be renamed over a non-empty one: move the old aside first.
        backup = target.with_name(f".{target.name}.old")
        _remove(backup)
        os.rename(target, backup)
        try:
            os.rename(temp, target)
        except BaseException:
            os.rename(backup, target)
            raise
        _remove(backup)
    else:
        os.replace(temp, target)
