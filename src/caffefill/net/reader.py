"""A protobuf text-format reader that remembers where everything was written.

protobuf's own ``text_format`` gives no per-field positions and stops at the
first unknown field.  This module reads Caffe's prototxt files in three steps:

1. a tokenizer (``#`` comments, identifiers, numbers, quoted strings with C
   escapes, one-character symbols), each token knowing its line and column;
2. a schema-free parser that turns the tokens into a tree of :class:`Field`
   nodes (a field name plus a :class:`Scalar` or a :class:`Block` of fields);
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
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import re
import string
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from .._proto import caffefill_pb2 as pb
from .._proto import is_repeated
from ..errors import ParseError, one_line
from ..lines import LineIndex, line_start
from ..messages import nearest

__all__ = [
    "MAX_BYTES",
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
    "parse_message",
    "parse_tree",
    "read_net",
    "read_source",
]

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
    from ..memory import parse_size

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


# ---------------------------------------------------------------- tokens

_IDENT, _INT, _FLOAT, _STRING, _SYMBOL, _EOF = "identifier", "integer", "float", "string", \
    "symbol", "end of file"


class _Token(NamedTuple):
    kind: str
    text: str
    offset: int
    value: bytes  # decoded bytes of a string token; b"" otherwise


_WS_OR_COMMENT = re.compile(r"(?:[ \t\r\n\v\f]+|#[^\n]*)+")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEX_RE = re.compile(r"0[xX][0-9A-Fa-f]*")
_OCTAL_RE = re.compile(r"0[0-9]+")
_DECIMAL_RE = re.compile(
    r"(?:[0-9]+(?P<dot>\.[0-9]*)?|\.[0-9]+)(?P<exp>[eE][+-]?[0-9]*)?(?P<f>[fF])?")
_SIMPLE_ESCAPES = {
    "a": b"\a", "b": b"\b", "f": b"\f", "n": b"\n", "r": b"\r", "t": b"\t", "v": b"\v",
    "\\": b"\\", "?": b"?", "'": b"'", '"': b'"',
}
_STRING_PIECE = re.compile(r"[^\\\n]+|\\(?:[0-7]{1,3}|x[0-9A-Fa-f]{1,2}|u[0-9A-Fa-f]{4}|"
                           r"U[0-9A-Fa-f]{8}|.)?", re.DOTALL)


class _Source(LineIndex):
    """The text of one file plus what it takes to turn offsets into lines."""

    def __init__(self, text: str, path: str) -> None:
        super().__init__(text)
        self.text = text
        self.path = path

    def error(self, message: str, offset: int) -> ParseError:
        line, column = self.position(offset)
        return ParseError(message + _weights_hint(self.path, ""), path=self.path, line=line,
                          column=column)


def _describe(token: _Token) -> str:
    """A token as an error message shows it."""
    if token.kind == _EOF:
        return "end of file"
    text = token.text if len(token.text) <= 40 else token.text[:37] + "..."
    return f"'{text}'" if token.kind != _STRING else text


def _tokens(src: _Source) -> Iterator[_Token]:
    """The tokens of ``src``, made one at a time as the parser asks (so a broken
    file is refused at its first error without tokenizing the rest, and the
    tokens are never all held at once)."""
    text = src.text
    size = len(text)
    pos = 0
    while True:
        match = _WS_OR_COMMENT.match(text, pos)
        if match:
            pos = match.end()
        if pos >= size:
            break
        char = text[pos]
        if char.isascii() and (char.isalpha() or char == "_"):
            match = _IDENT_RE.match(text, pos)
            assert match is not None
            yield _Token(_IDENT, match.group(), pos, b"")
            pos = match.end()
        elif "0" <= char <= "9" or (
                char == "." and pos + 1 < size and "0" <= text[pos + 1] <= "9"):
            token = _number(src, pos)
            yield token
            pos += len(token.text)
        elif char in "\"'":
            token = _string(src, pos)
            yield token
            pos += len(token.text)
        elif char in string.punctuation:
            yield _Token(_SYMBOL, char, pos, b"")
            pos += 1
        else:
            shown = repr(char) if char.isprintable() else f"U+{ord(char):04X}"
            raise src.error(f"unexpected character {shown}", pos)
    yield _Token(_EOF, "", size, b"")


def _number(src: _Source, pos: int) -> _Token:
    text = src.text
    kind = _INT
    match = _HEX_RE.match(text, pos)
    if match:
        if match.end() - pos == 2:
            raise src.error("'0x' must be followed by hex digits", pos)
    else:
        match = _OCTAL_RE.match(text, pos)
        if match:
            if any(c in "89" for c in match.group()):
                raise src.error("a number starting with 0 must be octal (digits 0-7 only)", pos)
        else:
            match = _DECIMAL_RE.match(text, pos)
            assert match is not None
            exp = match.group("exp")
            if exp is not None and not exp[-1].isdigit():
                raise src.error("'e' must be followed by an exponent", pos)
            if match.group("dot") is not None or text[pos] == "." or exp or match.group("f"):
                kind = _FLOAT
    end = match.end()
    if end < len(text):
        follow = text[end]
        if follow.isascii() and (follow.isalnum() or follow == "_"):
            raise src.error(f"need a space between number '{text[pos:end]}' and "
                            f"'{follow}'", end)
        if follow == ".":
            raise src.error(
                "a number cannot have a second decimal point or exponent" if kind == _FLOAT
                else "hex and octal numbers must be integers", end)
    return _Token(kind, text[pos:end], pos, b"")


def _string(src: _Source, pos: int) -> _Token:
    text = src.text
    quote = text[pos]
    out = bytearray()
    i = pos + 1
    size = len(text)
    high_surrogate: int | None = None
    while True:
        if i >= size:
            raise src.error("string literal is not closed before the end of the file", pos)
        char = text[i]
        if char == quote:
            i += 1
            break
        if char == "\n":
            raise src.error("string literal is not closed before the end of the line", pos)
        if char != "\\":
            # Copy the run of ordinary characters up to the next quote/escape/newline.
            j = i
            while j < size and text[j] not in (quote, "\\", "\n"):
                j += 1
            if high_surrogate is not None:
                raise src.error("unpaired \\u surrogate in string literal", i)
            try:
                out += text[i:j].encode("utf-8")
            except UnicodeEncodeError as exc:
                raise src.error("string literal is not valid UTF-8", i) from exc
            i = j
            continue
        match = _STRING_PIECE.match(text, i)
        assert match is not None
        esc = match.group()
        body = esc[1:]
        code_point: int | None = None
        if not body or body == "\n":
            raise src.error("string literal is not closed before the end of the line "
                            "(a backslash cannot continue it)", i)
        if body[0] in "01234567":
            out.append(int(body, 8) & 0xFF)
        elif body[0] == "x":
            if len(body) == 1:
                raise src.error("'\\x' must be followed by hex digits", i)
            out.append(int(body[1:], 16))
        elif body[0] in "uU" and len(body) > 1:
            code_point = int(body[1:], 16)
        elif body in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[body]
        elif body[0] in "uU":
            raise src.error(f"'\\{body[0]}' must be followed by "
                            f"{4 if body[0] == 'u' else 8} hex digits", i)
        else:
            shown = body if body.isprintable() else f"U+{ord(body):04X}"
            raise src.error(f"invalid escape sequence '\\{shown}' in string literal", i)
        if code_point is not None:
            if 0xD800 <= code_point < 0xDC00 and high_surrogate is None:
                high_surrogate = code_point
                i = match.end()
                continue
            if 0xDC00 <= code_point < 0xE000 and high_surrogate is not None:
                code_point = 0x10000 + ((high_surrogate - 0xD800) << 10) + (code_point - 0xDC00)
                high_surrogate = None
            elif 0xD800 <= code_point < 0xE000 or code_point > 0x10FFFF or \
                    high_surrogate is not None:
                raise src.error(f"invalid Unicode escape '{esc}' in string literal", i)
            out += chr(code_point).encode("utf-8")
        elif high_surrogate is not None:
            raise src.error("unpaired \\u surrogate in string literal", i)
        i = match.end()
    if high_surrogate is not None:
        raise src.error("unpaired \\u surrogate in string literal", i - 1)
    return _Token(_STRING, text[pos:i], pos, bytes(out))


# ---------------------------------------------------------------- the tree


@dataclass
class Scalar:
    """One scalar value: ``kind`` is 'string', 'identifier', 'integer' or 'float'.

    ``text`` is the token as written (for strings: the quoted source of the
    first piece); ``data`` the decoded bytes of a string (pieces joined);
    ``negative`` is True when a ``-`` came first.
    """

    kind: str
    text: str
    line: int
    column: int
    negative: bool = False
    data: bytes = b""
    #: Offsets in the text of the value's first character (its ``-``) and past its last.
    offset: int = -1
    end: int = -1

    def shown(self) -> str:
        """The value as written, for error messages."""
        text = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        return ("-" if self.negative else "") + text


@dataclass
class Block:
    """A message value: ``{ ... }`` or ``< ... >`` and the fields inside it."""

    fields: list[Field]
    line: int
    column: int


@dataclass
class Field:
    """One field as written: ``name: value``, ``name { ... }`` or one list element.

    ``value`` is None for an empty list ``name: []``.  ``colon`` tells whether
    a ``:`` followed the name; ``in_list`` whether the value came from list
    syntax (``list_index`` is then its index in the list; the position is the
    element's); ``extension`` whether the name was written in brackets.
    """

    name: str
    line: int
    column: int
    value: Scalar | Block | None
    colon: bool = True
    in_list: bool = False
    extension: bool = False
    list_index: int = 0
    #: Offsets in the text of the field's name and past its value (a block's
    #: closing brace); -1 for list syntax.
    start: int = -1
    end: int = -1


class _Frame:
    """One open block (or list) during the iterative parse."""

    __slots__ = ("block", "closer", "count", "expect_element", "field", "is_list",
                 "list_field", "open_offset")

    def __init__(self, block: Block, closer: str, open_offset: int, *,
                 list_field: Field | None = None, field: Field | None = None) -> None:
        self.block = block
        self.field = field
        self.closer = closer
        self.open_offset = open_offset
        self.is_list = list_field is not None
        self.list_field = list_field
        self.expect_element = True
        self.count = 0


class _Parser:
    """Tokens to a tree of Field nodes, iteratively (no recursion at all)."""

    def __init__(self, src: _Source, max_depth: int) -> None:
        self.src = src
        self.stream = _tokens(src)
        self.current = next(self.stream)
        self.max_depth = max_depth

    # token helpers
    def peek(self) -> _Token:
        return self.current

    def next(self) -> _Token:
        token = self.current
        if token.kind != _EOF:
            self.current = next(self.stream)
        return token

    def at_symbol(self, *symbols: str) -> bool:
        token = self.current
        return token.kind == _SYMBOL and token.text in symbols

    def error(self, message: str, token: _Token) -> ParseError:
        return self.src.error(message, token.offset)

    def parse(self) -> Block:
        root = Block([], 1, 1)
        stack = [_Frame(root, "", 0)]
        depth = 0
        while True:
            frame = stack[-1]
            if frame.is_list:
                if self._list_step(frame, stack, depth):
                    depth += 1
                continue
            token = self.peek()
            if token.kind == _EOF or (token.kind == _SYMBOL and token.text in "}>"):
                if frame.closer == "":
                    if token.kind == _EOF:
                        return root
                    raise self.error(f"unexpected {_describe(token)}: no block is open here",
                                     token)
                if token.kind == _EOF:
                    line, column = self.src.position(frame.open_offset)
                    raise self.error(f"end of file inside the block opened at line {line}, "
                                     f"column {column}: expected '{frame.closer}'", token)
                if token.text != frame.closer:
                    raise self.error(f"expected '{frame.closer}', found '{token.text}'", token)
                self.next()
                closed = stack.pop()
                if closed.field is not None:
                    closed.field.end = token.offset + 1
                depth -= 1
                if not stack[-1].is_list:
                    self._separator()
                continue
            if self._field(frame, stack, depth):
                depth += 1

    def _separator(self) -> None:
        if self.at_symbol(";", ","):
            self.next()

    def _open_block(self, stack: list[_Frame], depth: int, target: Block,
                    name_token: _Token, *, colon: bool, in_list: bool,
                    extension: bool, name: str, list_index: int = 0) -> None:
        opener = self.next()
        if depth + 1 > self.max_depth:
            raise self.error(f"messages nested deeper than {self.max_depth} levels", opener)
        line, column = self.src.position(opener.offset)
        block = Block([], line, column)
        fline, fcolumn = self.src.position(name_token.offset)
        node = Field(name, fline, fcolumn, block, colon, in_list, extension, list_index,
                     -1 if in_list else name_token.offset)
        target.fields.append(node)
        stack.append(_Frame(block, "}" if opener.text == "{" else ">", opener.offset,
                            field=None if in_list else node))

    def _field(self, frame: _Frame, stack: list[_Frame], depth: int) -> bool:
        """Parse one field of a block; True when a nested block was opened."""
        name_token = self.next()
        extension = False
        if name_token.kind == _IDENT:
            name = name_token.text
        elif name_token.kind == _SYMBOL and name_token.text == "[":
            name = self._extension_name(name_token)
            extension = True
        else:
            raise self.error(f"expected a field name, found {_describe(name_token)}", name_token)
        colon = self.at_symbol(":")
        if colon:
            self.next()
        if self.at_symbol("{", "<"):
            self._open_block(stack, depth, frame.block, name_token, colon=colon,
                             in_list=False, extension=extension, name=name)
            return True
        line, column = self.src.position(name_token.offset)
        if self.at_symbol("["):
            open_token = self.next()
            list_field = Field(name, line, column, None, colon, True, extension)
            if self.at_symbol("]"):
                self.next()
                frame.block.fields.append(list_field)
                self._separator()
                return False
            stack.append(_Frame(frame.block, "]", open_token.offset, list_field=list_field))
            return False
        if not colon:
            raise self.error(f"expected ':' or '{{' after field name '{name}', found "
                             f"{_describe(self.peek())}", self.peek())
        value = self._scalar(name)
        frame.block.fields.append(Field(name, line, column, value, True, False, extension,
                                        start=name_token.offset, end=value.end))
        self._separator()
        return False

    def _list_step(self, frame: _Frame, stack: list[_Frame], depth: int) -> bool:
        """One step inside ``[ ... ]``; True when a nested block was opened."""
        list_field = frame.list_field
        assert list_field is not None
        if frame.expect_element:
            frame.expect_element = False
            token = self.peek()
            frame.count += 1
            if token.kind == _SYMBOL and token.text in "{<":
                # A list element's position is its opening brace.
                self._open_block(stack, depth, frame.block, token, colon=list_field.colon,
                                 in_list=True, extension=list_field.extension,
                                 name=list_field.name, list_index=frame.count - 1)
                return True
            value = self._scalar(list_field.name)
            frame.block.fields.append(Field(list_field.name, value.line, value.column, value,
                                            list_field.colon, True, list_field.extension,
                                            frame.count - 1))
            return False
        token = self.next()
        if token.kind == _SYMBOL and token.text == ",":
            frame.expect_element = True
            return False
        if token.kind == _SYMBOL and token.text == "]":
            stack.pop()
            self._separator()
            return False
        if token.kind == _EOF:
            line, column = self.src.position(frame.open_offset)
            raise self.error(f"end of file inside the list opened at line {line}, "
                             f"column {column}: expected ']'", token)
        raise self.error(f"expected ',' or ']' in the list of '{list_field.name}', found "
                         f"{_describe(token)}", token)

    def _extension_name(self, open_token: _Token) -> str:
        parts: list[str] = []
        while True:
            token = self.next()
            want_name = not parts or parts[-1] in "./"
            if token.kind == _SYMBOL and token.text == "]" and parts and not want_name:
                break
            if token.kind == _IDENT and want_name:
                parts.append(token.text)
                continue
            if token.kind == _SYMBOL and token.text in "./" and not want_name:
                parts.append(token.text)
                continue
            if not parts and token.kind == _SYMBOL and token.text == "]":
                raise self.error("empty extension name '[]'", open_token)
            raise self.error(f"expected an extension name and ']', found {_describe(token)}",
                             token)
        return "[" + "".join(parts) + "]"

    def _scalar(self, name: str) -> Scalar:
        token = self.next()
        line, column = self.src.position(token.offset)
        start = token.offset
        if token.kind == _STRING:
            data = bytearray(token.value)
            last = token
            while self.peek().kind == _STRING:
                last = self.next()
                data += last.value
            return Scalar("string", token.text, line, column, False, bytes(data), start,
                          last.offset + len(last.text))
        negative = False
        if token.kind == _SYMBOL and token.text == "-":
            negative = True
            token = self.next()
            if token.kind not in (_INT, _FLOAT, _IDENT):
                raise self.error(f"expected a number after '-' for field '{name}', found "
                                 f"{_describe(token)}", token)
        if token.kind in (_INT, _FLOAT, _IDENT):
            return Scalar(token.kind, token.text, line, column, negative, b"", start,
                          token.offset + len(token.text))
        raise self.error(f"expected a value for field '{name}', found {_describe(token)}",
                         token)


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
    from ..writers import FORMATS

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
    from ..errors import CaffefillError
    from ..inputs import read_bounded

    limit = max_bytes()
    try:
        data = read_bounded(path, limit)
    except CaffefillError as exc:
        raise ParseError(exc.message, path=os.fspath(path)) from None
    if len(data) > limit:
        raise _too_large(len(data), limit, os.fspath(path))
    return data


def parse_tree(text: str | bytes, *, path: str = "<text>",
               max_depth: int = MAX_DEPTH) -> Block:
    """Parse text-format source into a schema-free tree (the root Block)."""
    limit = max_bytes()
    if len(text) > limit:
        raise _too_large(len(text), limit, path)
    src = _Source(_decode(text, path), path)
    return _Parser(src, max_depth).parse()


# ---------------------------------------------------------------- the binder

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(1 << 31), (1 << 31) - 1),
    FieldDescriptor.TYPE_SINT32: (-(1 << 31), (1 << 31) - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(1 << 31), (1 << 31) - 1),
    FieldDescriptor.TYPE_UINT32: (0, (1 << 32) - 1),
    FieldDescriptor.TYPE_FIXED32: (0, (1 << 32) - 1),
    FieldDescriptor.TYPE_INT64: (-(1 << 63), (1 << 63) - 1),
    FieldDescriptor.TYPE_SINT64: (-(1 << 63), (1 << 63) - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(1 << 63), (1 << 63) - 1),
    FieldDescriptor.TYPE_UINT64: (0, (1 << 64) - 1),
    FieldDescriptor.TYPE_FIXED64: (0, (1 << 64) - 1),
}
_TYPE_NAMES = {
    FieldDescriptor.TYPE_INT32: "int32", FieldDescriptor.TYPE_SINT32: "sint32",
    FieldDescriptor.TYPE_SFIXED32: "sfixed32", FieldDescriptor.TYPE_UINT32: "uint32",
    FieldDescriptor.TYPE_FIXED32: "fixed32", FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_SINT64: "sint64", FieldDescriptor.TYPE_SFIXED64: "sfixed64",
    FieldDescriptor.TYPE_UINT64: "uint64", FieldDescriptor.TYPE_FIXED64: "fixed64",
    FieldDescriptor.TYPE_FLOAT: "float", FieldDescriptor.TYPE_DOUBLE: "double",
    FieldDescriptor.TYPE_BOOL: "bool", FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_BYTES: "bytes",
}
_FLT_MAX = struct.unpack("<f", b"\xff\xff\x7f\x7f")[0]
_FLT_MAX_ROUNDED = 3.4028235677973366e38
_TRUE = frozenset(("true", "True", "t"))
_FALSE = frozenset(("false", "False", "f"))
_FILLER_NAME = pb.FillerParameter.DESCRIPTOR.full_name

ScalarValue = int | float | bool | str | bytes


_LEGACY_HINTS = {
    "blobs_lr": "a V1 field: in a 'layer', write param { lr_mult: ... } once per blob",
    "weight_decay": "a V1 field: in a 'layer', write param { decay_mult: ... } once per blob",
}


def _type_name(fd: FieldDescriptor) -> str:
    if fd.type == FieldDescriptor.TYPE_ENUM:
        return f"enum {fd.enum_type.name}"
    if fd.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
        return f"message {fd.message_type.name}"
    return _TYPE_NAMES.get(fd.type, "value")


def _suggest(name: str, choices: list[str]) -> str | None:
    close = nearest(name, choices)
    if close is not None:
        return close
    # A known name inside a longer one (``weight_std`` for ``std``), when only one fits.
    parts = set(name.lower().split("_"))
    inside = [c for c in choices if c.lower() in parts or ("_" in c and c.lower() in name.lower())]
    return inside[0] if len(inside) == 1 else None


@functools.lru_cache(maxsize=4096)
def _suggest_field(name: str, descriptor: Descriptor) -> str | None:
    """The field of ``descriptor`` an unknown ``name`` probably meant (cached: a file
    can repeat one unknown field thousands of times, and difflib is slow)."""
    return _suggest(name, list(descriptor.fields_by_name))


def _parse_int_text(text: str) -> int | None:
    """An integer token's value (hex, octal or decimal); None when absurdly long."""
    if len(text) > 64:
        return None
    if text[:2] in ("0x", "0X"):
        return int(text[2:], 16)
    if len(text) > 1 and text[0] == "0":
        return int(text[1:], 8)
    return int(text)


def _to_float32(value: float) -> float:
    """What protobuf's C++ parser stores in a float field (SafeDoubleToFloat)."""
    if math.isnan(value) or math.isinf(value):
        return value
    if abs(value) > _FLT_MAX:
        # Values that still round to the largest float (up to the midpoint
        # 0x1.ffffffp127) give it; larger ones give infinity.
        limit = _FLT_MAX if abs(value) <= _FLT_MAX_ROUNDED else math.inf
        return limit if value > 0 else -limit
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


@dataclass
class _LayerContext:
    list_name: str
    index: int
    name: str | None


class _Binder:
    """Walks a tree against message descriptors and fills a message."""

    def __init__(self, path: str, strict: bool, warnings: list[ReadWarning]) -> None:
        self.path = path
        self.strict = strict
        self.warnings = warnings
        self.fillers: list[FillerBlock] = []
        self.layer: _LayerContext | None = None
        self.field_path: list[str] = []
        # When set: the NetParameter being read, whose layer entries are tracked.
        self.root: Message | None = None
        self.layer_positions: dict[str, list[Position]] = {"layer": [], "layers": []}

    # errors and warnings
    def error(self, message: str, line: int, column: int) -> ParseError:
        return ParseError(message, path=self.path, line=line, column=column,
                          layer=self.layer.name if self.layer else None)

    def unknown(self, node: Field, descriptor: Descriptor) -> None:
        what = "extension" if node.extension else "field"
        message = f"unknown {what} '{node.name}' in {descriptor.name}"
        hint = _LEGACY_HINTS.get(node.name) if descriptor.name == "LayerParameter" else None
        guess = None
        if hint is None and not node.extension:
            guess = _suggest_field(node.name, descriptor)
            hint = f"did you mean '{guess}'?" if guess else None
        if self.strict:
            raise self.error(message + (f" ({hint})" if hint else ""), node.line, node.column)
        self.warnings.append(ReadWarning(self.path, node.line, node.column, message, hint,
                                         self.layer.name if self.layer else None,
                                         node.name, descriptor.name, guess))

    # binding
    def bind(self, block: Block, message: Message) -> None:
        descriptor = message.DESCRIPTOR
        seen: dict[str, Field] = {}
        oneofs: dict[str, Field] = {}
        for node in block.fields:
            fd = None if node.extension else descriptor.fields_by_name.get(node.name)
            if fd is None:
                if node.list_index == 0:  # one warning per list
                    self.unknown(node, descriptor)
                if self.layer is not None:
                    self._scan_unknown(node)
                continue
            repeated = is_repeated(fd)
            if node.in_list and not repeated:
                raise self.error(f"field '{node.name}' of {descriptor.name} is not repeated; "
                                 f"a list [ ... ] is not allowed", node.line, node.column)
            if not repeated:
                first = seen.setdefault(node.name, node)
                if first is not node:
                    raise self.error(
                        f"non-repeated field '{node.name}' of {descriptor.name} is given "
                        f"more than once (first at line {first.line}, column {first.column})",
                        node.line, node.column)
                oneof = fd.containing_oneof
                if oneof is not None:
                    other = oneofs.setdefault(oneof.name, node)
                    if other is not node:
                        raise self.error(
                            f"field '{node.name}' and field '{other.name}' (line "
                            f"{other.line}) are both in oneof '{oneof.name}'",
                            node.line, node.column)
            if node.value is None:
                continue  # an empty list
            if fd.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
                self._bind_message_field(node, fd, message, repeated)
            else:
                self._bind_scalar_field(node, fd, message, repeated)

    def _bind_message_field(self, node: Field, fd: FieldDescriptor, message: Message,
                            repeated: bool) -> None:
        value = node.value
        if not isinstance(value, Block):
            assert isinstance(value, Scalar)
            raise self.error(f"field '{node.name}' is a {_type_name(fd)}: expected '{{', "
                             f"found '{value.shown()}'", value.line, value.column)
        container = getattr(message, fd.name)
        if repeated:
            sub = container.add()
            index: int | None = len(container) - 1
        else:
            sub = container
            sub.SetInParent()
            index = None
        if message is self.root and fd.name in self.layer_positions:
            assert index is not None
            self.layer = _LayerContext(fd.name, index, _layer_name(value))
            try:
                self.bind(value, sub)
            finally:
                self.layer = None
            self.layer_positions[fd.name].append((node.line, node.column))
            return
        self.field_path.append(fd.name)
        try:
            self.bind(value, sub)
        finally:
            self.field_path.pop()
        if self.layer is not None and fd.message_type.full_name == _FILLER_NAME:
            filler = pb.FillerParameter()
            filler.CopyFrom(sub)
            self._record_filler(node, filler, index, known=True)

    def _record_filler(self, node: Field, filler: pb.FillerParameter, index: int | None,
                       *, known: bool) -> None:
        assert self.layer is not None
        path = ".".join([*self.field_path, node.name])
        self.fillers.append(FillerBlock(self.layer.index, self.layer.list_name, path,
                                        node.line, node.column, filler, index, known,
                                        self.layer.name,
                                        node.value if isinstance(node.value, Block) else None))

    def _scan_unknown(self, node: Field) -> None:
        """Record ``node`` if it looks like a filler block, else look inside it."""
        value = node.value
        if not isinstance(value, Block) or node.extension:
            return
        if node.name.endswith("filler"):
            filler = pb.FillerParameter()
            inner = _Binder(self.path, False, [])
            inner.layer = self.layer
            try:
                inner.bind(value, filler)
            except ParseError as exc:
                self.warnings.append(ReadWarning(
                    self.path, node.line, node.column,
                    f"filler block '{node.name}' inside an unknown field could not be read: "
                    f"{exc.message}", None, self.layer.name if self.layer else None))
                return
            self.warnings.extend(inner.warnings)
            self._record_filler(node, filler, None, known=False)
            return
        self.field_path.append(node.name)
        try:
            for child in value.fields:
                self._scan_unknown(child)
        finally:
            self.field_path.pop()

    def _bind_scalar_field(self, node: Field, fd: FieldDescriptor, message: Message,
                           repeated: bool) -> None:
        value = node.value
        if isinstance(value, Block):
            raise self.error(f"field '{node.name}' is a {_type_name(fd)}, not a message",
                             value.line, value.column)
        assert isinstance(value, Scalar)
        if not node.colon:
            raise self.error(f"expected ':' after field name '{node.name}'", node.line,
                             node.column)
        converted = self.convert(value, fd)
        if repeated:
            getattr(message, fd.name).append(converted)
        else:
            setattr(message, fd.name, converted)

    def convert(self, value: Scalar, fd: FieldDescriptor) -> ScalarValue:
        """One scalar token to the Python value of field ``fd``."""
        kind = fd.type
        where = (value.line, value.column)
        expected = f"for field '{fd.name}' ({_type_name(fd)})"
        if kind in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
            if value.kind != "string":
                raise self.error(f"expected a quoted string {expected}, found "
                                 f"'{value.shown()}'", *where)
            if kind == FieldDescriptor.TYPE_BYTES:
                return value.data
            try:
                return value.data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise self.error(f"string {expected} is not valid UTF-8", *where) from exc
        if value.kind == "string":
            raise self.error(f"expected {self._expectation(fd)} {expected}, found a string "
                             f"{value.shown()}", *where)
        if kind in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
            number = self._float(value, expected)
            return _to_float32(number) if kind == FieldDescriptor.TYPE_FLOAT else number
        if kind == FieldDescriptor.TYPE_BOOL:
            if value.kind == "identifier" and not value.negative:
                if value.text in _TRUE:
                    return True
                if value.text in _FALSE:
                    return False
            elif value.kind == "integer" and not value.negative:
                flag = _parse_int_text(value.text)
                if flag in (0, 1):
                    return bool(flag)
            raise self.error(f"expected true or false {expected}, found '{value.shown()}'",
                             *where)
        if kind == FieldDescriptor.TYPE_ENUM:
            return self._enum(value, fd, expected)
        if kind in _INT_RANGES:
            if value.kind != "integer":
                raise self.error(f"expected an integer {expected}, found '{value.shown()}'",
                                 *where)
            low, high = _INT_RANGES[kind]
            if value.negative and low == 0:
                raise self.error(f"expected a non-negative integer {expected}, found "
                                 f"'{value.shown()}'", *where)
            integer = _parse_int_text(value.text)
            if integer is not None and value.negative:
                integer = -integer
            if integer is None or not low <= integer <= high:
                raise self.error(f"integer '{value.shown()}' is out of range {expected}: "
                                 f"{low}..{high}", *where)
            return integer
        raise self.error(f"field type of '{fd.name}' is not supported", *where)

    @staticmethod
    def _expectation(fd: FieldDescriptor) -> str:
        if fd.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
            return "a number"
        if fd.type == FieldDescriptor.TYPE_BOOL:
            return "true or false"
        if fd.type == FieldDescriptor.TYPE_ENUM:
            return "an enum name"
        return "an integer"

    def _float(self, value: Scalar, expected: str) -> float:
        where = (value.line, value.column)
        text = value.text
        if value.kind == "float":
            number = float(text[:-1] if text[-1] in "fF" else text)
        elif value.kind == "integer":
            if text[:2] in ("0x", "0X") or (len(text) > 1 and text[0] == "0"):
                raise self.error(f"expected a decimal number {expected}, found '{text}'",
                                 *where)
            number = float(text)
        else:
            lowered = text.lower()
            if lowered in ("inf", "infinity"):
                number = math.inf
            elif lowered == "nan":
                number = math.nan
            else:
                raise self.error(f"expected a number {expected}, found '{value.shown()}'",
                                 *where)
        return -number if value.negative else number

    def _enum(self, value: Scalar, fd: FieldDescriptor, expected: str) -> int:
        enum = fd.enum_type
        names = [v.name for v in enum.values]
        choices = ", ".join(names) if len(names) <= 12 else ", ".join(names[:12]) + ", ..."
        where = (value.line, value.column)
        if value.kind == "identifier" and not value.negative:
            found = enum.values_by_name.get(value.text)
            if found is not None:
                return int(found.number)
            guess = _suggest(value.text, names)
            hint = f"; did you mean {guess}?" if guess else ""
            raise self.error(f"unknown value '{value.text}' {expected}; expected one of "
                             f"{choices}{hint}", *where)
        if value.kind == "integer":
            number = _parse_int_text(value.text)
            if number is not None:
                number = -number if value.negative else number
                # Enum values are int32; upb's values_by_number would truncate a wider
                # key (4294967296 would find value 0).
                known = {v.number for v in enum.values}
                if -(1 << 31) <= number < (1 << 31) and number in known:
                    return int(number)
            raise self.error(f"unknown value '{value.shown()}' {expected}; expected one of "
                             f"{choices}", *where)
        raise self.error(f"expected an enum name {expected} (one of {choices}), found "
                         f"'{value.shown()}'", *where)


def bind_message(tree: Block, message: Message, *, path: str = "<text>",
                 strict: bool = False) -> list[ReadWarning]:
    """Fill ``message`` (merging) from a parsed tree; returns the warnings."""
    warnings: list[ReadWarning] = []
    _Binder(path, strict, warnings).bind(tree, message)
    return warnings


def parse_message(text: str | bytes, message: Message, *, path: str = "<text>",
                  strict: bool = False) -> list[ReadWarning]:
    """Parse text-format ``text`` into ``message`` (cleared first).

    Returns the warnings (unknown fields that were skipped); raises ParseError
    on anything else that does not fit, or on unknown fields when ``strict``.
    """
    tree = parse_tree(text, path=path)
    message.Clear()
    return bind_message(tree, message, path=path, strict=strict)


# ---------------------------------------------------------------- nets


def _layer_name(block: Block) -> str | None:
    """The layer's ``name`` as written (also a V0 entry's inner ``layer { name }``)."""
    for node in block.fields:
        if node.name == "name" and isinstance(node.value, Scalar) and \
                node.value.kind == "string":
            return node.value.data.decode("utf-8", "replace")
    for node in block.fields:
        if node.name == "layer" and isinstance(node.value, Block):
            return _layer_name(node.value)
    return None


def read_net(source: str | os.PathLike[str], *, text: str | bytes | None = None,
             strict: bool = False) -> SourceNet:
    """Read a prototxt into a :class:`SourceNet` (as written: no upgrade, no filtering).

    ``source`` is the file to read, or only the name to report when ``text``
    is given.  Unknown fields become warnings (ParseError when ``strict``).
    """
    path = os.fspath(source)
    data: str | bytes = read_source(path) if text is None else text
    tree = parse_tree(data, path=path)
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    net = SourceNet(path, pb.NetParameter(), sha256=hashlib.sha256(raw).hexdigest())
    for node in tree.fields:
        net.field_positions.setdefault(node.name, []).append((node.line, node.column))
    binder = _Binder(path, strict, net.warnings)
    binder.root = net.param
    binder.bind(tree, net.param)
    net.layer_positions = binder.layer_positions["layer"]
    net.legacy_positions = binder.layer_positions["layers"]
    net.filler_blocks = binder.fillers
    return net
