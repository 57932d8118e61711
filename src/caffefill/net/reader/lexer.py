"""Tokens of protobuf's text format, as protobuf's C++ tokenizer makes them.

``#`` comments, identifiers, numbers (decimal, hex, octal, floats), quoted
strings with C escapes, one-character symbols; each token knows its offset.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from typing import NamedTuple

from .common import _Source

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
