"""Reading ``.npz``: one ``<layer>/<index>`` .npy member per blob, plus ``__meta__``.

Stored (uncompressed) members, which caffefill and ``numpy.savez`` write, are
read straight from the file by offset, their CRC-32 checked as the values
are read; compressed members are read through ``zipfile``'s stream.  The
archive's central directory is charged to the budget before ``zipfile``
reads it (each entry becomes a Python object).
"""

from __future__ import annotations

import struct
import zipfile
from typing import Any

from ..errors import CaffefillError
from ..writers.npz import META_KEY
from ..writers.zipstore import crc32
from .base import (
    MAX_META_BYTES,
    NPY_HEAD_BYTES,
    FileRef,
    FileSpan,
    Index,
    ReadBudget,
    StoredBlob,
    StreamSource,
    meta_dict,
    npy_blob,
    parse_npy_header,
    split_key,
)

_LOCAL = struct.Struct("<4s2B4HL2L2H")  # a member's local header (zipfile's structFileHeader)
_CENTRAL_ENTRY_MIN = 46  # bytes of the smallest central directory entry
_ZIPINFO_BYTES = 1024  # memory per central directory entry once zipfile has read it


def _charge_directory(handle: Any, file: FileRef, budget: ReadBudget) -> None:
    """Charge the central directory's entries before zipfile turns them into objects."""
    try:
        end = zipfile._EndRecData(handle)  # type: ignore[attr-defined]
    except (OSError, struct.error):
        end = None
    size = int(end[zipfile._ECD_SIZE]) if end else file.size  # type: ignore[attr-defined]
    size = min(size, file.size)
    budget.take(size // _CENTRAL_ENTRY_MIN * _ZIPINFO_BYTES + size, "the zip directory")
    handle.seek(0)


def read_index(file: FileRef, budget: ReadBudget
               ) -> tuple[Index[StoredBlob], dict[str, Any], list[Any]]:
    """The index of an .npz (its blobs by layer), its metadata, and what to close."""
    handle = open(file.acquire(), "rb", closefd=False)  # noqa: SIM115 (closed by WeightFile)
    _charge_directory(handle, file, budget)
    archive = zipfile.ZipFile(handle)
    index: Index[StoredBlob] = Index(budget)
    meta: dict[str, Any] = {}
    for info in archive.infolist():
        if info.is_dir():
            continue
        name = info.filename
        what = f"member {name!r}"
        index.charge(what, len(name))
        key = name[:-4] if name.endswith(".npy") else name
        if key == META_KEY:
            meta = _meta(archive, info, what, budget)
            continue
        layer, number = split_key(key)
        index.put(layer, number, _member_blob(archive, info, file, what), what)
    return index, meta, [archive, handle]


def _meta(archive: zipfile.ZipFile, info: zipfile.ZipInfo, what: str,
          budget: ReadBudget) -> dict[str, Any]:
    if info.file_size > MAX_META_BYTES:
        raise CaffefillError(f"{what}: metadata of {info.file_size:,} bytes, past the "
                             f"{MAX_META_BYTES // 2**20} MiB any weights file needs")
    budget.take(2 * info.file_size, what)
    with archive.open(info) as member:
        data = member.read(MAX_META_BYTES + 1)
    header = parse_npy_header(data[:NPY_HEAD_BYTES], what, kinds="U")
    blob = npy_blob(header, _Bytes(data[header.length:]), len(data) - header.length, what)
    return meta_dict(str(blob.read().reshape(-1)[0]) if blob.count == 1 else "", what, budget)


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def chunks(self, size: int) -> Any:
        for start in range(0, len(self.data), size):
            yield self.data[start:start + size]


def _member_blob(archive: zipfile.ZipFile, info: zipfile.ZipInfo, file: FileRef,
                 what: str) -> Any:
    stored = info.compress_type == zipfile.ZIP_STORED and not info.flag_bits & 1 and \
        info.compress_size == info.file_size
    if not stored:
        with archive.open(info) as member:
            header = parse_npy_header(member, what)
        source = StreamSource(lambda: archive.open(info), header.length,
                              header.nbytes, what)
        return npy_blob(header, source, info.file_size - header.length, what)
    local = file.pread(_LOCAL.size, info.header_offset)
    if len(local) < _LOCAL.size or local[:4] != b"PK\x03\x04":
        raise CaffefillError(f"{what}: bad local header in the archive (damaged)")
    fields = _LOCAL.unpack(local)
    start = info.header_offset + _LOCAL.size + fields[10] + fields[11]
    if start + info.file_size > file.size:
        raise CaffefillError(f"{what}: the member runs past the end of the file (truncated)")
    head = file.pread(min(NPY_HEAD_BYTES, info.file_size), start)
    header = parse_npy_header(head, what)
    available = info.file_size - header.length
    whole = header.nbytes == available  # then the CRC covers exactly header and values
    span = FileSpan(file, start + header.length, header.nbytes, what,
                    crc_start=crc32(head[:header.length], 0) if whole else 0,
                    crc_expected=info.CRC if whole else None)
    return npy_blob(header, span, available, what)


__all__ = ["read_index"]
