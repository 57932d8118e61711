"""``.npz``: one ``<layer>/<index>`` array per blob (pycaffe's net.params[layer][index])
plus a ``__meta__`` JSON string.  Streamed: one blob in memory at a time."""

from __future__ import annotations

import json
import zipfile
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .base import BlobLike, Weights, split_key

META_KEY = "__meta__"
EXTENSIONS = (".npz",)


def write(path: Path, blobs: Iterable[BlobLike], meta: dict[str, Any], model: Any) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for blob in blobs:
            array = np.ascontiguousarray(blob.array)
            with archive.open(f"{blob.key}.npy", "w", force_zip64=True) as member:
                # The .npy header, then the values straight from the array's
                # buffer (write_array would copy them in chunks first).
                header = np.lib.format.header_data_from_array_1_0(array)
                np.lib.format.write_array_header_1_0(member, header)
                member.write(array.data.cast("B") if array.size else b"")
        with archive.open(f"{META_KEY}.npy", "w") as member:
            np.lib.format.write_array(member, np.array(json.dumps(meta, sort_keys=True)),
                                      allow_pickle=False)


def read(path: Path) -> Weights:
    params: OrderedDict[str, list[np.ndarray]] = OrderedDict()
    meta: dict[str, Any] = {}
    with np.load(path, allow_pickle=False) as archive:
        for key in archive.files:
            if key == META_KEY:
                meta = json.loads(str(archive[key]))
                continue
            layer, index = split_key(key)
            blobs = params.setdefault(layer, [])
            while len(blobs) <= index:
                blobs.append(np.empty(0, np.float32))
            blobs[index] = archive[key]
    return Weights(params, meta)
