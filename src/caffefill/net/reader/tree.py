"""Tokens to a schema-free tree of fields, each knowing where it was written."""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import ParseError
from .common import MAX_DEPTH, _decode, _Source, _too_large, max_bytes
from .lexer import _EOF, _FLOAT, _IDENT, _INT, _STRING, _SYMBOL, _describe, _Token, _tokens

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


def parse_tree(text: str | bytes, *, path: str = "<text>",
               max_depth: int = MAX_DEPTH) -> Block:
    """Parse text-format source into a schema-free tree (the root Block)."""
    limit = max_bytes()
    if len(text) > limit:
        raise _too_large(len(text), limit, path)
    src = _Source(_decode(text, path), path)
    return _Parser(src, max_depth).parse()


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
