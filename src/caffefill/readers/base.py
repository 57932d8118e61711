"""What every weight reader shares: blobs that stay in the file until their
values are asked for, where those values live, and .npy headers (the memory
budget, files read by offset and the index are in :mod:`.files`, re-exported
here).

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
import math
import tokenize
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, Protocol

import numpy as np

from ..errors import CaffefillError
from ..streaming import PIECE_VALUES
from ..weights import Weights as Weights  # what every reader returns
from ..writers.names import split_key as split_key  # one naming rule, in writers.names
from .files import ENTRY_BYTES as ENTRY_BYTES
from .files import JSON_BYTES_PER_BYTE as JSON_BYTES_PER_BYTE
from .files import LAYER_BYTES as LAYER_BYTES
from .files import MAX_META_BYTES as MAX_META_BYTES
from .files import FileRef as FileRef
from .files import FileSpan as FileSpan
from .files import Index as Index
from .files import ReadBudget as ReadBudget
from .files import SpanReader as SpanReader
from .files import corrupt_file_errors
from .files import meta_dict as meta_dict

#: Array kinds a weights file may hold: bool, integers, floats (no objects,
#: strings, complex or structured records).
NUMERIC_KINDS = "biuf"
#: Bytes read to find a .npy header: numpy refuses headers past 10,000 bytes.
NPY_HEAD_BYTES = 1 << 16
#: What the libraries that decode a weights file raise on a damaged or foreign file.
CORRUPT_FILE_ERRORS = corrupt_file_errors()


# ------------------------------------------------------------------ where values live


class Source(Protocol):
    """The stored bytes of one blob's values, in order."""

    def chunks(self, size: int) -> Iterator[bytes | bytearray | memoryview]:
        """The bytes in chunks of ``size`` (the last may be shorter); each chunk is
        valid until the next is asked for."""
        ...


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

    def stored(self) -> StoredBlob:
        """Itself (see :class:`~.files.IndexedBlob`)."""
        return self

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
