"""``.h5``: Caffe's own HDF5 weights layout (``Net::ToHDF5``): a ``data`` group
with one group per layer holding datasets ``"0"``, ``"1"``, ...; the metadata
as attributes of the root.  Needs the optional h5py (``pip install .[h5]``)."""

from __future__ import annotations

import contextlib
import errno
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import interrupt
from ..errors import CaffefillError, WriteError
from .base import BlobLike, write_values
from .names import split_key


def _h5py() -> Any:
    try:
        import h5py
    except ImportError:
        raise CaffefillError(
            "writing or reading .h5 needs h5py: pip install 'caffefill[h5]' (or pip install "
            "h5py), or choose .npz / .caffemodel") from None
    return h5py


def require() -> None:
    _h5py()


def check_model(model: Any) -> None:
    """Refuse layer names HDF5 cannot hold as group names (Caffe's own .h5 writer fails
    on them too): HDF5 reads '/' as a path, '.' as the group itself, stops at a NUL
    byte, and has no empty names."""
    for layer in model.layers:
        name = layer.name
        if not layer.blobs:
            continue
        if name in ("", ".") or "/" in name or "\0" in name:
            shown = repr(name)
            raise WriteError(
                f"layer {shown} cannot be written to .h5: HDF5 group names cannot be empty or "
                f"'.', nor hold '/' or a NUL byte; rename the layer, or write .npz or "
                f".caffemodel", layer=name, line=layer.line, column=layer.column)


def write(path: Path, blobs: Iterable[BlobLike], meta: dict[str, Any], model: Any) -> None:
    """Write through a child process (:mod:`caffefill.writers.h5_child`): HDF5
    failing at close (a full disk) cannot crash this process, and a signal
    never lands inside h5py here.  Raises OSError when the file is not complete."""
    _h5py()
    child = Path(__file__).with_name("h5_child.py")
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen([sys.executable, str(child), str(path)], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=errors,
                                start_new_session=True)
        assert proc.stdin is not None
        done = False
        try:
            order: list[str] = []
            try:
                for blob in blobs:
                    interrupt.check()
                    layer, index = split_key(blob.key)
                    if not order or order[-1] != layer:
                        order.append(layer)
                    header = {"layer": layer, "index": index, "shape": list(blob.shape)}
                    proc.stdin.write(json.dumps(header).encode() + b"\n")
                    write_values(proc.stdin, blob)
                end = {"meta": json.dumps(meta, sort_keys=True), "order": order}
                proc.stdin.write(json.dumps(end).encode() + b"\n")
                proc.stdin.close()
            except BrokenPipeError:  # the child stopped: its status says why
                pass
            status = proc.wait()
            done = True
        finally:
            if not done:
                proc.kill()
                proc.wait()
            with contextlib.suppress(OSError):
                proc.stdin.close()
        if status != 0:
            errors.seek(0)
            lines = errors.read(4096).decode("utf-8", "replace").strip().splitlines()
            why = lines[-1] if status == 2 and lines else (
                f"the HDF5 writer died of signal {-status}" if status < 0 else
                f"the HDF5 writer failed (status {status})")
            raise OSError(errno.EIO, f"HDF5: {why}")
