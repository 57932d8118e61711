"""What every weight reader shares: the memory budget, the index of a file's
blobs, and blobs that stay in the file until their values are asked for.

A reader first builds an index (layer -> :class:`StoredBlob`, plus the file's
metadata) from the file's structure only: every shape, type and offset is
checked, and every entry is charged to the :class:`ReadBudget` before it is
kept, so neither a damaged header nor a million tiny entries can make the
index outgrow the cap.  Values are read later, whole (:meth:`StoredBlob.read`)
or piece by piece (:meth:`StoredBlob.pieces`).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import mmap
import os
import struct
import tokenize
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, Protocol

import numpy as np
from google.protobuf.message import DecodeError

from ..errors import CaffefillError
from ..inputs import open_regular
from ..streaming import PIECE_VALUES
from ..weights import Weights as Weights  # what every reader returns
from ..writers.names import split_key as split_key  # one naming rule, in writers.names

#: Bytes of memory charged per blob and per layer an index holds (the Python
#: objects: names, shape tuples, lists, the blob's record), beyond its name.
ENTRY_BYTES = 512
LAYER_BYTES = 512
#: Largest metadata (JSON) a weights file may carry; caffefill writes well under 1 KiB.
MAX_META_BYTES = 16 * 2**20
#: Memory charged per byte of JSON text parsed (the objects it becomes).
JSON_BYTES_PER_BYTE = 16
#: Array kinds a weights file may hold: bool, integers, floats (no objects,
#: strings, complex or structured records).
NUMERIC_KINDS = "biuf"
#: Bytes read to find a .npy header: numpy refuses headers past 10,000 bytes.
NPY_HEAD_BYTES = 1 << 16

#: What the libraries that decode a weights file (zipfile, numpy's .npy header
#: parser, h5py, protobuf, json) raise on a damaged or foreign file; the
#: readers turn them into one CaffefillError.
CORRUPT_FILE_ERRORS: tuple[type[BaseException], ...] = (
    OSError, EOFError, ValueError, KeyError, RuntimeError, NotImplementedError, SyntaxError,
    zipfile.BadZipFile, tokenize.TokenError, struct.error, DecodeError)




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


class Source(Protocol):
    """The stored bytes of one blob's values, in order."""

    def chunks(self, size: int) -> Iterator[bytes | bytearray | memoryview]:
        """The bytes in chunks of ``size`` (the last may be shorter); each chunk is
        valid until the next is asked for."""
        ...


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


@dataclass
class StreamSource:
    """Bytes read from a stream ``open()`` returns (a compressed archive member),
    after ``skip`` bytes."""

    open: Callable[[], IO[bytes]]
    skip: int
    nbytes: int
    what: str

    def chunks(self, size: int) -> Iterator[bytes]:
        with self.open() as stream:
            _read_exactly(stream, self.skip, self.what)
            left = self.nbytes
            while left:
                part = _read_exactly(stream, min(size, left), self.what)
                left -= len(part)
                yield part


def _read_exactly(stream: IO[bytes], n: int, what: str) -> bytes:
    parts = []
    got = 0
    while got < n:
        part = stream.read(min(n - got, 1 << 24))
        if not part:
            raise CaffefillError(f"{what}: the file ends inside its values (truncated)")
        parts.append(part)
        got += len(part)
    return b"".join(parts)


@dataclass
class SegmentSource:
    """Values stored in several places, in order (a .caffemodel blob whose data
    field is split or not packed): file spans and bytes already read."""

    segments: Sequence[FileSpan | bytes]

    def chunks(self, size: int) -> Iterator[bytes | memoryview]:
        for segment in self.segments:
            if isinstance(segment, bytes):
                for start in range(0, len(segment), size):
                    yield segment[start:start + size]
            else:
                yield from segment.chunks(size)


@dataclass
class ArraySource:
    """Values already in memory (read by a library that gives whole arrays)."""

    load: Callable[[], np.ndarray]

    def chunks(self, size: int) -> Iterator[memoryview]:
        array = np.ascontiguousarray(self.load())
        data = array.reshape(-1).view(np.uint8).data
        for start in range(0, len(data), size):
            yield data[start:start + size]


# ------------------------------------------------------------------ blobs


@dataclass
class StoredBlob:
    """One blob as a file stores it: its shape and value type, and where the values are.

    ``result`` is the type :meth:`read` gives (a .caffemodel's doubles are read as
    float32, as Caffe reads them); ``pieces`` always gives float32 in C order."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    source: Source
    what: str
    fortran: bool = False
    result: np.dtype[Any] | None = None
    path: str | None = None  # the file, for errors

    @property
    def count(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.count * self.dtype.itemsize

    @property
    def streams(self) -> bool:
        """True when :meth:`pieces` reads piece by piece (else it reads the whole blob)."""
        return not (self.fortran and len(self.shape) > 1) and \
            not isinstance(self.source, ArraySource)

    @property
    def raw_f32(self) -> FileSpan | None:
        """The span holding the values as little-endian float32 in C order, if so stored."""
        if self.streams and self.dtype == np.dtype("<f4") and isinstance(self.source, FileSpan):
            return self.source
        return None

    def mapped(self) -> np.ndarray | None:
        """The blob as :meth:`read` gives it, but over the file mapped into memory
        (:meth:`FileRef.mapping`): nothing is read until a value is touched, and
        the pages of the values touched can be dropped again by the system.
        None when the values are not one run of the file in the type they are
        read as (split, compressed, or converted: those are read whole).  An
        .npz member's CRC-32 is not checked (that would read every value)."""
        span = self.source
        if not isinstance(span, FileSpan) or not self.count or \
                (self.result is not None and self.result != self.dtype):
            return None
        with self._guard():
            array = np.frombuffer(span.file.mapping(), dtype=self.dtype, count=self.count,
                                  offset=span.offset)
        return array.reshape(self.shape, order="F" if self.fortran else "C")

    def whole_bytes(self) -> int:
        """Memory :meth:`pieces` needs beyond a few pieces (0 when it streams)."""
        return 0 if self.streams else self.nbytes + 4 * self.count

    def read(self) -> np.ndarray:
        """The whole blob (its type as stored, or ``result``), in its shape."""
        with self._guard():
            return self._read()

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """What a library raises on damaged values, as one CaffefillError."""
        try:
            yield
        except CaffefillError as exc:
            raise exc.located(path=self.path) from None
        except CORRUPT_FILE_ERRORS as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise CaffefillError(f"{self.what}: cannot read the values: {reason}",
                                 path=self.path) from None

    def _read(self) -> np.ndarray:
        if isinstance(self.source, ArraySource):
            return np.asarray(self.source.load(), dtype=self.result or self.dtype)
        data = bytearray(self.nbytes)
        view = memoryview(data)
        at = 0
        for chunk in self.source.chunks(1 << 24):
            n = len(chunk)
            view[at:at + n] = chunk
            at += n
        array = np.frombuffer(data, dtype=self.dtype, count=self.count)
        array = array.reshape(self.shape, order="F" if self.fortran else "C")
        if self.result is not None and self.result != array.dtype:
            array = array.astype(self.result)
        return array

    def pieces(self, values: int = PIECE_VALUES) -> Iterator[np.ndarray]:
        """The values as flat float32 pieces of ``values`` each (the last may be
        shorter), in C order; each piece is valid until the next."""
        with self._guard():
            yield from self._pieces(values)

    def _pieces(self, values: int) -> Iterator[np.ndarray]:
        if not self.streams:
            flat = np.ascontiguousarray(self.read(), dtype=np.float32).reshape(-1)
            for start in range(0, flat.size, values):
                yield flat[start:start + values]
            return
        itemsize = self.dtype.itemsize
        for chunk in self.source.chunks(values * itemsize):
            part = np.frombuffer(chunk, dtype=self.dtype)
            yield part if part.dtype == np.float32 else part.astype(np.float32)


# ------------------------------------------------------------------ the index


class Index:
    """layer -> blobs of one file, built entry by entry within a budget."""

    def __init__(self, budget: ReadBudget) -> None:
        self.budget = budget
        self.params: OrderedDict[str, list[StoredBlob]] = OrderedDict()
        self._slots: dict[str, dict[int, StoredBlob]] = {}

    def charge(self, what: str, extra: int = 0) -> None:
        """One more entry (and ``extra`` bytes) held, refused past the budget."""
        self.budget.take(ENTRY_BYTES + extra, what)

    def put(self, layer: str, index: int, blob: StoredBlob, what: str) -> None:
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

    def set_layer(self, layer: str, blobs: list[StoredBlob], what: str) -> None:
        """All blobs of ``layer`` at once (a later layer of the same name replaces it)."""
        if layer not in self.params:
            self.budget.take(LAYER_BYTES + 4 * len(layer), what)
        self.params[layer] = blobs

    def finish(self) -> OrderedDict[str, list[StoredBlob]]:
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


# ------------------------------------------------------------------ .npy headers


@dataclass
class NpyHeader:
    shape: tuple[int, ...]
    fortran: bool
    dtype: np.dtype[Any]
    length: int  # bytes before the values

    @property
    def nbytes(self) -> int:
        n = self.dtype.itemsize
        for d in self.shape:
            n *= d
        return n


def parse_npy_header(head: bytes | IO[bytes], what: str,
                     kinds: str = NUMERIC_KINDS) -> NpyHeader:
    """The header of a .npy stream (its first bytes, or the stream itself), checked:
    the dtype must be of ``kinds``, no dimension negative."""
    stream: IO[bytes] = io.BytesIO(head) if isinstance(head, bytes) else head
    counter = _Counting(stream)
    try:
        version = np.lib.format.read_magic(counter)
        with warnings.catch_warnings():
            # numpy warns (on stderr) about headers that look written by Python 2.
            warnings.simplefilter("ignore")
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(counter)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(counter)
            else:
                raise CaffefillError(f"{what}: .npy format version {version} is not supported")
    except (ValueError, EOFError, SyntaxError, tokenize.TokenError, TypeError) as exc:
        raise CaffefillError(f"{what}: not a valid .npy header ({exc})") from None
    if dtype.hasobject or dtype.kind not in kinds or dtype.fields is not None or \
            dtype.subdtype is not None:
        raise CaffefillError(f"{what}: holds {dtype} values, not numbers")
    dims = tuple(int(d) for d in shape)
    if any(d < 0 for d in dims):
        raise CaffefillError(f"{what}: negative dimension in shape {list(dims)}")
    return NpyHeader(dims, bool(fortran), dtype, counter.count)


class _Counting:
    """A read-only stream that counts the bytes read through it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self.count += len(data)
        return data


def npy_blob(header: NpyHeader, source: Source, available: int, what: str) -> StoredBlob:
    """A blob from a checked .npy header whose values are ``source``; the values
    must fit in the ``available`` bytes after the header."""
    if header.nbytes > available:
        raise CaffefillError(f"{what}: the header announces {header.nbytes:,} bytes of values, "
                             f"the file holds at most {available:,} (truncated or damaged)")
    return StoredBlob(header.shape, header.dtype, source, what, fortran=header.fortran)
