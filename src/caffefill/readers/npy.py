"""Reading a folder of ``.npy`` files named by its ``meta.json``.

``meta.json`` and every file it names must be regular files inside the
folder (a FIFO or a device is refused, never waited on); each file's header
is checked when the index is made and its values are read by offset later.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import CaffefillError
from ..inputs import open_regular
from ..writers.npy import META_FILE
from .base import (
    MAX_META_BYTES,
    NPY_HEAD_BYTES,
    FileRef,
    FileSpan,
    Index,
    ReadBudget,
    StoredBlob,
    meta_dict,
    npy_blob,
    parse_npy_header,
)


def _read_meta(folder: Path) -> str:
    try:
        fd = open_regular(folder / META_FILE, "meta.json")
    except CaffefillError as exc:
        raise CaffefillError(f"not a caffefill .npy folder ({META_FILE}: {exc.message})"
                             ) from None
    try:
        data = os.read(fd, MAX_META_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_META_BYTES:
        raise CaffefillError(f"{META_FILE}: larger than the {MAX_META_BYTES // 2**20} MiB "
                             f"any weights file needs")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CaffefillError(f"{META_FILE}: not UTF-8 text ({exc.reason})") from None


def read_index(folder: Path, budget: ReadBudget
               ) -> tuple[Index[StoredBlob], dict[str, Any], list[Any]]:
    """The index of a .npy folder, its metadata, and what to close (nothing: each
    file is opened only while it is read)."""
    document = meta_dict(_read_meta(folder), META_FILE, budget)
    entries = document.pop("blobs", [])
    if not isinstance(entries, list):
        raise CaffefillError(f"{META_FILE}: 'blobs' is not a list")
    index: Index[StoredBlob] = Index(budget)
    for entry in entries:
        if not (isinstance(entry, dict) and isinstance(entry.get("file"), str)
                and isinstance(entry.get("layer"), str)
                and type(entry.get("index")) is int and 0 <= entry["index"] < len(entries)):
            raise CaffefillError(f"{META_FILE}: a 'blobs' entry is not "
                                 f"{{file, layer, index}} (index below the number of "
                                 f"entries): {str(entry)[:80]}")
        name = entry["file"]
        what = name
        index.charge(what, len(name))
        if "/" in name or "\\" in name or "\0" in name or name in ("", ".", ".."):
            raise CaffefillError(f"{META_FILE}: unsafe file name {name!r}")
        file = FileRef(folder / name, f"the folder's file {name!r}", keep_open=False)
        head = file.pread(min(NPY_HEAD_BYTES, file.size), 0)
        file.close()
        header = parse_npy_header(head, what)
        span = FileSpan(file, header.length, header.nbytes, what)
        index.put(entry["layer"], entry["index"],
                  npy_blob(header, span, file.size - header.length, what), what)
    return index, document, []


__all__ = ["read_index"]
