"""Reading ``.safetensors``: an 8-byte header length, a JSON header, raw values.

caffefill's own files say in the header's ``__metadata__`` which Caffe layer
and blob index each tensor is (``caffe_blobs``) and carry the run's metadata
(``caffefill``); a file from elsewhere is read under its keys' module paths.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np

from ..errors import CaffefillError
from ..writers.safetensors import _DTYPES, MAX_HEADER
from .base import FileRef, FileSpan, Index, ReadBudget, StoredBlob, meta_dict


def read_index(file: FileRef, budget: ReadBudget
               ) -> tuple[Index[StoredBlob], dict[str, Any], list[Any]]:
    """The index of a .safetensors file, its metadata, and what to close."""
    raw = file.pread(8, 0)
    if len(raw) < 8:
        raise CaffefillError("not a .safetensors file (shorter than its header length)")
    (length,) = struct.unpack("<Q", raw)
    if length > min(MAX_HEADER, file.size - 8):
        raise CaffefillError(f"header length {length:,} is past the file's end or too large")
    budget.take(4 * length, "the header")
    try:
        document = json.loads(file.pread(length, 8).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CaffefillError(f"header: not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise CaffefillError("header: not a JSON object")
    start = 8 + length
    extra = document.pop("__metadata__", None) or {}
    if not isinstance(extra, dict):
        raise CaffefillError("header: __metadata__ is not an object")
    meta = meta_dict(str(extra.get("caffefill", "{}")), "header metadata 'caffefill'", budget)
    caffe = meta_dict(str(extra.get("caffe_blobs", "{}")), "header metadata 'caffe_blobs'",
                      budget)
    index: Index[StoredBlob] = Index(budget)
    loose: dict[str, int] = {}
    for key, entry in document.items():
        what = f"tensor {key!r}"
        index.charge(what, len(key))
        blob = _tensor(file, key, entry, start, what)
        where = caffe.get(key)
        if isinstance(where, list) and len(where) == 2 and isinstance(where[0], str) \
                and isinstance(where[1], int) and 0 <= where[1] <= 4096:
            index.put(where[0], where[1], blob, what)
        else:  # a file from elsewhere: the key's module path, blobs in file order
            module, _, name = key.rpartition(".")
            layer = module or name
            number = loose.get(layer, 0)
            loose[layer] = number + 1
            index.put(layer, number, blob, what)
    return index, meta, []


def _tensor(file: FileRef, key: str, entry: Any, start: int, what: str) -> StoredBlob:
    if not (isinstance(entry, dict) and entry.get("dtype") in _DTYPES
            and isinstance(entry.get("shape"), list)
            and all(isinstance(d, int) and d >= 0 for d in entry["shape"])
            and isinstance(entry.get("data_offsets"), list) and len(entry["data_offsets"]) == 2
            and all(isinstance(o, int) and o >= 0 for o in entry["data_offsets"])):
        raise CaffefillError(f"header entry {key!r} is not {{dtype, shape, data_offsets}}")
    dtype = np.dtype(_DTYPES[entry["dtype"]]).newbyteorder("<")
    begin, end = entry["data_offsets"]
    shape = tuple(int(d) for d in entry["shape"])
    count = 1
    for d in shape:
        count *= d
    if end - begin != count * dtype.itemsize or start + end > file.size or begin > end:
        raise CaffefillError(f"{key}: its byte range does not fit its shape or the file")
    return StoredBlob(shape, dtype, FileSpan(file, start + begin, end - begin, what), what)
