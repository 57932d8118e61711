"""Tokens to a schema-free tree of fields, each knowing where it was written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .common import MAX_DEPTH, _decode, _Source, _too_large, max_bytes
from .lexer import (
    _EOF,
    _FIELD_BLOCK,
    _FIELD_COLON_BLOCK,
    _FIELD_VALUE,
    _FLOAT,
    _IDENT,
    _INT,
    _STRING,
    _SYMBOL,
    Token,
    _describe,
    _scan,
)

# ---------------------------------------------------------------- the tree


class _Placed:
    """A node that knows its offset in the text and turns it into a line and a
    column only when asked (most nodes are never asked)."""

    __slots__ = ()
    source: _Source
    offset: int

    @property
    def position(self) -> tuple[int, int]:
        """(line, column) of the node, both 1-based."""
        return self.source.position(self.offset)

    @property
    def line(self) -> int:
        """1-based line of the node."""
        return self.source.position(self.offset)[0]

    @property
    def column(self) -> int:
        """1-based column of the node (characters; a tab is one)."""
        return self.source.position(self.offset)[1]


@dataclass(slots=True)
class Scalar(_Placed):
    """One scalar value: ``kind`` is 'string', 'identifier', 'integer' or 'float'.

    ``text`` is the token as written (for strings: the quoted source of the
    first piece); ``data`` the decoded bytes of a string (pieces joined);
    ``negative`` is True when a ``-`` came first.  Its position is its first
    character's (the ``-``).
    """

    kind: str
    text: str
    source: _Source = field(repr=False, compare=False)
    #: Offsets in the text of the value's first character (its ``-``) and past its last.
    offset: int
    end: int
    negative: bool = False
    data: bytes = b""

    def shown(self) -> str:
        """The value as written, for error messages."""
        text = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        return ("-" if self.negative else "") + text


@dataclass(slots=True)
class Block(_Placed):
    """A message value: ``{ ... }`` or ``< ... >`` and the fields inside it."""

    fields: list[Field]
    source: _Source = field(repr=False, compare=False)
    #: Offset of the opening brace (0 for the root).
    offset: int = 0


@dataclass(slots=True)
class Field(_Placed):
    """One field as written: ``name: value``, ``name { ... }`` or one list element.

    ``value`` is None for an empty list ``name: []``.  ``colon`` tells whether
    a ``:`` followed the name; ``in_list`` whether the value came from list
    syntax (``list_index`` is then its index in the list; the position is the
    element's); ``extension`` whether the name was written in brackets.
    """

    name: str
    source: _Source = field(repr=False, compare=False)
    #: Offset of the field's position: its name, or a list element's value.
    offset: int
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

    __slots__ = ("closer", "count", "expect_element", "field", "fields", "is_list",
                 "list_field", "open_offset")

    def __init__(self, fields: list[Field], closer: str, open_offset: int,
                 list_field: Field | None = None, node: Field | None = None) -> None:
        self.fields = fields
        self.field = node
        self.closer = closer
        self.open_offset = open_offset
        self.is_list = list_field is not None
        self.list_field = list_field
        self.expect_element = True
        self.count = 0


def _parse(src: _Source, max_depth: int) -> Block:
    """Tokens to a tree of Field nodes, iteratively (no recursion at all).

    One loop with the current token in local variables: this runs once per
    token of every file read, so it makes no call per token other than the
    tokenizer's.  A token is taken (``advance``) exactly where a tokenizer
    error must surface: a malformed token is refused when the token before it
    is consumed, as protobuf's C++ parser does.  Where a field may start, the
    next token is taken with ``send(True)`` instead, which gives a whole
    ``name: value`` or ``name {`` as one token when one is there.
    """
    held: list[Token] = [(_EOF, "", 0, b"")]
    scan = _scan(src, held)
    advance, send = scan.__next__, scan.send
    ident, symbol, string_, eof = _IDENT, _SYMBOL, _STRING, _EOF
    field_value, field_block, field_colon_block = _FIELD_VALUE, _FIELD_BLOCK, _FIELD_COLON_BLOCK
    values = (_INT, _FLOAT, _IDENT)


    root = Block([], src, 0)
    stack = [_Frame(root.fields, "", 0)]
    frame = stack[0]
    depth = 0
    token = advance()
    while True:
        kind, text, offset, data = token
        if frame.is_list:
            list_field = frame.list_field
            assert list_field is not None
            if not frame.expect_element:
                taken = token
                token = advance()
                if kind is symbol and text == ",":
                    frame.expect_element = True
                    continue
                if kind is symbol and text == "]":
                    stack.pop()
                    frame = stack[-1]
                    kind, text = token[0], token[1]
                    if kind is symbol and (text == ";" or text == ","):
                        token = send(True)
                    continue
                if kind is eof:
                    line, column = src.position(frame.open_offset)
                    raise src.error(f"end of file inside the list opened at line {line}, "
                                    f"column {column}: expected ']'", offset)
                raise src.error(f"expected ',' or ']' in the list of '{list_field.name}', "
                                f"found {_describe(taken)}", offset)
            frame.expect_element = False
            frame.count += 1
            if kind is symbol and (text == "{" or text == "<"):
                # A list element's position is its opening brace.
                token = send(True)
                if depth + 1 > max_depth:
                    raise src.error(f"messages nested deeper than {max_depth} levels", offset)
                block = Block([], src, offset)
                frame.fields.append(Field(list_field.name, src, offset, block,
                                          list_field.colon, True, list_field.extension,
                                          frame.count - 1))
                frame = _Frame(block.fields, "}" if text == "{" else ">", offset)
                stack.append(frame)
                depth += 1
                continue
            value, token = _scalar(src, token, advance, list_field.name)
            frame.fields.append(Field(list_field.name, src, value.offset, value,
                                      list_field.colon, True, list_field.extension,
                                      frame.count - 1))
            continue
        if kind is eof or (kind is symbol and (text == "}" or text == ">")):
            closer = frame.closer
            if closer == "":
                if kind is eof:
                    return root
                raise src.error(f"unexpected {_describe(token)}: no block is open here",
                                offset)
            if kind is eof:
                line, column = src.position(frame.open_offset)
                raise src.error(f"end of file inside the block opened at line {line}, "
                                f"column {column}: expected '{closer}'", offset)
            if text != closer:
                raise src.error(f"expected '{closer}', found '{text}'", offset)
            token = advance() if stack[-2].is_list else send(True)
            closed = stack.pop()
            if closed.field is not None:
                closed.field.end = offset + 1
            depth -= 1
            frame = stack[-1]
            if not frame.is_list:
                kind, text = token[0], token[1]
                if kind is symbol and (text == ";" or text == ","):
                    token = send(True)
            continue
        if kind is field_value:
            # A whole ``name: value``, the value one well-formed token.
            value_token = held[0]
            following = send(True)
            if value_token[0] is string_ and following[0] is string_:
                value, token = _scalar(src, value_token, advance, text, following)
            else:
                token = following
                value_kind, value_text, value_offset, data = value_token
                value = Scalar(value_kind, value_text, src, value_offset,
                               value_offset + len(value_text), False, data)
            frame.fields.append(Field(text, src, offset, value, True, False, False, 0,
                                      offset, value.end))
            if token[0] is symbol and (token[1] == ";" or token[1] == ","):
                token = send(True)
            continue
        if kind is field_block or kind is field_colon_block:
            # A whole ``name {`` (or ``name: {``, ``name <``).
            opener, opener_offset = held[0][1], held[0][2]
            token = send(True)
            if depth + 1 > max_depth:
                raise src.error(f"messages nested deeper than {max_depth} levels",
                                opener_offset)
            block = Block([], src, opener_offset)
            node = Field(text, src, offset, block, kind is field_colon_block, False, False, 0,
                         offset)
            frame.fields.append(node)
            frame = _Frame(block.fields, "}" if opener == "{" else ">", opener_offset, None,
                           node)
            stack.append(frame)
            depth += 1
            continue
        # One field of a block: its name first.
        name_token = token
        name_offset = offset
        token = advance()
        extension = False
        if kind is ident:
            name = text
        elif kind is symbol and text == "[":
            name, token = _extension_name(src, name_token, token, advance)
            extension = True
        else:
            raise src.error(f"expected a field name, found {_describe(name_token)}", offset)
        kind, text, offset, data = token
        colon = kind is symbol and text == ":"
        if colon:
            token = advance()
            kind, text, offset, data = token
        if kind is symbol:
            if text == "{" or text == "<":
                token = send(True)
                if depth + 1 > max_depth:
                    raise src.error(f"messages nested deeper than {max_depth} levels", offset)
                block = Block([], src, offset)
                node = Field(name, src, name_offset, block, colon, False, extension, 0,
                             name_offset)
                frame.fields.append(node)
                frame = _Frame(block.fields, "}" if text == "{" else ">", offset, None, node)
                stack.append(frame)
                depth += 1
                continue
            if text == "[":
                token = advance()
                list_field = Field(name, src, name_offset, None, colon, True, extension)
                if token[0] is symbol and token[1] == "]":
                    token = send(True)
                    frame.fields.append(list_field)
                    if token[0] is symbol and (token[1] == ";" or token[1] == ","):
                        token = send(True)
                    continue
                frame = _Frame(frame.fields, "]", offset, list_field)
                stack.append(frame)
                continue
        if not colon:
            raise src.error(f"expected ':' or '{{' after field name '{name}', found "
                            f"{_describe(token)}", offset)
        if kind is string_ or kind in values:
            # The usual scalar, inline: one token, no sign, not a string to join.
            following = send(True)
            if kind is string_ and following[0] is string_:
                value, token = _scalar(src, token, advance, name, following)
            else:
                token = following
                value = Scalar(kind, text, src, offset, offset + len(text), False, data)
        else:
            value, token = _scalar(src, token, advance, name)
        frame.fields.append(Field(name, src, name_offset, value, True, False, extension, 0,
                                  name_offset, value.end))
        if token[0] is symbol and (token[1] == ";" or token[1] == ","):
            token = send(True)


def _scalar(src: _Source, token: Token, advance: Callable[[], Token], name: str,
            following: Token | None = None) -> tuple[Scalar, Token]:
    """The scalar value starting at ``token`` and the token after it (``following``:
    the token after ``token`` when it was already taken)."""
    kind, text, start, data = token
    current = advance() if following is None else following
    if kind is _STRING:
        pieces = bytearray(data)
        last = token
        while current[0] is _STRING:
            last = current
            current = advance()
            pieces += last[3]
        return Scalar(_STRING, text, src, start, last[2] + len(last[1]), False,
                      bytes(pieces)), current
    negative = False
    if kind is _SYMBOL and text == "-":
        negative = True
        token = current
        current = advance()
        if token[0] not in (_INT, _FLOAT, _IDENT):
            raise src.error(f"expected a number after '-' for field '{name}', found "
                            f"{_describe(token)}", token[2])
    if token[0] in (_INT, _FLOAT, _IDENT):
        return Scalar(token[0], token[1], src, start, token[2] + len(token[1]), negative), \
            current
    raise src.error(f"expected a value for field '{name}', found {_describe(token)}",
                    token[2])


def _extension_name(src: _Source, open_token: Token, token: Token,
                    advance: Callable[[], Token]) -> tuple[str, Token]:
    """The bracketed name after ``[`` (``token`` is the token after it) and the
    token after the closing ``]``."""
    parts: list[str] = []
    while True:
        kind, text, offset, _ = token
        token = advance()
        want_name = not parts or parts[-1] in "./"
        if kind is _SYMBOL and text == "]" and parts and not want_name:
            break
        if kind is _IDENT and want_name:
            parts.append(text)
            continue
        if kind is _SYMBOL and text in "./" and not want_name:
            parts.append(text)
            continue
        if not parts and kind is _SYMBOL and text == "]":
            raise src.error("empty extension name '[]'", open_token[2])
        raise src.error(f"expected an extension name and ']', found "
                        f"{_describe((kind, text, offset, b''))}", offset)
    return "[" + "".join(parts) + "]", token


def parse_tree(text: str | bytes, *, path: str = "<text>",
               max_depth: int = MAX_DEPTH) -> Block:
    """Parse text-format source into a schema-free tree (the root Block)."""
    limit = max_bytes()
    if len(text) > limit:
        raise _too_large(len(text), limit, path)
    return _parse(_Source(_decode(text, path), path), max_depth)


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
