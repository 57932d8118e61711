"""What every weight reader shares that needs no numpy: the memory budget,
files read by offset, the index of a file's blobs, and its metadata.

Kept apart from :mod:`.base` (blobs, their sources, .npy headers) so that
indexing a ``.caffemodel`` and comparing stored bytes (``caffefill diff``
of two equal files) start without importing numpy or protobuf.
"""

from __future__ import annotations

import json
import mmap
import os
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, runtime_checkable

from ..errors import CaffefillError
from ..inputs import open_regular

if TYPE_CHECKING:
    import numpy as np

    from .base import StoredBlob

#: Bytes of memory charged per blob and per layer an index holds (the Python
#: objects: names, shape tuples, lists, the blob's record), beyond its name.
ENTRY_BYTES = 512
LAYER_BYTES = 512
#: Largest metadata (JSON) a weights file may carry; caffefill writes well under 1 KiB.
MAX_META_BYTES = 16 * 2**20
#: Memory charged per byte of JSON text parsed (the objects it becomes).
JSON_BYTES_PER_BYTE = 16


def corrupt_file_errors() -> tuple[type[BaseException], ...]:
    """What the libraries that decode a weights file (zipfile, numpy's .npy header
    parser, h5py, protobuf, json) raise on a damaged or foreign file; the
    readers turn them into one CaffefillError.  A function, imported from only
    when an error is being matched (``except corrupt_file_errors()``), so that
    none of those libraries is imported to read a file that has no error."""
    import struct
    import tokenize
    import zipfile

    from google.protobuf.message import DecodeError

    return (OSError, EOFError, ValueError, KeyError, RuntimeError, NotImplementedError,
            SyntaxError, zipfile.BadZipFile, tokenize.TokenError, struct.error, DecodeError)

def _size(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


class ReadBudget:
    """How many bytes a read may still allocate (None: no limit)."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.used = 0

    def take(self, nbytes: int, what: str) -> None:
        """Count ``nbytes`` more; refuse (CaffefillError) past the limit, before
        the caller allocates them."""
        self.used += nbytes
        if self.limit is not None and self.used > self.limit:
            raise CaffefillError(
                f"{what}: reading the weights needs more than {_size(self.limit)} of memory "
                f"(the cap); raise it with --max-memory SIZE")

    def give_back(self, nbytes: int) -> None:
        self.used -= nbytes


# ------------------------------------------------------------------ where values live


class FileRef:
    """A regular file read by offset: opened on first use, kept open until
    :meth:`close` (or, with ``keep_open=False``, only while a span is read).
    Reopening checks that it is still the file the index was made from."""

    def __init__(self, path: str | os.PathLike[str], what: str, *, keep_open: bool = True,
                 fd: int | None = None) -> None:
        self.path = os.fspath(path)
        self.what = what
        self.keep_open = keep_open
        self.fd: int | None = fd if fd is not None else open_regular(path, what)
        info = os.fstat(self.fd)
        self.size = info.st_size
        self._identity = (info.st_dev, info.st_ino)
        self._mapping: mmap.mmap | None = None

    def acquire(self) -> int:
        if self.fd is None:
            fd = open_regular(self.path, self.what)
            info = os.fstat(fd)
            if (info.st_dev, info.st_ino) != self._identity or info.st_size != self.size:
                os.close(fd)
                raise CaffefillError(f"{self.what}: the file changed while it was read",
                                     path=self.path)
            self.fd = fd
        return self.fd

    def release(self) -> None:
        if not self.keep_open:
            self.close()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        # Arrays made over the mapping keep it (and only it) alive.
        self._mapping = None

    def mapping(self) -> mmap.mmap:
        """The whole file mapped into memory, copy-on-write: its pages are read
        when first touched, and writing to them never reaches the file.  One
        mapping per file, however many blobs are made over it."""
        if self._mapping is None:
            fd = self.acquire()
            try:
                mapping = mmap.mmap(fd, self.size, access=mmap.ACCESS_COPY)
            finally:
                self.release()
            self._mapping = mapping
        return self._mapping

    def pread(self, size: int, offset: int) -> bytes:
        return os.pread(self.acquire(), size, offset)


class SpanReader:
    """Sequential reads of a :class:`FileSpan` into the caller's buffers."""

    def __init__(self, span: FileSpan) -> None:
        self.span = span
        self.fd = span.file.acquire()
        self.done = 0
        self.crc = span.crc_start

    def readinto(self, buffer: bytearray | memoryview) -> int:
        """Fill ``buffer`` (or as much of it as is left); returns the bytes read."""
        span = self.span
        view = memoryview(buffer)[: span.nbytes - self.done]
        got = 0
        while got < len(view):
            try:
                n = os.preadv(self.fd, [view[got:]], span.offset + self.done + got)
            except OSError as exc:
                raise CaffefillError(f"{span.what}: cannot read the values: "
                                     f"{exc.strerror or exc}", path=span.file.path) from None
            if n <= 0:
                raise CaffefillError(f"{span.what}: the file ends inside its values "
                                     f"(truncated)", path=span.file.path)
            got += n
        if span.crc_expected is not None:
            from ..writers.zipstore import crc32

            self.crc = crc32(view[:got], self.crc)
        self.done += got
        if self.done == span.nbytes:
            self.finish()
        return got

    def finish(self) -> None:
        span = self.span
        span.file.release()
        if span.crc_expected is not None and self.crc != span.crc_expected:
            raise CaffefillError(f"{span.what}: the values do not match the archive's "
                                 f"checksum (damaged)", path=span.file.path)


@dataclass
class FileSpan:
    """``nbytes`` bytes at ``offset`` of a file; with ``crc_expected``, the CRC-32 of
    the bytes (continuing ``crc_start``) is checked once all are read."""

    file: FileRef
    offset: int
    nbytes: int
    what: str
    crc_start: int = 0
    crc_expected: int | None = None

    def reader(self) -> SpanReader:
        return SpanReader(self)

    def chunks(self, size: int) -> Iterator[memoryview]:
        reader = self.reader()
        if self.nbytes == 0:
            reader.finish()
            return
        buffer = bytearray(min(size, self.nbytes))
        while reader.done < self.nbytes:
            n = reader.readinto(buffer)
            yield memoryview(buffer)[:n]


@runtime_checkable
class IndexedBlob(Protocol):
    """A blob of an index: its shape and, for a comparison, where its values are
    stored as little-endian float32 in C order, if so; :meth:`stored` is the
    blob with everything :class:`StoredBlob` can do (a ``.caffemodel``'s index
    makes it only when asked, as that imports numpy)."""

    shape: tuple[int, ...]
    path: str | None

    @property
    def raw_f32(self) -> FileSpan | None: ...

    def stored(self) -> StoredBlob: ...

    def pieces(self, values: int = ...) -> Iterator[np.ndarray]: ...

    def whole_bytes(self) -> int: ...


#: The blobs an index holds.
BlobT = TypeVar("BlobT", bound=IndexedBlob)


# ------------------------------------------------------------------ the index


class Index(Generic[BlobT]):
    """layer -> blobs of one file, built entry by entry within a budget."""

    def __init__(self, budget: ReadBudget) -> None:
        self.budget = budget
        self.params: OrderedDict[str, list[BlobT]] = OrderedDict()
        self._slots: dict[str, dict[int, BlobT]] = {}

    def charge(self, what: str, extra: int = 0) -> None:
        """One more entry (and ``extra`` bytes) held, refused past the budget."""
        self.budget.take(ENTRY_BYTES + extra, what)

    def put(self, layer: str, index: int, blob: BlobT, what: str) -> None:
        """Blob ``index`` of ``layer`` (by number: a file may list them in any order);
        a blob given twice is refused."""
        slots = self._slots.get(layer)
        if slots is None:
            self.budget.take(LAYER_BYTES + 4 * len(layer), what)
            slots = self._slots[layer] = {}
            self.params[layer] = []
        if index in slots:
            raise CaffefillError(f"{what}: blob {index} of layer {layer!r} is given twice")
        slots[index] = blob

    def set_layer(self, layer: str, blobs: list[BlobT], what: str) -> None:
        """All blobs of ``layer`` at once (a later layer of the same name replaces it)."""
        if layer not in self.params:
            self.budget.take(LAYER_BYTES + 4 * len(layer), what)
        self.params[layer] = blobs

    def finish(self) -> OrderedDict[str, list[BlobT]]:
        """The index; the numbered blobs of every layer must be 0, 1, ... without gaps."""
        for layer, slots in self._slots.items():
            for i in range(len(slots)):
                if i not in slots:
                    last = max(slots)
                    raise CaffefillError(
                        f"layer {layer!r} has blob {last} but no blob {i}: not a weights file "
                        f"(a layer's blobs are numbered 0, 1, ...)")
            self.params[layer] = [slots[i] for i in range(len(slots))]
        return self.params


def meta_dict(text: str, what: str, budget: ReadBudget) -> dict[str, Any]:
    """The JSON metadata object of a weights file (bounded, charged to ``budget``)."""
    if len(text) > MAX_META_BYTES:
        raise CaffefillError(f"{what}: metadata of {len(text):,} characters, past the "
                             f"{MAX_META_BYTES // 2**20} MiB any weights file needs")
    budget.take(JSON_BYTES_PER_BYTE * len(text), what)
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise CaffefillError(f"{what}: metadata is not JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise CaffefillError(f"{what}: metadata is not a JSON object")
    return meta
