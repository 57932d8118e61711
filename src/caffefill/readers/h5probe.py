"""The child process that reads an ``.h5`` file's structure for
:mod:`caffefill.readers.h5`: ``python -m caffefill.readers.h5probe PATH BUDGET
MEMORY``.  Prints one JSON object: the layers and their datasets (shape,
type, and the file offset of contiguous, unfiltered values), the metadata
and the file's identity, or ``{"error": ...}``.

It runs under an address-space limit, and its parent kills it after a time
limit: HDF5 may spin for ever, or allocate without end, on a damaged file.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

NUMERIC_KINDS = "biuf"
ENTRY_BYTES = 512


class Refused(Exception):
    pass


def _text(value: Any, what: str) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(f"{what}: not UTF-8 text") from None
    if isinstance(value, str):
        return value
    raise Refused(f"{what}: not a string attribute")


def _attribute(handle: Any, name: str) -> str | None:
    try:
        if name not in handle.attrs:
            return None
        return _text(handle.attrs[name], name)
    except Refused:
        raise
    except Exception as exc:  # an unknown string encoding, a damaged attribute
        raise Refused(f"{name}: cannot read the attribute ({exc})") from None


def _dataset(h5py: Any, dataset: Any, what: str, left: list[int]) -> dict[str, Any]:
    if not isinstance(dataset, h5py.Dataset):
        raise Refused(f"{what}: not a dataset")
    dtype = dataset.dtype
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or \
            dtype.subdtype is not None:
        raise Refused(f"{what}: not a dataset of numbers")
    if dataset.shape is None:
        raise Refused(f"{what}: a dataset without a dataspace (no values)")
    shape = [int(d) for d in dataset.shape]
    count = 1
    for d in shape:
        count *= d
    plist = dataset.id.get_create_plist()
    if plist.get_external_count():
        raise Refused(f"{what}: its values live in an external file, which is not read")
    offset = None
    if plist.get_layout() == h5py.h5d.CONTIGUOUS and plist.get_nfilters() == 0:
        offset = dataset.id.get_offset()
        if offset is not None and dataset.id.get_storage_size() != count * dtype.itemsize:
            raise Refused(f"{what}: stored size does not match its shape (damaged)")
    if offset is None:  # chunked, compact, filtered or never written: read it once here
        need = count * (dtype.itemsize + 4)
        if 0 <= left[0] < need:
            raise Refused(f"{what}: reading the weights needs more memory than the cap; "
                          f"raise it with --max-memory SIZE")
        import numpy as np

        np.asarray(dataset, dtype=np.float32)
    return {"shape": shape, "dtype": dtype.str, "offset": offset}


def probe(path: str, left: list[int]) -> dict[str, Any]:
    import h5py

    def charge(n: int) -> None:
        if left[0] >= 0:
            left[0] -= n
            if left[0] < 0:
                raise Refused("reading the weights needs more memory than the cap; raise it "
                              "with --max-memory SIZE")

    with h5py.File(path, "r") as handle:
        info = os.fstat(handle.id.get_vfd_handle()) if hasattr(handle.id, "get_vfd_handle") \
            else os.stat(path)
        meta = _attribute(handle, "caffefill_meta")
        data = handle.get("data")
        if not isinstance(data, h5py.Group):
            raise Refused("no 'data' group: not Caffe's HDF5 weights layout")
        order_text = _attribute(handle, "caffefill_layer_order")
        if order_text is not None:
            try:
                order = json.loads(order_text)
            except ValueError:
                order = None
            if not (isinstance(order, list) and all(isinstance(n, str) for n in order)):
                raise Refused("caffefill_layer_order is not a list of names")
        else:  # a file written by Caffe: name order is all HDF5 keeps
            order = []

            def visit(name: str) -> None:
                charge(ENTRY_BYTES + len(name))
                group = data.get(name)
                if isinstance(group, h5py.Group) and len(group) > 0 and \
                        all(key.isdigit() for key in group):
                    order.append(name)

            data.visit(visit)
        layers = []
        for layer in order:
            charge(ENTRY_BYTES + len(layer))
            if layer in ("", "."):
                raise Refused(f"layer {layer!r} is not a group name")
            group = data.get(layer)
            if not isinstance(group, h5py.Group):
                raise Refused(f"layer {layer!r} is listed but has no group")
            datasets = []
            for i in range(len(group)):
                charge(ENTRY_BYTES)
                datasets.append(_dataset(h5py, group.get(str(i)), f"data/{layer}/{i}", left))
            layers.append([layer, datasets])
    return {"identity": [info.st_dev, info.st_ino], "meta": meta, "layers": layers}


def main() -> None:
    path, budget, memory = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    except (ImportError, ValueError, OSError):
        pass
    try:
        report = probe(path, [budget])
    except Refused as exc:
        report = {"error": str(exc)}
    except MemoryError:
        report = {"error": "cannot read it as h5 weights: HDF5 ran out of memory (damaged?)"}
    except Exception as exc:  # what h5py raises on a damaged file, whatever it is
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        report = {"error": f"cannot read it as h5 weights: {reason}"}
    sys.stdout.write(json.dumps(report))


if __name__ == "__main__":
    main()
