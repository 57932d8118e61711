"""A folder of ``.npy`` files, one per blob, plus ``meta.json`` naming each file's
layer and blob index.  A file is named by :func:`caffefill.writers.names.file_name`
(the blob's ``<layer>/<index>`` name, escaped): one file per blob, and no layer
name can reach outside the folder.  Reading follows ``meta.json``, so folders
written under earlier names (``conv1.0.npy``) read back too."""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .. import interrupt
from ..errors import CaffefillError, WriteError
from .atomic import META_FILE
from .base import BlobLike, ReadBudget, Weights, add_blob, meta_dict, read_npy, write_npy_stream
from .names import file_name, split_key

__all__ = ["META_FILE", "file_name", "read", "write"]


def write(path: Path, blobs: Iterable[BlobLike], meta: dict[str, Any], model: Any) -> None:
    files = []
    owners: dict[str, str] = {}
    for blob in blobs:
        interrupt.check()
        layer, index = split_key(blob.key)
        name = file_name(layer, index)
        try:
            # Never over a file of this run: a file system that folds case (or
            # normalises Unicode) could map two names to one file.
            out = open(path / name, "xb")  # noqa: SIM115 - closed just below
        except FileExistsError:
            raise WriteError(
                f"blobs {owners.get(name.casefold(), '?')!r} and {blob.key!r} would share the file "
                f"{name!r} on this file system (it does not tell their names apart); write "
                f".npz or .caffemodel instead", layer=layer) from None
        with out:
            write_npy_stream(out, blob)
        owners[name.casefold()] = blob.key
        files.append({"layer": layer, "index": index, "file": name})
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
