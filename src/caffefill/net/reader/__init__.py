"""A protobuf text-format reader that remembers where everything was written.

protobuf's own ``text_format`` gives no per-field positions and stops at the
first unknown field.  This module reads Caffe's prototxt files in three steps:

1. a tokenizer (``#`` comments, identifiers, numbers, quoted strings with C
   escapes, one-character symbols), each token knowing its offset;
2. a schema-free parser that turns the tokens into a tree of :class:`Field`
   nodes (a field name plus a :class:`Scalar` or a :class:`Block` of fields),
   each knowing its offset and turning it into a line and column when asked;
3. a binder that walks the tree against the message descriptors and fills a
   protobuf message, turning unknown fields into :class:`ReadWarning` records
   and everything else that does not fit into a :class:`ParseError` with the
   file, line and column.

The accepted syntax is the one protobuf's C++ ``TextFormat`` parser accepts
(what Caffe itself uses): ``name: value``, ``name { }``, ``name: { }``,
``name < >``, list values ``name: [1, 2]``, optional ``,``/``;`` after a field,
adjacent strings concatenated, integers in decimal/hex/octal, floats such as
``1e-3``, ``.5``, ``1.``, ``5f``, ``inf``, ``-inf`` and ``nan``, booleans
``true``/``True``/``t``/``1`` (and their false forms), enums by name or number.
A singular field given twice is refused, as Caffe's parser refuses it.

Lines and columns are 1-based; columns count characters (a tab is one).

The parts: :mod:`.lexer` (tokens), :mod:`.tree` (the schema-free tree),
:mod:`.binder` (binding to the schema), :mod:`.nets` (:func:`read_net`),
:mod:`.printer` (the C++ ``TextFormat::Print`` output) and :mod:`.common`
(limits, records and the source text they share).
"""

from __future__ import annotations

from .binder import bind_message, parse_message
from .common import (
    MAX_BYTES,
    MAX_BYTES_ENV,
    MAX_DEPTH,
    FillerBlock,
    Position,
    ReadWarning,
    SourceNet,
    Warning,
    max_bytes,
    read_source,
)
from .nets import read_net
from .printer import message_to_text
from .tree import Block, Field, Scalar, parse_tree

__all__ = [
    "MAX_BYTES",
    "MAX_BYTES_ENV",
    "MAX_DEPTH",
    "Block",
    "Field",
    "FillerBlock",
    "Position",
    "ReadWarning",
    "Scalar",
    "SourceNet",
    "Warning",
    "bind_message",
    "max_bytes",
    "message_to_text",
    "parse_message",
    "parse_tree",
    "read_net",
    "read_source",
]

