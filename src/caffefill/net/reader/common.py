"""What the text-format reader's parts share: limits, records, the source text.

Kept apart from the lexer, the tree and the binder so that each of them can
import it without an import cycle.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..._proto import caffefill_pb2 as pb
from ...errors import ParseError, one_line
from ...lines import LineIndex, line_start

if TYPE_CHECKING:
    from .tree import Block

#: Deepest nesting of messages accepted (protobuf's own text parser default).
MAX_DEPTH = 100
#: Largest prototxt read (bytes), unless the environment variable
#: CAFFEFILL_MAX_PROTOTXT_BYTES says otherwise (see :func:`max_bytes`).  Net
#: definitions are far smaller (GoogLeNet's is 60 KiB, a 1000-layer ResNet about
#: 1 MiB); the parse tree takes some 70-200 bytes of memory per byte of text, so
#: a file past this would take a minute and gigabytes.
MAX_BYTES = 8 * 2**20
MAX_BYTES_ENV = "CAFFEFILL_MAX_PROTOTXT_BYTES"


def max_bytes() -> int:
    """The prototxt size limit: :data:`MAX_BYTES`, or the environment's setting,
    read as ``--max-memory`` reads a size (``16M``, ``1G``, ``20000000``).
    Junk, an empty value, zero or a negative number is a ParseError: no
    setting turns the limit off."""
    raw = os.environ.get(MAX_BYTES_ENV)
    if raw is None:
        return MAX_BYTES
    from ...memory import parse_size

    try:
        return parse_size(raw)
    except ValueError as exc:
        raise ParseError(f"environment variable {MAX_BYTES_ENV}={one_line(raw)!s}: {exc}"
                         ) from None

Position = tuple[int, int]

# ---------------------------------------------------------------- records


@dataclass
class ReadWarning:
    """Something in the file that was skipped (an unknown field, mostly)."""

    path: str
    line: int
    column: int
    message: str
    hint: str | None = None
    layer: str | None = None
    #: For an unknown field: its name and the message type it was written in.
    field: str | None = None
    message_type: str | None = None
    #: For an unknown field: the field it most likely meant (None: no guess).
    meant: str | None = None

    def __str__(self) -> str:
        """``path:line:column: [layer 'x': ]message[ (hint)]`` (no "warning:" prefix)."""
        layer = f"layer '{self.layer}': " if self.layer is not None else ""
        hint = f" ({self.hint})" if self.hint else ""
        return one_line(f"{self.path}:{self.line}:{self.column}: {layer}{self.message}{hint}")


#: The name the rest of the project uses for :class:`ReadWarning`.
Warning = ReadWarning


@dataclass
class FillerBlock:
    """One filler block written inside a layer.

    ``list_name`` is ``'layer'`` (V2) or ``'layers'`` (V1/V0) and
    ``layer_index`` the entry's index in that list.  ``field_path`` is the
    dotted field path inside the layer (``'convolution_param.weight_filler'``,
    ``'layer.weight_filler'`` for a V0 entry); ``index`` is the entry's index
    when the last field is repeated (``dummy_data_param.data_filler``), else
    None.  ``known`` is False for a block found inside a field the schema does
    not know (it is bound to a FillerParameter all the same).  ``filler`` is a
    copy of the bound message.
    """

    layer_index: int
    list_name: str
    field_path: str
    line: int
    column: int
    filler: pb.FillerParameter
    index: int | None = None
    known: bool = True
    layer_name: str | None = None
    #: The block as written (its fields with their offsets in the text).
    node: Block | None = None


@dataclass
class SourceNet:
    """A NetParameter exactly as written in a file (it may be V0 or V1)."""

    path: str
    param: pb.NetParameter
    warnings: list[ReadWarning] = field(default_factory=list)
    #: (line, column) of each ``layer`` entry, aligned with ``param.layer``.
    layer_positions: list[Position] = field(default_factory=list)
    #: (line, column) of each ``layers`` entry, aligned with ``param.layers``.
    legacy_positions: list[Position] = field(default_factory=list)
    filler_blocks: list[FillerBlock] = field(default_factory=list)
    #: Positions of every top-level field, by field name (``input``, ``input_dim`` ...).
    field_positions: dict[str, list[Position]] = field(default_factory=dict)
    #: SHA-256 (hex) of the bytes read (of the text's UTF-8 when given as text).
    sha256: str = ""


class _Source:
    """The text of one file plus what it takes to turn offsets into lines (made
    the first time a position is asked for: most reads ask for few)."""

    __slots__ = ("_index", "path", "text")

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self._index: LineIndex | None = None

    def position(self, offset: int) -> tuple[int, int]:
        """(line, column) of ``offset``, both 1-based."""
        index = self._index
        if index is None:
            index = self._index = LineIndex(self.text)
        return index.position(offset)

    def error(self, message: str, offset: int) -> ParseError:
        line, column = self.position(offset)
        return ParseError(message + _weights_hint(self.path, ""), path=self.path, line=line,
                          column=column)


def _decode(data: bytes | str, path: str) -> str:
    """Bytes (or text) to str, refusing invalid UTF-8 with the line it is on."""
    if isinstance(data, str):
        try:
            data.encode("utf-8")
        except UnicodeEncodeError as exc:
            line, start = line_start(data, exc.start)
            column = exc.start - start + 1
            raise ParseError("text is not valid UTF-8 (unpaired surrogate)", path=path,
                             line=line, column=column) from exc
        text = data
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line, start = line_start(data, exc.start)
            column = len(data[start:exc.start].decode("utf-8", "replace")) + 1
            raise ParseError(f"invalid UTF-8 (byte 0x{data[exc.start]:02x}) on line {line}"
                             f"{_weights_hint(path)}", path=path, line=line,
                             column=column) from exc
    if text.startswith("\ufeff"):
        text = " " + text[1:]  # a byte-order mark; keep the columns
    return text


def _weights_hint(path: str, otherwise: str = ": not a text prototxt") -> str:
    """What to add to a parse error: a weights file given where the net
    definition goes is the usual mistake when a file will not parse."""
    from ...writers import FORMATS

    if path.lower().endswith((*(e for exts in FORMATS.values() for e in exts), ".npy")):
        return (": this is a weights file, not a net definition (give the .prototxt; "
                "'caffefill diff' compares weight files)")
    return otherwise


def _too_large(size: int, limit: int, path: str) -> ParseError:
    return ParseError(
        f"the file is larger than {limit / 2**20:g} MiB ({size:,} bytes or more), far past "
        f"any net definition (is it a weights file or data?); to read it anyway, set "
        f"{MAX_BYTES_ENV} (e.g. {MAX_BYTES_ENV}=64M)", path=path)


def read_source(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a prototxt (or solver) file, read without trusting it: at most
    :func:`max_bytes` plus one (a larger file, ``/dev/zero`` or an endless pipe is a
    ParseError after that much), never blocking for ever on a pipe."""
    from ...errors import CaffefillError
    from ...inputs import read_bounded

    limit = max_bytes()
    try:
        data = read_bounded(path, limit)
    except CaffefillError as exc:
        raise ParseError(exc.message, path=os.fspath(path)) from None
    if len(data) > limit:
        raise _too_large(len(data), limit, os.fspath(path))
    return data
