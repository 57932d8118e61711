"""Reading ``.caffemodel`` (a binary NetParameter) without parsing it whole.

protobuf parses a message only whole: a 550 MB VGG-16 file becomes the
bytes, the parsed message and its arrays at once (1.6 GB), and a 4 MB file of
a million empty blobs becomes a million message objects before any check.
So the reader walks the wire format itself, field by field, keeping only
what a blob needs: its shape and where its values lie in the file.  Each
blob is charged to the budget as it is found.  Packed ``data`` (what Caffe
writes) is read by offset later; values written unpacked, split over
several fields, or as ``double_data`` are gathered as they come (their bytes
charged too).  Everything else a layer holds is skipped, but its framing is
checked: a damaged or foreign file is refused before any value is compared.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import CaffefillError
from .files import (
    ENTRY_BYTES,
    MAX_META_BYTES,
    FileRef,
    FileSpan,
    Index,
    ReadBudget,
    meta_dict,
)

if TYPE_CHECKING:
    import numpy as np

    from .base import StoredBlob

_VARINT, _FIXED64, _LEN, _START, _END, _FIXED32 = 0, 1, 2, 3, 4, 5

# Field numbers of caffe.proto (and caffefill_meta of proto/caffefill.proto), written
# out so that indexing a file imports no protobuf (a test checks them against the
# generated descriptors).
_NET = {"layer": 100, "layers": 2, "caffefill_meta": 91001}
_LAYER = {"name": 1, "blobs": 7}  # LayerParameter
_V1 = {"name": 4, "blobs": 6}  # V1LayerParameter
_BLOB = {"num": 1, "channels": 2, "height": 3, "width": 4, "data": 5, "shape": 7,
         "double_data": 8}  # BlobProto
_DIM = 1  # BlobShape.dim
_LEGACY_DIMS = {_BLOB[name]: i for i, name in enumerate(("num", "channels", "height", "width"))}
_MAX_GROUP_DEPTH = 100  # protobuf's own recursion limit
_WINDOW = 1 << 16


@dataclass
class WireBlob:
    """A blob of a .caffemodel as its index finds it: the shape, and its values
    as they are stored (``data`` as float32, or ``double_data``), in order: spans
    of the file, and values written unpacked, already read.  :meth:`stored` is
    the :class:`StoredBlob` (values read as float32, as Caffe reads them)."""

    shape: tuple[int, ...]
    double: bool
    segments: list[FileSpan | bytes]
    what: str
    path: str | None = None  # the file, for errors
    _stored: StoredBlob | None = field(default=None, repr=False, compare=False)

    @property
    def raw_f32(self) -> FileSpan | None:
        """The span holding the values as little-endian float32, if one span does."""
        if not self.double and len(self.segments) == 1 and \
                isinstance(self.segments[0], FileSpan):
            return self.segments[0]
        return None

    def stored(self) -> StoredBlob:
        if self._stored is None:
            import numpy as np

            from .base import SegmentSource, StoredBlob

            first = self.segments[0] if len(self.segments) == 1 else None
            source: Any = first if isinstance(first, FileSpan) else SegmentSource(self.segments)
            dtype = np.dtype("<f8" if self.double else "<f4")
            self._stored = StoredBlob(self.shape, dtype, source, self.what,
                                      result=np.dtype(np.float32))
        self._stored.path = self.path
        return self._stored

    def pieces(self, values: int = 1 << 20) -> Iterator[np.ndarray]:
        return self.stored().pieces(values)

    def whole_bytes(self) -> int:
        """0: every blob of a .caffemodel is read piece by piece."""
        return 0


class _Wire:
    """Protobuf wire-format fields of a span of a file, read through a small window."""

    def __init__(self, file: FileRef) -> None:
        self.file = file
        self._data = b""
        self._at = 0

    def read(self, pos: int, n: int) -> bytes:
        if not (self._at <= pos and pos + n <= self._at + len(self._data)):
            self._at = pos
            self._data = self.file.pread(max(n, _WINDOW), pos)
        return self._data[pos - self._at:pos - self._at + n]

    def varint(self, pos: int, end: int) -> tuple[int, int]:
        """(value, position after it); a varint is at most 10 bytes."""
        data = self.read(pos, min(10, end - pos))
        value = 0
        for i, byte in enumerate(data):
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if value >= 1 << 64:
                    raise CaffefillError("not a binary NetParameter (varint too long)")
                return value, pos + i + 1
        raise CaffefillError("not a binary NetParameter (truncated or damaged varint)")

    def fields(self, start: int, end: int) -> Any:
        """(number, wire type, value, position) per field of the message in
        [start, end): the integer for a varint, else the (offset, length) of the
        payload; groups are checked and skipped."""
        pos = start
        depth = 0
        while pos < end:
            key, pos = self.varint(pos, end)
            number, wire = key >> 3, key & 7
            if number == 0:
                raise CaffefillError("not a binary NetParameter (field number 0)")
            value: Any = None
            if wire == _VARINT:
                value, pos = self.varint(pos, end)
            elif wire == _FIXED64:
                value = (pos, 8)
                pos += 8
            elif wire == _FIXED32:
                value = (pos, 4)
                pos += 4
            elif wire == _LEN:
                length, pos = self.varint(pos, end)
                value = (pos, length)
                pos += length
            elif wire == _START:
                depth += 1
                if depth > _MAX_GROUP_DEPTH:
                    raise CaffefillError("not a binary NetParameter (groups nested too deep)")
                continue
            elif wire == _END:
                depth -= 1
                if depth < 0:
                    raise CaffefillError("not a binary NetParameter (unmatched end of group)")
                continue
            else:
                raise CaffefillError(f"not a binary NetParameter (wire type {wire})")
            if pos > end:
                raise CaffefillError("not a binary NetParameter (a field runs past its "
                                     "message: truncated or damaged)")
            if depth == 0:
                yield number, wire, value
        if depth:
            raise CaffefillError("not a binary NetParameter (a group is not closed)")

    def text(self, span: tuple[int, int]) -> str:
        start, length = span
        return self.file.pread(length, start).decode("utf-8", "replace")


def read_index(file: FileRef, budget: ReadBudget
               ) -> tuple[Index[WireBlob], dict[str, Any], list[Any]]:
    """The index of a .caffemodel (layers in file order, current then V1 syntax,
    as Caffe lists them), its metadata, and what to close."""
    wire = _Wire(file)
    index: Index[WireBlob] = Index(budget)
    current: list[tuple[int, int]] = []
    legacy: list[tuple[int, int]] = []
    meta_span: tuple[int, int] | None = None
    for number, kind, value in wire.fields(0, file.size):
        if kind != _LEN:
            continue
        if number == _NET["layer"]:
            current.append(value)
        elif number == _NET["layers"]:
            legacy.append(value)
        elif number == _NET["caffefill_meta"]:
            meta_span = value
        else:
            continue
        budget.take(ENTRY_BYTES // 8, "a layer")
    for spans, numbers in ((current, _LAYER), (legacy, _V1)):
        for span in spans:
            _layer(wire, span, numbers, index, budget)
    meta: dict[str, Any] = {}
    if meta_span is not None:
        if meta_span[1] > MAX_META_BYTES:
            raise CaffefillError(f"caffefill_meta: metadata of {meta_span[1]:,} bytes, past "
                                 f"the {MAX_META_BYTES // 2**20} MiB any weights file needs")
        meta = meta_dict(wire.text(meta_span), "caffefill_meta", budget)
    return index, meta, []


def _layer(wire: _Wire, span: tuple[int, int], numbers: dict[str, int], index: Index[WireBlob],
           budget: ReadBudget) -> None:
    start, length = span
    name_span: tuple[int, int] | None = None
    blobs: list[tuple[int, int]] = []
    for number, kind, value in wire.fields(start, start + length):
        if kind != _LEN:
            continue
        if number == numbers["name"]:
            name_span = value
        elif number == numbers["blobs"]:
            budget.take(ENTRY_BYTES, "a blob")
            blobs.append(value)
    if not blobs:
        return
    if name_span is not None and name_span[1] > MAX_META_BYTES:
        raise CaffefillError("not a binary NetParameter (a layer name past 16 MiB)")
    name = wire.text(name_span) if name_span is not None else ""
    stored = []
    for i, blob in enumerate(blobs):
        try:
            stored.append(_blob(wire, blob, f"layer {name!r} blob {i}", budget))
        except CaffefillError as exc:
            raise CaffefillError(f"layer {name!r}: {exc.message}") from None
    index.set_layer(name, stored, f"layer {name!r}")


def _blob(wire: _Wire, span: tuple[int, int], what: str, budget: ReadBudget) -> WireBlob:
    start, length = span
    dims: list[int] = []
    has_shape = False
    legacy = [0, 0, 0, 0]
    has_legacy = False
    floats: list[FileSpan | bytearray] = []
    doubles: list[FileSpan | bytearray] = []
    float_count = double_count = 0
    for number, kind, value in wire.fields(start, start + length):
        if number == _BLOB["shape"] and kind == _LEN:
            has_shape = True
            dims.extend(_dims(wire, value, budget))
        elif number in _LEGACY_DIMS and kind == _VARINT:
            has_legacy = True
            legacy[_LEGACY_DIMS[number]] = _int32(value)
        elif number in (_BLOB["data"], _BLOB["double_data"]):
            size = 4 if number == _BLOB["data"] else 8
            target = floats if number == _BLOB["data"] else doubles
            got = _values(wire, kind, value, size, what, budget)
            if got is None:
                continue
            if isinstance(got, FileSpan):
                target.append(got)
            elif target and isinstance(target[-1], bytearray):
                target[-1] += got
            else:
                target.append(bytearray(got))
            n = (got.nbytes if isinstance(got, FileSpan) else len(got)) // size
            if number == _BLOB["data"]:
                float_count += n
            else:
                double_count += n
    shape = tuple(dims) if has_shape else tuple(legacy) if has_legacy else ()
    if any(d < 0 for d in shape):
        raise CaffefillError(f"blob shape {list(shape)} has a negative dimension")
    double = double_count > 0
    values, count = (doubles, double_count) if double else (floats, float_count)
    expected = 1
    for d in shape:
        expected *= d
    if count != expected:
        raise CaffefillError(f"blob holds {count} values but its shape {list(shape)} "
                             f"needs {expected}")
    return WireBlob(shape, double, [bytes(v) if isinstance(v, bytearray) else v for v in values],
                    what)


def _values(wire: _Wire, kind: int, value: Any, size: int, what: str,
            budget: ReadBudget) -> FileSpan | bytes | None:
    """One occurrence of a repeated float/double field: packed (a span of the file)
    or one value written unpacked (its bytes, read now and charged)."""
    if kind == _LEN:
        offset, length = value
        if length % size:
            raise CaffefillError(f"packed values of {length} bytes, not a whole number of "
                                 f"{size}-byte values (damaged)")
        budget.take(64, what)
        return FileSpan(wire.file, offset, length, what)
    if kind == (_FIXED32 if size == 4 else _FIXED64):
        budget.take(2 * size, what)
        return wire.read(value[0], size)
    return None


def _dims(wire: _Wire, span: tuple[int, int], budget: ReadBudget) -> list[int]:
    dims: list[int] = []
    start, length = span
    for number, kind, value in wire.fields(start, start + length):
        if number != _DIM:
            continue
        if kind == _VARINT:
            dims.append(_int64(value))
        elif kind == _LEN:
            budget.take(value[1] * 8, "a blob shape")
            pos, end = value[0], value[0] + value[1]
            while pos < end:
                dim, pos = wire.varint(pos, end)
                dims.append(_int64(dim))
        budget.take(8 * len(dims), "a blob shape")
    return dims


def _int64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


__all__ = ["WireBlob", "read_index"]
