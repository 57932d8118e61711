"""``.npz``: one array per blob, named ``<layer>/<index>`` (pycaffe's
net.params[layer][index]; the rule of :mod:`caffefill.writers.names`) plus a
``__meta__`` JSON string.  Streamed: one blob in memory at a time."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .. import interrupt
from ..errors import WriteError
from .atomic import open_output
from .base import BlobLike, npy_header, values_bytes, write_values
from .names import blob_key, split_key
from .zipstore import StoredZip

META_KEY = "__meta__"


def check_model(model: Any) -> None:
    """Refuse layer names a zip member name cannot hold (zipfile cuts names at NUL)."""
    for layer in model.layers:
        if layer.blobs and "\0" in layer.name:
            raise WriteError(
                f"layer {layer.name!r} cannot be written to .npz: its name holds a NUL byte, "
                f"which zip member names cannot; rename the layer, or write .caffemodel or a "
                f".npy folder", layer=layer.name, line=layer.line,
                column=layer.column)


def write(path: Path, blobs: Iterable[BlobLike], meta: dict[str, Any], model: Any) -> None:
    with open_output(path, preallocate=values_bytes(model)) as out, StoredZip(out) as archive:
        _write(archive, blobs, meta)


def write_stream(out: BinaryIO, blobs: Iterable[BlobLike], meta: dict[str, Any],
                 model: Any) -> None:
    """The same archive, written strictly in order (to standard output)."""
    with StoredZip(out, stream=True) as archive:
        _write(archive, blobs, meta)


def _write(archive: StoredZip, blobs: Iterable[BlobLike], meta: dict[str, Any]) -> None:
    for blob in blobs:
        interrupt.check()
        header = npy_header(blob.shape)
        name = blob_key(*split_key(blob.key)) + ".npy"
        with archive.member(name, len(header) + 4 * blob.count) as member:
            member.write(header)
            write_values(member, blob)
    text = io.BytesIO()
    np.lib.format.write_array(text, np.array(json.dumps(meta, sort_keys=True)),
                              allow_pickle=False)
    with archive.member(f"{META_KEY}.npy", len(text.getvalue())) as member:
        member.write(text.getvalue())
    archive.close()
