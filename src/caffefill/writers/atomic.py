"""Atomic output: write beside the target under a unique temporary name, then
put it in place in one step.

What may be replaced, and how (the README's promises section says the same):

* an absent target is claimed only if it is still absent when the output is
  complete (``renameat2(RENAME_NOREPLACE)``, else ``link(2)`` for a file or
  ``mkdir`` then ``rename`` for a folder): a file or folder that appeared
  during the run is kept and the run fails;
* with ``force``, a regular file, or a folder caffefill wrote (its
  ``meta.json`` and nothing else inside but the files it lists) - and only
  by a new ``.npy`` folder; the swap is one ``renameat2(RENAME_EXCHANGE)``
  where the file system has it, and the old output is removed only after the
  new one is in place;
* never a symbolic link (even a dangling one), a device, a FIFO or a socket,
  nor any other folder.

Temporary names are ``.<target>.caffefill-<pid>-<random>.tmp`` (and ``.old``
for an old output moved aside): unique, and recognisable by the next run to
the same target, which removes those a killed run left (the process that
made them is gone) and says so.  Nothing else is ever deleted.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import secrets
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

from .. import interrupt
from ..errors import WriteError

#: The metadata file of a ``.npy`` folder: how caffefill recognises its own folders.
META_FILE = "meta.json"
_MARK = "caffefill"
_LEFTOVER = re.compile(rf"\.(?P<name>.+)\.{_MARK}-(?P<pid>[0-9]+)-[a-z0-9_]+\.(?P<kind>tmp|old)")
#: Bytes a temporary name adds to the target's name (pid, random part, marks).
_DECORATION = len(f"..{_MARK}-4294967295-12345678.tmp")
_MAX_META_BYTES = 64 * 2**20


def output_path(path: str | os.PathLike[str]) -> Path:
    """The target named on the command line (a trailing '/' dropped); refuses
    names that cannot be an output."""
    text = os.fspath(path)
    if text == "":
        raise WriteError("the output name is empty")
    stripped = text.rstrip("/") or text
    target = Path(stripped)
    if target.name in ("", ".", "..") or stripped.endswith(("/.", "/..")):
        raise WriteError("the output must name a file or folder to create, not "
                         f"{text!r}", path=text)
    return target


def check_target(path: str | os.PathLike[str], force: bool, *, directory: bool = False
                 ) -> Path:
    """Refuse early (before any work) an output that may not be written or
    replaced; returns the target (see :func:`output_path`)."""
    target = output_path(path)
    _check_name(target)
    parent = _parent(target)
    if not parent.is_dir():
        raise WriteError(f"cannot write here: folder {parent} does not exist",
                         path=str(target))
    if not os.access(parent, os.W_OK):
        raise WriteError(f"cannot write here: folder {parent} is not writable",
                         path=str(target))
    try:
        mode = target.lstat().st_mode
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise WriteError(f"cannot write: {exc.strerror or exc}", path=str(target)) from None
    refusal = _refusal(target, mode, force, directory)
    if refusal:
        raise WriteError(refusal, path=str(target))
    return target


def _check_name(target: Path) -> None:
    name = os.fsencode(target.name)
    try:
        most = os.pathconf(_parent(target), "PC_NAME_MAX")
    except (OSError, ValueError):
        most = 255
    if len(name) + _DECORATION > most:
        raise WriteError(f"the output's name is too long ({len(name)} bytes; at most "
                         f"{most - _DECORATION} here, to leave room for its temporary name)",
                         path=str(target)[:80] + "...")


def _parent(target: Path) -> Path:
    return target.parent if str(target.parent) else Path(".")


def _refusal(target: Path, mode: int, force: bool, directory: bool) -> str | None:
    """Why the existing ``target`` (of lstat mode ``mode``) may not be replaced."""
    if stat.S_ISLNK(mode):
        return ("the output is a symbolic link; caffefill never replaces one (nor writes "
                "through it): name the real file, or use -o - --format FMT for standard output")
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return ("the output is not a regular file or folder (a device, pipe or socket); "
                "caffefill never replaces one: write to a file, or use -o - --format FMT for "
                "standard output")
    if not force:
        return "the output already exists; pass --force to replace it"
    if stat.S_ISREG(mode):
        return None
    if not directory:
        return ("the output is a folder; --force replaces a folder only with a new .npy "
                "folder, and only one caffefill wrote")
    reason = own_folder_files(target)[1]
    if reason:
        return f"--force replaces only a folder caffefill wrote, and this one {reason}"
    return None


def own_folder_files(folder: Path) -> tuple[list[str], str | None]:
    """The files of a ``.npy`` folder caffefill wrote (its metadata file and the
    files it lists), or why ``folder`` is not one."""
    meta = folder / META_FILE
    try:
        if not stat.S_ISREG(meta.lstat().st_mode):
            return [], f"has a {META_FILE} that is not a regular file"
        if meta.lstat().st_size > _MAX_META_BYTES:
            return [], f"has a {META_FILE} too large to be caffefill's"
        document = json.loads(meta.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [], f"has no {META_FILE}"
    except (OSError, ValueError):
        return [], f"has a {META_FILE} that is not caffefill's"
    entries = document.get("blobs") if isinstance(document, dict) else None
    if not (isinstance(document, dict) and "caffefill_version" in document
            and isinstance(entries, list)
            and all(isinstance(e, dict) and isinstance(e.get("file"), str) for e in entries)):
        return [], f"has a {META_FILE} that is not caffefill's"
    listed = {META_FILE} | {e["file"] for e in entries}
    try:
        present = os.listdir(folder)
    except OSError as exc:
        return [], f"cannot be listed ({exc.strerror or exc})"
    for name in present:
        if name not in listed:
            return [], f"holds {name!r}, which caffefill did not write there"
        if not stat.S_ISREG((folder / name).lstat().st_mode):
            return [], f"holds {name!r}, which is not a regular file"
    return present, None


# ------------------------------------------------------------------ leftovers


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process, say
        return True
    return True


def remove_leftovers(target: Path) -> list[str]:
    """Remove what killed runs to ``target`` left beside it (temporary outputs;
    an old output moved aside is put back if the target is absent, else
    removed); returns one message per thing done."""
    parent = _parent(target)
    notes: list[str] = []
    try:
        names = os.listdir(parent)
    except OSError:
        return notes
    for name in sorted(names):
        found = _LEFTOVER.fullmatch(name)
        if not found or found["name"] != target.name or _pid_alive(int(found["pid"])):
            continue
        path = parent / name
        try:
            if found["kind"] == "old" and not os.path.lexists(target):
                _rename_noreplace(path, target)
                notes.append(f"{target}: put back the earlier output an interrupted run had "
                             f"moved aside to {name}")
                continue
            _remove(path)
        except OSError as exc:
            notes.append(f"{target}: could not remove {name}, left by an interrupted run "
                         f"({exc.strerror or exc})")
            continue
        notes.append(f"{target}: removed {name}, left by an interrupted run")
    return notes


# ------------------------------------------------------------------ writing


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, force: bool = False,
                  directory: bool = False,
                  report: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Yield a unique temporary path beside ``target`` (a file, or with
    ``directory`` a folder); put it in place when the block ends without error.

    ``report`` receives one line per leftover of an interrupted run removed
    (default: printed on stderr).
    """
    target = output_path(path)
    for note in remove_leftovers(target):
        (report or _print)(note)
    check_target(target, force, directory=directory)
    parent = _parent(target)
    prefix = f".{target.name}.{_MARK}-{os.getpid()}-"
    try:
        if directory:
            temp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=parent))
        else:
            fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=parent)
            os.close(fd)
            temp = Path(name)
        # mkstemp and mkdtemp make the temporary private; the output follows the umask.
        os.chmod(temp, (0o777 if directory else 0o666) & ~_umask())
    except OSError as exc:
        raise WriteError(f"cannot write: {exc.strerror or exc}", path=str(target)) from None
    placed = False
    try:
        yield temp
        interrupt.check()
        with interrupt.deferred():
            old = _place(temp, target, force, directory)
            placed = True
            interrupt.note_written(target)
            if old is not None:
                _remove_old(*old, target)
    except BaseException as exc:
        if not placed:
            _remove_despite_interrupts(temp)
        if isinstance(exc, OSError):
            raise WriteError(f"cannot write: {exc.strerror or exc}",
                             path=str(target)) from None
        raise


def open_output(path: str | os.PathLike[str], *, preallocate: int = 0) -> BinaryIO:
    """``path`` opened for writing from its start, as ``open(path, "wb")``
    (created if absent), except that an empty file - the temporary
    :func:`atomic_output` made - is not truncated.  On ext4, truncating a
    file to size 0 makes its close start the writeback of everything written
    since (``auto_da_alloc``, for programs that rewrite a file in place): for
    VGG-16's 528 MiB, 0.1-0.35 s of the writer's time at the very end.

    ``preallocate``: bytes the file will hold at least (never more than it
    ends with), reserved on the disk first where the file system can
    (Linux ``fallocate`` keeping the size, so the file still grows as it is
    written): the writes then skip the per-page delayed allocation (on
    ext4, about a third of their system time), and a disk too full for them
    is refused at once (OSError ENOSPC or EDQUOT)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        if os.fstat(fd).st_size:
            os.ftruncate(fd, 0)
        if preallocate > 0 and _fallocate is not None and \
                _fallocate(fd, _FALLOC_FL_KEEP_SIZE, 0, preallocate) != 0:
            code = ctypes.get_errno()
            if code in (errno.ENOSPC, errno.EDQUOT):
                raise OSError(code, os.strerror(code), os.fspath(path))
            # anything else (a file system without it, ...): written without
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def _print(line: str) -> None:
    from ..errors import one_line

    print(f"caffefill: {one_line(line)}", file=sys.stderr)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove(path: Path) -> None:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(path)
    else:
        path.unlink()


def _remove_despite_interrupts(path: Path) -> None:
    """Remove ``path`` (the run's own temporary); a signal does not cut it short."""
    with interrupt.deferred(), contextlib.suppress(OSError):
        _remove(path)


def _place(temp: Path, target: Path, force: bool, directory: bool
           ) -> tuple[Path, list[str]] | None:
    """Put ``temp`` at ``target``: claimed if absent, else replaced as check_target
    allows.  Returns where the replaced output now is, with its files (a folder's),
    for :func:`_remove_old`; None if nothing was replaced."""
    try:
        _rename_noreplace(temp, target)
        return None
    except FileExistsError:
        pass
    try:
        mode = target.lstat().st_mode
    except FileNotFoundError:  # gone again since: claim it
        _rename_noreplace(temp, target)
        return None
    if not force:
        raise WriteError("the output appeared while this run was writing it; it was kept, "
                         "and nothing was written (pass --force to replace it)",
                         path=str(target))
    refusal = _refusal(target, mode, force, directory)
    if refusal:
        raise WriteError(f"{refusal} (it changed while this run was writing); nothing was "
                         f"written", path=str(target))
    if _exchange(temp, target):
        # ``temp`` now holds the old output: check it is what was allowed, or swap back.
        now = temp.lstat().st_mode
        old_files, reason = own_folder_files(temp) if stat.S_ISDIR(now) else ([], None)
        if stat.S_IFMT(now) != stat.S_IFMT(mode) or reason:
            _exchange(temp, target)
            raise WriteError("the output changed while this run was writing it; it was kept, "
                             "and nothing was written", path=str(target))
        return temp, old_files
    if stat.S_ISREG(mode) and not directory:
        os.replace(temp, target)
        return None
    # No exchange on this file system: move the old output aside, then claim the target.
    old_files = own_folder_files(target)[0] if stat.S_ISDIR(mode) else []
    backup = target.with_name(f".{target.name}.{_MARK}-{os.getpid()}-{secrets.token_hex(4)}.old")
    _rename_noreplace(target, backup)
    try:
        _rename_noreplace(temp, target)
    except BaseException:
        try:
            _rename_noreplace(backup, target)
        except OSError:
            raise WriteError(f"the output appeared while this run was replacing it; nothing "
                             f"was written, and the old output is at {backup.name}",
                             path=str(target)) from None
        raise
    return backup, old_files


def _remove_old(path: Path, old_files: list[str], target: Path) -> None:
    """Remove the replaced output now at ``path``: a file, or the files caffefill
    wrote in a folder of its own (a folder with anything else is kept)."""
    try:
        if not stat.S_ISDIR(path.lstat().st_mode):
            path.unlink()
            return
        for name in old_files:
            with contextlib.suppress(FileNotFoundError):
                (path / name).unlink()
        path.rmdir()
    except OSError as exc:
        raise WriteError(f"the new output is in place, but the old one could not be removed "
                         f"and is kept at {path.name} ({exc.strerror or exc})",
                         path=str(target)) from None


# ------------------------------------------------ renameat2, fallocate (Linux)

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_FALLOC_FL_KEEP_SIZE = 1


def _linux_function(name: str, argtypes: list[Any]) -> Callable[..., int] | None:
    """The C library's function ``name`` (returning int, errno kept), or None
    off Linux or where the C library has none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function: Any = getattr(libc, name)
    except (OSError, AttributeError):
        return None
    function.argtypes = argtypes
    function.restype = ctypes.c_int
    return cast(Callable[..., int], function)


_renameat2 = _linux_function("renameat2", [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                                           ctypes.c_char_p, ctypes.c_uint])
#: fallocate64: 64-bit offsets on every Linux C library build.
_fallocate = _linux_function("fallocate64", [ctypes.c_int, ctypes.c_int, ctypes.c_int64,
                                             ctypes.c_int64])
#: errno values meaning "this kernel or file system has no such renameat2 flag".
_UNSUPPORTED = (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP)


def _rename2(src: Path, dst: Path, flags: int) -> bool:
    """renameat2(src, dst, flags); False if the system cannot do it (raises OSError
    for any other failure)."""
    if _renameat2 is None:
        return False
    result = _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in _UNSUPPORTED:
        return False
    raise OSError(code, os.strerror(code), str(dst))


def _rename_noreplace(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst`` only if nothing is at ``dst`` (FileExistsError if
    something is), in one step."""
    if _rename2(src, dst, _RENAME_NOREPLACE):
        return
    if stat.S_ISDIR(src.lstat().st_mode):
        os.mkdir(dst)  # claims the name (FileExistsError if taken) ...
        try:
            os.rename(src, dst)  # ... and an empty folder is replaced in one step
        except BaseException:
            with contextlib.suppress(OSError):
                os.rmdir(dst)
            raise
        return
    os.link(src, dst)  # fails if ``dst`` exists
    os.unlink(src)


def _exchange(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` in one step; False if the file system cannot."""
    return _rename2(a, b, _RENAME_EXCHANGE)
