"""A folder of ``.npy`` files, one per blob, plus ``meta.json`` naming each file's
layer and blob index.  File names are derived from layer names with every
character outside ``[A-Za-z0-9_.-]`` escaped, so no layer name can reach
outside the folder."""

from __future__ import annotations

import json
import os
import re
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CaffefillError
from .base import BlobLike, ReadBudget, Weights, add_blob, meta_dict, read_npy, write_npy_stream

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
        with open(path / name, "wb") as out:
            write_npy_stream(out, blob)
        files.append({"layer": layer, "index": blob.index, "file": name})
    document = dict(meta)
    document["blobs"] = files
    (path / META_FILE).write_text(json.dumps(document, indent=1, sort_keys=True) + "\n",
                                  encoding="utf-8")


def read(path: Path, budget: ReadBudget | None = None) -> Weights:
    budget = budget or ReadBudget()
    meta_path = Path(path) / META_FILE
    try:
        text = meta_path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        raise CaffefillError(f"not a caffefill .npy folder ({exc})") from None
    document = meta_dict(text, META_FILE)
    entries = document.pop("blobs", [])
    if not isinstance(entries, list):
        raise CaffefillError(f"{META_FILE}: 'blobs' is not a list")
    params: OrderedDict[str, list[np.ndarray]] = OrderedDict()
    for entry in entries:
        if not (isinstance(entry, dict) and isinstance(entry.get("file"), str)
                and isinstance(entry.get("layer"), str)
                and isinstance(entry.get("index"), int) and entry["index"] >= 0):
            raise CaffefillError(f"{META_FILE}: a 'blobs' entry is not "
                                 f"{{file, layer, index}}: {str(entry)[:80]}")
        name = entry["file"]
        if "/" in name or "\\" in name or "\0" in name or name in ("", ".", ".."):
            raise CaffefillError(f"{META_FILE}: unsafe file name {name!r}")
        file = Path(path) / name
        what = name
        with open(file, "rb") as handle:
            array = read_npy(handle, os.fstat(handle.fileno()).st_size, budget, what)
        add_blob(params, entry["layer"], entry["index"], array, what)
    return Weights(params, document)
