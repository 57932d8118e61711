"""Reading a net definition: the tree, bound to NetParameter, with positions."""

from __future__ import annotations

import os

from ..._proto import caffefill_pb2 as pb
from .binder import _Binder
from .common import SourceNet, read_source
from .tree import parse_tree

# ---------------------------------------------------------------- nets


def read_net(source: str | os.PathLike[str], *, text: str | bytes | None = None,
             strict: bool = False, digest: bool = True) -> SourceNet:
    """Read a prototxt into a :class:`SourceNet` (as written: no upgrade, no filtering).

    ``source`` is the file to read, or only the name to report when ``text``
    is given.  Unknown fields become warnings (ParseError when ``strict``).
    ``digest``: take the SHA-256 of the bytes (``sha256`` stays "" without it:
    the audit, which never reads it, is spared hashlib's import).
    """
    path = os.fspath(source)
    data: str | bytes = read_source(path) if text is None else text
    tree = parse_tree(data, path=path)
    net = SourceNet(path, pb.NetParameter())
    if digest:
        import hashlib

        raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
        net.sha256 = hashlib.sha256(raw).hexdigest()
    for node in tree.fields:
        net.field_positions.setdefault(node.name, []).append(node.position)
    binder = _Binder(path, strict, net.warnings)
    binder.root = net.param
    binder.bind(tree, net.param)
    net.layer_positions = binder.layer_positions["layer"]
    net.legacy_positions = binder.layer_positions["layers"]
    net.filler_blocks = binder.fillers
    return net
