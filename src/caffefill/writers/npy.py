"""A folder of ``.npy`` files, one per blob, plus ``meta.json`` naming each file's
layer and blob index.  File names are derived from layer names with every
character outside ``[A-Za-z0-9_.-]`` escaped, so no layer name can reach
outside the folder."""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CaffefillError
from .base import BlobLike, Weights

EXTENSIONS = (".npydir",)
META_FILE = "meta.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def file_name(layer: str, index: int) -> str:
    safe = _UNSAFE.sub(lambda m: f"%{ord(m.group(0)):02X}" if ord(m.group(0)) < 256
                       else f"%u{ord(m.group(0)):04X}", layer)
    if safe.startswith("."):
        safe = "%2E" + safe[1:]
    return f"{safe}.{index}.npy"


def write(path: Path, blobs: Iterable[BlobLike], meta: dict[str, Any], model: Any) -> None:
    files = []
    for blob in blobs:
        layer = blob.key.rpartition("/")[0]
        name = file_name(layer, blob.index)
        np.save(path / name, np.ascontiguousarray(blob.array), allow_pickle=False)
        files.append({"layer": layer, "index": blob.index, "file": name})
    document = dict(meta)
    document["blobs"] = files
    (path / META_FILE).write_text(json.dumps(document, indent=1, sort_keys=True) + "\n",
                                  encoding="utf-8")


def read(path: Path) -> Weights:
    meta_path = Path(path) / META_FILE
    try:
        document = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CaffefillError(f"{path}: not a caffefill .npy folder ({exc})") from None
    params: OrderedDict[str, list[np.ndarray]] = OrderedDict()
    for entry in document.pop("blobs", []):
        name = str(entry["file"])
        if "/" in name or name.startswith(".."):
            raise CaffefillError(f"{meta_path}: unsafe file name {name!r}")
        blobs = params.setdefault(str(entry["layer"]), [])
        index = int(entry["index"])
        while len(blobs) <= index:
            blobs.append(np.empty(0, np.float32))
        blobs[index] = np.load(Path(path) / name, allow_pickle=False)
    return Weights(params, document)
