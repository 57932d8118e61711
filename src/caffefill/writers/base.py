"""What every writer shares: the blob protocol and the read-back result."""

from __future__ import annotations

import io
import struct
import tokenize
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Iterator
from typing import IO, Any, Protocol

import numpy as np
from google.protobuf.message import DecodeError

from .. import interrupt
from ..errors import CaffefillError
from ..weights import Weights as Weights  # what every reader returns
from .names import split_key as split_key  # the readers' blob names: one rule, in .names


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




#: What the libraries that decode a weights file (zipfile, numpy's .npy header
#: parser, h5py, protobuf, json) raise on a damaged or foreign file.
#: :func:`caffefill.writers.load_weights` turns them into one CaffefillError.
CORRUPT_FILE_ERRORS: tuple[type[BaseException], ...] = (
    OSError, EOFError, ValueError, KeyError, RuntimeError, NotImplementedError, SyntaxError,
    zipfile.BadZipFile, tokenize.TokenError, struct.error, DecodeError)

#: Array kinds a weights file may hold: bool, integers, floats (no objects,
#: strings, complex or structured records).
NUMERIC_KINDS = "biuf"


class ReadBudget:
    """How many bytes of arrays a read may still allocate (None: no limit)."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.used = 0

    def take(self, nbytes: int, what: str) -> None:
        self.used += nbytes
        if self.limit is not None and self.used > self.limit:
            cap = f"{self.limit / 2**30:.2f} GiB" if self.limit >= 2**30 else \
                f"{self.limit / 2**20:.1f} MiB"
            raise CaffefillError(
                f"{what}: reading the weights needs more than {cap} of memory (the cap); "
                f"raise it with --max-memory SIZE")


def read_npy(fp: IO[bytes], available: int, budget: ReadBudget, what: str,
             kinds: str = NUMERIC_KINDS) -> np.ndarray:
    """One .npy stream, checked before anything is allocated.

    The header's dtype must be of ``kinds`` and its shape must fit in the
    ``available`` bytes of the stream (a damaged header cannot make this
    allocate more than the file holds) and in ``budget``.
    """
    try:
        version = np.lib.format.read_magic(fp)
        with warnings.catch_warnings():
            # numpy warns (on stderr) about headers that look written by Python 2.
            warnings.simplefilter("ignore")
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
            else:
                raise CaffefillError(f"{what}: .npy format version {version} is not supported")
    except (ValueError, EOFError, SyntaxError, tokenize.TokenError) as exc:
        raise CaffefillError(f"{what}: not a valid .npy header ({exc})") from None
    if dtype.hasobject or dtype.kind not in kinds or dtype.fields is not None or \
            dtype.subdtype is not None:
        raise CaffefillError(f"{what}: holds {dtype} values, not numbers")
    if any(int(d) < 0 for d in shape):
        raise CaffefillError(f"{what}: negative dimension in shape {list(shape)}")
    count = 1
    for d in shape:
        count *= int(d)
    nbytes = count * dtype.itemsize
    if nbytes > available:
        raise CaffefillError(f"{what}: the header announces {nbytes:,} bytes of values, the "
                             f"file holds at most {available:,} (truncated or damaged)")
    budget.take(nbytes, what)
    data = bytearray(nbytes)
    view = memoryview(data)
    got = 0
    while got < nbytes:
        n = fp.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            raise CaffefillError(f"{what}: the file ends inside its values (truncated)")
        got += n
    array = np.frombuffer(data, dtype=dtype, count=count)
    return array.reshape(tuple(int(d) for d in shape), order="F" if fortran else "C")


def meta_dict(text: str, what: str) -> dict[str, Any]:
    """The JSON metadata object of a weights file."""
    import json

    try:
        meta = json.loads(text)
    except ValueError as exc:
        raise CaffefillError(f"{what}: metadata is not JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise CaffefillError(f"{what}: metadata is not a JSON object")
    return meta


def add_blob(params: OrderedDict[str, list[np.ndarray]], layer: str, index: int,
             array: np.ndarray, what: str) -> None:
    """Put blob ``index`` of ``layer``; refuse a blob given twice or an absurd index."""
    blobs = params.setdefault(layer, [])
    if index > 4096:
        raise CaffefillError(f"{what}: blob index {index} of layer {layer!r} is implausible")
    while len(blobs) <= index:
        blobs.append(np.empty(0, np.float32))
    blobs[index] = array
