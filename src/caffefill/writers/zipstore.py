"""A zip archive of stored (uncompressed) members, written straight through.

What the ``.npz`` writer needs and no more: each member's size is known
before its bytes, which go to the file as they come while their CRC-32 is
taken by the C core (several times faster than zlib's where the CPU has
carry-less multiplication); the CRC is then written back into the member's
local header.  Where the process may run on more than one core, the CRC of
a large write is taken on a thread of its own while the writing thread
copies the same bytes to the file (:class:`_CrcThread`): the writer, which
bounds ``init``'s speed on two cores, then only writes.  Every size and
offset is in ZIP64 form, as ``zipfile`` writes with ``force_zip64``, so any
member and archive size is fine; Python's ``zipfile`` (and so
``numpy.load``) reads the result.
"""

from __future__ import annotations

import queue
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from .. import _core
from ..cores import usable_cores
from ..errors import WriteError

_LOCAL = struct.Struct("<IHHHHHIIIHH")  # local file header, without name and extra
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")  # central directory header
_ZIP64_END = struct.Struct("<IQHHIIQQQQ")  # ZIP64 end of central directory record
_ZIP64_LOCATOR = struct.Struct("<IIQI")
_END = struct.Struct("<IHHHHIIH")  # end of central directory record
_VERSION = 45  # ZIP64
_MADE_BY = (3 << 8) | _VERSION  # Unix
_UTF8_NAME = 0x800
_DATA_DESCRIPTOR = 0x8
_FILE_MODE = 0o600 << 16  # what zipfile gives a member written through ZipFile.open
_MAX32 = 0xFFFFFFFF

crc32: Callable[[bytes | bytearray | memoryview, int], int] = (
    _core.crc32 if _core.CRC32_ACCELERATED else zlib.crc32)


#: Writes from this size on have their CRC-32 taken on the CRC thread (a
#: smaller one costs less than handing it over).
THREADED_CRC_BYTES = 1 << 20


class _CrcThread:
    """Takes CRC-32s on a thread of its own, one at a time: :meth:`start` one,
    do other work (the C core's crc32 and a file's write both release the
    GIL, so the two run at once), then :meth:`result` waits for it."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[memoryview, int] | None] = queue.SimpleQueue()
        self._results: queue.SimpleQueue[int | BaseException] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="caffefill-crc", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                self._results.put(crc32(*job))
            except BaseException as exc:  # handed to the waiting writer, who raises it
                self._results.put(exc)

    def start(self, data: memoryview, value: int) -> None:
        self._jobs.put((data, value))

    def result(self) -> int:
        value = self._results.get()
        if isinstance(value, BaseException):
            raise value
        return value

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join()


@dataclass
class _Entry:
    name: bytes
    flags: int
    size: int
    offset: int
    crc: int = 0


class _Counted:
    """A stream that cannot seek (standard output, a pipe), with its position counted."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._position = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._out.write(data)
        self._position += memoryview(data).nbytes
        return memoryview(data).nbytes

    def tell(self) -> int:
        return self._position


class Member:
    """One member being written: :meth:`write` its bytes, exactly the size declared."""

    def __init__(self, out: BinaryIO | _Counted, entry: _Entry,
                 crc_thread: _CrcThread | None = None) -> None:
        self._out = out
        self._entry = entry
        self._written = 0
        self._crc_thread = crc_thread

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        if self._crc_thread is None or view.nbytes < THREADED_CRC_BYTES:
            self._entry.crc = crc32(view, self._entry.crc)
            self._out.write(view)
        else:
            self._crc_thread.start(view, self._entry.crc)
            try:
                self._out.write(view)
            finally:  # the CRC thread is done with the bytes before they are let go of
                self._entry.crc = self._crc_thread.result()
        self._written += view.nbytes

    def _finish(self) -> None:
        if self._written != self._entry.size:
            raise RuntimeError(f"zip member {self._entry.name!r}: {self._written} bytes "
                               f"written, {self._entry.size} declared")
        if isinstance(self._out, _Counted):  # the CRC-32 follows, in a data descriptor
            self._out.write(struct.pack("<IIQQ", 0x08074B50, self._entry.crc, self._entry.size,
                                        self._entry.size))
            return
        self._out.seek(self._entry.offset + 14)  # the local header's CRC-32 field
        self._out.write(struct.pack("<I", self._entry.crc))
        self._out.seek(0, 2)


class StoredZip:
    """Writes members one after another to ``out`` (a seekable binary file,
    empty, positioned at its start); :meth:`close` writes the directory.

    With ``stream``, ``out`` is written strictly in order (standard output, a
    pipe): each member's CRC-32 follows its bytes in a data descriptor (flag
    bit 3), as zip allows when the writer cannot seek back.

    ``threads``: whether large writes have their CRC-32 taken on a thread of
    their own (None: where the process may run on more than one core).  The
    archive is a context manager; leaving it stops that thread, closed or
    not."""

    def __init__(self, out: BinaryIO, *, stream: bool = False,
                 threads: bool | None = None) -> None:
        if threads is None:
            threads = usable_cores() > 1
        self._crc_thread = _CrcThread() if threads else None
        self._out: BinaryIO | _Counted = _Counted(out) if stream else out
        self._descriptor = _DATA_DESCRIPTOR if stream else 0
        self._entries: list[_Entry] = []
        self._names: set[bytes] = set()
        now = time.localtime()
        self._time = (now.tm_hour << 11) | (now.tm_min << 5) | (now.tm_sec // 2)
        self._date = (max(now.tm_year - 1980, 0) << 9) | (now.tm_mon << 5) | now.tm_mday

    @contextmanager
    def member(self, name: str, size: int) -> Iterator[Member]:
        """A member of ``size`` bytes: its local header is written now, its CRC
        when the block ends."""
        try:
            encoded, flags = name.encode("ascii"), 0
        except UnicodeEncodeError:
            encoded, flags = name.encode("utf-8"), _UTF8_NAME
        if encoded in self._names:  # a second member of one name would hide the first
            raise WriteError(f"two blobs would both be named {name!r} in the archive")
        self._names.add(encoded)
        flags |= self._descriptor
        entry = _Entry(encoded, flags, size, self._out.tell())
        extra = struct.pack("<HHQQ", 1, 16, size, size)
        self._out.write(_LOCAL.pack(0x04034B50, _VERSION, flags, 0, self._time, self._date, 0,
                                    _MAX32, _MAX32, len(encoded), len(extra)))
        self._out.write(encoded)
        self._out.write(extra)
        member = Member(self._out, entry, self._crc_thread)
        yield member
        member._finish()
        self._entries.append(entry)

    def __enter__(self) -> StoredZip:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._crc_thread is not None:
            self._crc_thread.close()
            self._crc_thread = None

    def close(self) -> None:
        """Write the central directory (the archive is complete)."""
        start = self._out.tell()
        for e in self._entries:
            extra = struct.pack("<HHQQQ", 1, 24, e.size, e.size, e.offset)
            self._out.write(_CENTRAL.pack(0x02014B50, _MADE_BY, _VERSION, e.flags, 0, self._time,
                                          self._date, e.crc, _MAX32, _MAX32, len(e.name),
                                          len(extra), 0, 0, 0, _FILE_MODE, _MAX32))
            self._out.write(e.name)
            self._out.write(extra)
        end = self._out.tell()
        count = len(self._entries)
        self._out.write(_ZIP64_END.pack(0x06064B50, _ZIP64_END.size - 12, _MADE_BY, _VERSION, 0,
                                        0, count, count, end - start, start))
        self._out.write(_ZIP64_LOCATOR.pack(0x07064B50, 0, end, 1))
        self._out.write(_END.pack(0x06054B50, 0, 0, min(count, 0xFFFF), min(count, 0xFFFF),
                                  min(end - start, _MAX32), _MAX32, 0))
