"""One naming rule for every format.

A blob is named ``<layer>/<index>`` (pycaffe's ``net.params[layer][index]``):
the ``.npz`` member is that name plus ``.npy``, ``.h5`` keeps it as the path
``data/<layer>/<index>``, and a key-value format (safetensors) uses it as its
key.  Where a name must be a single file name (a ``.npy`` folder), it is
:func:`escape`-d: every character outside ``A-Z a-z 0-9 _ - .`` becomes
``%XX``, ``%uXXXX`` or ``%UXXXXXX`` by its code point (fixed widths, so the
escape can be read back), as does a leading ``.``.  Both mappings are
one-to-one: two distinct blobs never share a name (:func:`unescape` and
:func:`split_key` invert them).
"""

from __future__ import annotations

import re

from ..errors import CaffefillError

_PLAIN = re.compile(r"[A-Za-z0-9_.-]")
_ESCAPED = re.compile(r"%(?:u([0-9A-F]{4})|U([0-9A-F]{6})|([0-9A-F]{2}))")


def blob_key(layer: str, index: int) -> str:
    """The name of blob ``index`` of ``layer``: ``'conv1/0'``."""
    return f"{layer}/{index}"


def split_key(key: str) -> tuple[str, int]:
    """``'inception_3a/1x1/0'`` -> ``('inception_3a/1x1', 0)``."""
    layer, sep, index = key.rpartition("/")
    if not sep or not index.isdigit() or not index.isascii():
        raise CaffefillError(f"not a <layer>/<index> weight key: {key!r}")
    return layer, int(index)


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"%{code:02X}"
    if code < 0x10000:
        return f"%u{code:04X}"
    return f"%U{code:06X}"


def escape(name: str) -> str:
    """``name`` as one file name: only ``[A-Za-z0-9_.%-]``, never starting with
    ``.`` (so never ``.``, ``..`` or hidden), and never empty for a non-empty name."""
    out = "".join(ch if _PLAIN.fullmatch(ch) else _escape_char(ch) for ch in name)
    if out.startswith("."):
        out = "%2E" + out[1:]
    return out


def unescape(text: str) -> str:
    """The name :func:`escape` turned into ``text``."""
    def decode(match: re.Match[str]) -> str:
        return chr(int(next(group for group in match.groups() if group), 16))

    return _ESCAPED.sub(decode, text)


def file_name(layer: str, index: int) -> str:
    """The file of blob ``index`` of ``layer`` in a ``.npy`` folder: its escaped
    name plus ``.npy`` (``conv1/0`` -> ``conv1%2F0.npy``)."""
    return escape(blob_key(layer, index)) + ".npy"
