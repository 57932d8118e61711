"""A folder of ``.npy`` files, one per blob, plus ``meta.json`` naming each file's
layer and blob index.  A file is named by :func:`caffefill.writers.names.file_name`
(the blob's ``<layer>/<index>`` name, escaped): one file per blob, and no layer
name can reach outside the folder.  Reading follows ``meta.json``, so folders
written under earlier names (``conv1.0.npy``) read back too."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import interrupt
from ..errors import WriteError
from .atomic import META_FILE
from .base import BlobLike, write_npy_stream
from .names import file_name, split_key

__all__ = ["META_FILE", "file_name", "write"]


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
