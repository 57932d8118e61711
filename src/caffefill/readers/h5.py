"""Reading ``.h5`` weights (Caffe's ``Net::ToHDF5`` layout, or caffefill's).

HDF5 cannot be trusted with a damaged file: one inserted byte can make it
spin for ever inside a call that ignores signals, and a dataset may point
at an external file (a FIFO blocks).  So the file's structure is read by a
child process (:mod:`caffefill.readers.h5probe`) under a time and memory
limit: it checks every group, attribute and dataset, refuses external data,
and reports each dataset's shape, type and - for contiguous, unfiltered
data, which Caffe and caffefill write - where its bytes are.  Those values
are then read straight from the file, without HDF5; any other dataset has
been read once by the child (so HDF5 is known to finish on it) and is read
through h5py when asked for.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import CaffefillError
from .base import ArraySource, FileRef, FileSpan, Index, ReadBudget, StoredBlob, meta_dict

#: Seconds the child may take to read the structure (and any non-contiguous data).
PROBE_SECONDS = 20.0
#: Address space the child may use (bytes).
PROBE_MEMORY = 3 * 2**30
NEEDS_H5PY = ("reading .h5 needs h5py: pip install 'caffefill[h5]' (or pip install h5py), "
              "or convert the file")


#: Reports of files already probed, by (device, inode, size, mtime): a file is
#: read by a child once per process (diff A A, diff A B then B A).
_PROBED: dict[tuple[int, ...], dict[str, Any]] = {}


def _probe(file: FileRef, budget: ReadBudget) -> dict[str, Any]:
    info = os.fstat(file.acquire())
    key = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, budget.limit or -1)
    if key in _PROBED:
        return _PROBED[key]
    left = -1 if budget.limit is None else max(0, budget.limit - budget.used)
    script = os.path.join(os.path.dirname(__file__), "h5probe.py")
    try:
        # Run as a script (-s: no user site, and no import of caffefill): h5py only.
        result = subprocess.run(
            [sys.executable, "-s", script, file.path, str(left), str(PROBE_MEMORY)],
            capture_output=True, timeout=PROBE_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise CaffefillError(f"cannot read it as h5 weights: HDF5 did not finish reading its "
                             f"structure in {PROBE_SECONDS:g} s (damaged?)") from None
    try:
        report = json.loads(result.stdout.decode("utf-8"))
    except ValueError:
        report = None
    if not isinstance(report, dict):
        reason = "out of memory" if result.returncode in (-9, 137) else \
            f"the reader stopped (status {result.returncode})"
        raise CaffefillError(f"cannot read it as h5 weights: {reason}")
    if "error" in report:
        raise CaffefillError(str(report["error"]))
    if report.get("identity") != [info.st_dev, info.st_ino]:
        raise CaffefillError("the file changed while it was read")
    _PROBED[key] = report
    return report


def read_index(file: FileRef, budget: ReadBudget
               ) -> tuple[Index[StoredBlob], dict[str, Any], list[Any]]:
    if importlib.util.find_spec("h5py") is None:
        raise CaffefillError(NEEDS_H5PY)
    report = _probe(file, budget)
    meta = meta_dict(report["meta"], "caffefill_meta", budget) \
        if report.get("meta") is not None else {}
    index: Index[StoredBlob] = Index(budget)
    library = _Library(file.path)
    for layer, datasets in report["layers"]:
        blobs = []
        for i, d in enumerate(datasets):
            what = f"data/{layer}/{i}"
            index.charge(what, len(layer))
            shape = tuple(int(n) for n in d["shape"])
            dtype = np.dtype(d["dtype"])
            if d["offset"] is not None:
                count = int(np.prod(shape, dtype=np.int64)) if shape else 1
                if int(d["offset"]) + count * dtype.itemsize > file.size:
                    raise CaffefillError(f"{what}: the values run past the end of the file "
                                         f"(truncated)")
                source: Any = FileSpan(file, int(d["offset"]), count * dtype.itemsize, what)
            else:
                source = ArraySource(library.loader(f"data/{layer}/{i}"))
            blobs.append(StoredBlob(shape, dtype, source, what, result=np.dtype(np.float32)))
        index.set_layer(layer, blobs, layer)
    return index, meta, [library]


class _Library:
    """h5py, opened only if a dataset that is not plainly stored is read."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.handle: Any = None

    def loader(self, name: str) -> Callable[[], np.ndarray]:
        def load() -> np.ndarray:
            if self.handle is None:
                import h5py

                self.handle = h5py.File(self.path, "r")
            return np.asarray(self.handle[name], dtype=np.float32)
        return load

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


__all__ = ["read_index"]
