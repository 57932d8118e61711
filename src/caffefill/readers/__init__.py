"""Reading weight files: every format, lazily or whole, within a memory budget.

:func:`open_weights` indexes a file (layer -> :class:`~.files.IndexedBlob`, checked
and charged to the budget, no values read) and keeps it open for reading values
on demand, whole or piece by piece (``caffefill diff`` streams them); a
``.caffemodel`` is indexed without importing numpy or protobuf;
:func:`load_weights` reads every blob into memory, or (``lazy=True``) maps the
file into memory so that values are read only when touched.  Weight files are read
from regular files only: a FIFO, a device or a socket is refused at once.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CaffefillError
from ..weights import Weights
from .files import FileRef, IndexedBlob, ReadBudget, corrupt_file_errors

if TYPE_CHECKING:
    import numpy as np

    from .base import StoredBlob


class WeightFile:
    """An indexed weights file: ``params`` (layer -> stored blobs) and ``meta``.
    Values are read from the file on demand, until :meth:`close`."""

    def __init__(self, path: Path, fmt: str, params: OrderedDict[str, list[IndexedBlob]],
                 meta: dict[str, Any], closers: list[Any]) -> None:
        self.path = path
        self.format = fmt
        self.params = params
        self.meta = meta
        self._closers = closers

    def __enter__(self) -> WeightFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer.close()
        self._closers = []

    def blobs(self) -> Iterator[tuple[str, int, IndexedBlob]]:
        for layer, blobs in self.params.items():
            for i, blob in enumerate(blobs):
                yield layer, i, blob

    def load(self, budget: ReadBudget | None = None, *, lazy: bool = False) -> Weights:
        """Every blob in memory (each charged to ``budget`` before it is
        allocated); with ``lazy``, blobs stored as one run of the file are
        arrays over the file mapped into memory instead (:meth:`StoredBlob.mapped`),
        which allocate nothing and read only what is touched."""
        budget = budget or ReadBudget()
        params: OrderedDict[str, list[np.ndarray]] = OrderedDict()
        with _located(self.path, self.format):
            for layer, blobs in self.params.items():
                arrays = []
                for indexed in blobs:
                    blob = indexed.stored()
                    array = blob.mapped() if lazy else None
                    if array is None:
                        budget.take(blob.nbytes + (4 * blob.count if blob.result is not None
                                                   else 0), blob.what)
                        array = blob.read()
                    arrays.append(array)
                params[layer] = arrays
        return Weights(params, self.meta)


@contextlib.contextmanager
def _located(path: Path, fmt: str) -> Iterator[None]:
    """Turn what a reading library raises on a damaged file into one CaffefillError
    naming the file."""
    try:
        yield
    except CaffefillError as exc:
        raise exc.located(path=str(path)) from None
    except corrupt_file_errors() as exc:  # evaluated only when an error passes
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise CaffefillError(f"cannot read it as {fmt} weights: {reason}",
                             path=str(path)) from None


def _format(source: Path, fmt: str | None) -> str:
    from ..writers import FORMATS

    if fmt is not None:
        key = fmt.lower().lstrip(".")
        if key not in FORMATS:
            raise CaffefillError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
        return key
    if source.is_dir():
        return "npy"
    lowered = str(source).lower()
    for name, extensions in FORMATS.items():
        if lowered.endswith(extensions):
            return name
    raise CaffefillError(
        "cannot tell the format of the weights from the file name: use a name ending in "
        ".npz, .caffemodel, .h5 or .hdf5, or a caffefill .npy folder", path=str(source))


def open_weights(path: str | os.PathLike[str], *, fmt: str | None = None,
                 budget: ReadBudget | None = None) -> WeightFile:
    """Index a weights file of any supported format; close it (or use ``with``) when done.

    A damaged or foreign file, or anything but a regular file (a folder for
    .npy), raises CaffefillError; so does an index that would need more memory
    than ``budget`` allows."""
    source = Path(path)
    if not os.path.lexists(source):
        raise CaffefillError(f"{source}: no such file or folder")
    key = _format(source, fmt)
    budget = budget or ReadBudget()
    module = importlib.import_module(f"{__name__}.{key}")
    with _located(source, key):
        if key == "npy":
            if not source.is_dir():
                raise CaffefillError("not a folder: a .npy weights folder is a folder")
            index, meta, closers = module.read_index(source, budget)
        else:
            file = FileRef(source, "a weights file")
            try:
                index, meta, closers = module.read_index(file, budget)
            except BaseException:
                file.close()
                raise
            closers = [file, *closers]
        params = index.finish()
    for blobs in params.values():
        for blob in blobs:
            blob.path = str(source)
    return WeightFile(source, key, params, meta, closers)


def load_weights(path: str | os.PathLike[str], *, fmt: str | None = None,
                 max_bytes: int | None = None, lazy: bool = False) -> Weights:
    """Read a weights file of any supported format into memory.

    A damaged or foreign file raises CaffefillError (never a library's own
    exception); with ``max_bytes``, so does a file whose index and arrays would
    need more memory than that (checked before they are allocated).

    With ``lazy``, the same result, but each blob whose values the file holds
    as one run (every uncompressed format caffefill and Caffe write) is an
    array over the file mapped into memory, copy-on-write: its values are read
    when touched (and can be dropped again by the system), changing them never
    changes the file, and only the other blobs count against ``max_bytes``.
    The file must not be changed in place while the arrays are in use (writing
    a new file over it, as caffefill does, is fine); .npz checksums are not
    checked."""
    budget = ReadBudget(max_bytes)
    with open_weights(path, fmt=fmt, budget=budget) as weights:
        return weights.load(budget, lazy=lazy)


def __getattr__(name: str) -> object:
    if name == "StoredBlob":  # imports numpy: only when asked for
        from .base import StoredBlob

        return StoredBlob
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ReadBudget", "StoredBlob", "WeightFile", "Weights", "load_weights", "open_weights"]
