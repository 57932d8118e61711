"""``.safetensors``: the blobs under the names :class:`caffefill.torch.CaffeNet`'s
``state_dict()`` gives them (the rule of :mod:`caffefill.writers.names`), so
``load_state_dict(load_file(path), strict=True)`` takes the file, and any
safetensors reader reads it.

The format: an 8-byte little-endian header length, a JSON header (each key's
dtype, shape and byte range; ``__metadata__``: strings only) padded with spaces
to 8 bytes, then the raw little-endian values.  Written here rather than with
the ``safetensors`` package, which needs every tensor in memory at once: every
shape is known before the first value is drawn, so the header goes first and
the values are streamed piece by piece like the other writers' (no torch
needed).  ``__metadata__`` holds caffefill's metadata (``caffefill``, JSON) and
each key's Caffe layer and blob index (``caffe_blobs``, JSON), which
:func:`read` uses to give the blobs back by layer name.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import CaffefillError
from .atomic import open_output
from .base import BlobLike, values_bytes, write_values

#: The header of a file this size or larger is refused (the safetensors package
#: refuses past 100 MB too).
MAX_HEADER = 100_000_000

_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
           "I8": "i1", "U8": "u1", "BOOL": "?"}


def header(model: Any, meta: dict[str, Any]) -> tuple[bytes, list[tuple[int, int, str]]]:
    """The length-prefixed header for ``model``'s blobs, and the (layer index,
    blob index, key) of each, in the order the values follow."""
    from .names import state_keys

    entries: dict[str, Any] = {}
    order = []
    caffe: dict[str, list[Any]] = {}
    offset = 0
    for layer, index, key in state_keys(model):
        shape = [int(d) for d in layer.blobs[index].shape]
        size = 4 * math.prod(shape)
        entries[key] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        caffe[key] = [layer.name, index]
        order.append((layer.index, index, key))
        offset += size
    document = {"__metadata__": {"caffefill": json.dumps(meta, sort_keys=True),
                                 "caffe_blobs": json.dumps(caffe)}}
    document.update(entries)
    text = json.dumps(document, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text, order


def write(path: Path, blobs: Iterable[BlobLike], meta: dict[str, Any], model: Any) -> None:
    head, order = header(model, meta)
    expected = iter(order)
    with open_output(path, preallocate=values_bytes(model)) as out:
        out.write(head)
        for blob in blobs:
            layer_index = getattr(getattr(blob, "layer", None), "index", None)
            want = next(expected, None)
            if want is None or (layer_index, blob.index) != want[:2]:
                raise CaffefillError(f"blob {blob.key} is not where the header puts it")
            write_values(out, blob)
    if next(expected, None) is not None:
        raise CaffefillError("fewer blobs than the header announces")
