"""What every writer shares: the blob protocol and the read-back result."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np

from .. import interrupt


class BlobLike(Protocol):
    """A filled blob: ``key`` is ``<layer>/<index>``; see caffefill.drawing.FilledBlob."""

    @property
    def key(self) -> str: ...

    @property
    def array(self) -> np.ndarray: ...

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def count(self) -> int: ...

    index: int

    def pieces(self) -> Iterator[np.ndarray]:
        """The flat float32 values in order; each piece valid until the next."""
        ...


def values_bytes(model: Any) -> int:
    """The bytes of all of ``model``'s blobs as float32: what a weights file
    of it holds at least (to preallocate, see writers.atomic.open_output)."""
    return 4 * sum(int(spec.count) for layer in model.layers for spec in layer.blobs)


def npy_header(shape: tuple[int, ...]) -> bytes:
    """The .npy header (format 1.0) of a little-endian float32 array of ``shape``."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        out, {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")), "fortran_order": False,
              "shape": tuple(shape)})
    return out.getvalue()


class ByteSink(Protocol):
    """Where bytes go: a binary file, or a member of an archive being written."""

    def write(self, data: bytes | bytearray | memoryview, /) -> object: ...


def write_values(out: ByteSink, blob: BlobLike) -> None:
    """A blob's values as little-endian float32, piece by piece, each written
    straight from its buffer (no copy of the blob).  A stop asked for
    (:mod:`caffefill.interrupt`) is honoured between pieces."""
    for piece in blob.pieces():
        interrupt.check()
        if piece.size:
            out.write(np.ascontiguousarray(piece, dtype="<f4").data.cast("B"))


def write_npy_stream(out: ByteSink, blob: BlobLike) -> None:
    """A blob as a .npy stream: :func:`npy_header`, then :func:`write_values`."""
    out.write(npy_header(blob.shape))
    write_values(out, blob)
