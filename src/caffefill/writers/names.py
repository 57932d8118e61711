"""One naming rule for every format.

A blob is named ``<layer>/<index>`` (pycaffe's ``net.params[layer][index]``):
the ``.npz`` member is that name plus ``.npy``, ``.h5`` keeps it as the path
``data/<layer>/<index>``.  Where a name must be a single file name (a ``.npy``
folder), it is :func:`escape`-d: every character outside ``A-Z a-z 0-9 _ - .``
becomes ``%XX``, ``%uXXXX`` or ``%UXXXXXX`` by its code point (fixed widths,
so the escape can be read back), as does a leading ``.``.  Both mappings are
one-to-one: two distinct blobs never share a name (:func:`unescape` and
:func:`split_key` invert them).

``.safetensors`` is read by PyTorch's ``load_state_dict``, so its keys are the
names :class:`caffefill.torch.CaffeNet` gives its tensors (:func:`state_keys`,
no torch needed; the file also records each key's ``<layer>/<index>``):

* a submodule is named after its layer; a ``.`` (PyTorch's path separator)
  becomes ``_`` and an empty name becomes ``layer``; layers that own blobs
  are named first, so they keep their names, and a name already taken gets
  ``_2``, ``_3``, ... (the first free one);
* a blob is ``<submodule>.<role>`` (``weight``, ``bias``, ``scale``, ``slope``,
  ``mean``, ``variance``, ``moving_average_factor``, ``W_xc``, ...), or
  ``<submodule>.blob<i>`` when the layer has no role for it or two blobs share
  one.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..errors import CaffefillError

if TYPE_CHECKING:  # readers use these names without loading the net model
    from ..net.model import NetLayer, NetModel

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


def module_names(model: NetModel) -> list[str]:
    """One distinct submodule name per layer of ``model``, in layer order."""
    names: list[str | None] = [None] * len(model.layers)
    used: set[str] = set()
    order = [lay for lay in model.layers if lay.blobs] + \
        [lay for lay in model.layers if not lay.blobs]
    for layer in order:
        base = layer.name.replace(".", "_") or "layer"
        name, k = base, 1
        while name in used:
            k += 1
            name = f"{base}_{k}"
        used.add(name)
        names[layer.index] = name
    return [n for n in names if n is not None]


def blob_names(layer: NetLayer) -> list[str]:
    """The attribute name of each of ``layer``'s blobs, in Caffe's blob order."""
    roles = [spec.role.replace(".", "_") for spec in layer.blobs]
    return [role if role and role.isidentifier() and roles.count(role) == 1 else f"blob{i}"
            for i, role in enumerate(roles)]


def state_keys(model: NetModel) -> list[tuple[NetLayer, int, str]]:
    """Every learnable blob as (layer, blob index, state_dict key), in net order
    (a shared blob appears under each layer that uses it, as in ``state_dict``)."""
    keys = []
    for layer, module in zip(model.layers, module_names(model), strict=False):
        for index, name in enumerate(blob_names(layer)):
            keys.append((layer, index, f"{module}.{name}"))
    return keys
