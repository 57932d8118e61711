"""Writes one ``.h5`` weights file from what it reads on standard input; run as
a child process by :mod:`caffefill.writers.h5` (``python h5_child.py PATH``).

HDF5 can crash the process it runs in when a write fails as it flushes the
file at close (a full disk, a file size limit), and a signal that lands inside
one of h5py's callbacks is swallowed there.  Here a crash costs only this
process: the parent sees it, removes the file and reports one line.

Input, in order: for each blob, one JSON line ``{"layer", "index", "shape"}``
then its values as little-endian float32 bytes; then one JSON line
``{"meta": ..., "order": [...]}`` that ends the file.  Exit status 0 once the
file is complete and closed; otherwise one line on stderr and status 2 (3
when the input ends early: the parent went away).

This file imports only numpy, h5py and the standard library (it runs as a
script, outside the package).
"""

from __future__ import annotations

import json
import signal
import sys
from typing import Any, BinaryIO

import numpy as np


def _read_exactly(source: BinaryIO, buffer: memoryview) -> bool:
    got = 0
    while got < buffer.nbytes:
        n = source.readinto(buffer[got:])  # type: ignore[attr-defined]
        if not n:
            return False
        got += n
    return True


def write(path: str, source: BinaryIO) -> int:
    import h5py

    with h5py.File(path, "w") as handle:
        data = handle.create_group("data")
        handle.create_group("diff")
        while True:
            line = source.readline()
            if not line.endswith(b"\n"):
                return 3
            record: dict[str, Any] = json.loads(line)
            if "meta" in record:
                handle.attrs["caffefill_meta"] = record["meta"]
                # HDF5 lists groups by name; keep the net's layer order for reading back.
                handle.attrs["caffefill_layer_order"] = json.dumps(record["order"])
                break
            shape = tuple(int(d) for d in record["shape"])
            array = np.empty(shape, dtype="<f4")
            if not _read_exactly(source, array.reshape(-1).data.cast("B")):
                return 3
            layer = record["layer"]
            group = data[layer] if layer in data else data.create_group(layer)
            group.create_dataset(str(record["index"]), data=array)
    return 0


def main() -> int:
    # The parent decides when to stop (and kills this process): ignore the
    # terminal's Ctrl-C and hangups, which reach the whole process group.
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None:
            signal.signal(signum, signal.SIG_IGN)
    try:
        return write(sys.argv[1], sys.stdin.buffer)
    except Exception as exc:  # reported by the parent as one line
        text = " ".join(f"{type(exc).__name__}: {exc}".split())
        print(text[:400], file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
