"""``.h5``: Caffe's own HDF5 weights layout (``Net::ToHDF5``): a ``data`` group
with one group per layer holding datasets ``"0"``, ``"1"``, ...; the metadata
as attributes of the root.  Needs the optional h5py (``pip install .[h5]``)."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CaffefillError
from .base import BlobLike, Weights

EXTENSIONS = (".h5", ".hdf5")


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


def write(path: Path, blobs: Iterable[BlobLike], meta: dict[str, Any], model: Any) -> None:
    h5py = _h5py()
    with h5py.File(path, "w") as handle:
        data = handle.create_group("data")
        handle.create_group("diff")
        order: list[str] = []
        for blob in blobs:
            layer = blob.key.rpartition("/")[0]
            if layer not in data:
                data.create_group(layer)
                order.append(layer)
            data[layer].create_dataset(str(blob.index), data=np.ascontiguousarray(blob.array))
        handle.attrs["caffefill_meta"] = json.dumps(meta, sort_keys=True)
        # HDF5 lists groups by name; keep the net's layer order for reading back.
        handle.attrs["caffefill_layer_order"] = json.dumps(order)


def read(path: Path) -> Weights:
    h5py = _h5py()
    params: OrderedDict[str, list[np.ndarray]] = OrderedDict()
    with h5py.File(path, "r") as handle:
        meta = json.loads(handle.attrs.get("caffefill_meta", "{}"))
        data = handle["data"]
        layers: list[str] = []
        if "caffefill_layer_order" in handle.attrs:
            layers = list(json.loads(handle.attrs["caffefill_layer_order"]))
        else:  # a file written by Caffe: name order is all HDF5 keeps
            data.visit(lambda name: layers.append(name)
                       if isinstance(data[name], h5py.Group) and _is_layer(data[name])
                       else None)
        for layer in layers:
            group = data[layer]
            params[layer] = [np.asarray(group[str(i)], dtype=np.float32)
                             for i in range(len(group))]
    return Weights(params, meta)


def _is_layer(group: Any) -> bool:
    return len(group) > 0 and all(key.isdigit() for key in group)
