"""Tokens of protobuf's text format, as protobuf's C++ tokenizer makes them.

``#`` comments, identifiers, numbers (decimal, hex, octal, floats), quoted
strings with C escapes, one-character symbols; each token knows its offset.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Generator, Iterator
from typing import NamedTuple

from ..._textscan import Scanner as _Scanner
from .common import _Source

# ---------------------------------------------------------------- tokens

_IDENT, _INT, _FLOAT, _STRING, _SYMBOL, _EOF = "identifier", "integer", "float", "string", \
    "symbol", "end of file"


class _Token(NamedTuple):
    kind: str
    text: str
    offset: int
    value: bytes  # decoded bytes of a string token; b"" otherwise


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


def _describe(token: tuple[str, str, int, bytes]) -> str:
    """A token as an error message shows it."""
    kind, text = token[0], token[1]
    if kind == _EOF:
        return "end of file"
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"'{text}'" if kind != _STRING else text


#: Whitespace and comments; a comment runs to the end of its line (the lookahead
#: keeps a match that backtracks from reading a token inside it).
_SKIP = r"(?:[ \t\r\n\v\f]+|\#[^\n]*(?=\n|\Z))*"
_VALUES = r"""
        (?P<{p}identifier>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<{p}integer>(?:0[xX][0-9A-Fa-f]+|0[0-7]*|[1-9][0-9]*)(?![A-Za-z0-9_.]))
      | (?P<{p}float>(?:(?:0|[1-9][0-9]*)\.[0-9]*(?:[eE][+-]?[0-9]+)?[fF]?
                  | \.[0-9]+(?:[eE][+-]?[0-9]+)?[fF]?
                  | (?:0|[1-9][0-9]*)(?:[eE][+-]?[0-9]+[fF]?|[fF]))(?![A-Za-z0-9_.]))
      | (?P<{p}string>"[^"\\\n]*"|'[^'\\\n]*')"""
_TOKEN = _VALUES.format(p="") + r"""
      | (?P<symbol>[!$%&()*+,\-/:;<=>?@\[\\\]^`{|}~]|\.(?![0-9]))
      | (?P<other>.)
      | (?P<end>\Z)"""
#: One token after any whitespace and comments, in one match.  Only tokens that
#: are surely well-formed match a named group other than ``other``; anything
#: else (a string with escapes, a number the C++ tokenizer refuses, a stray
#: character) matches ``other`` and is read by :func:`_slow_token`, which makes
#: the same token or raises the same error as reading character by character.
#: A number must not be followed by ``[A-Za-z0-9_.]`` (protobuf refuses that),
#: so a shorter match inside a longer number can never pass.
_SCAN_PATTERN = _SKIP + "(?:" + _TOKEN + ")"
#: Where a field may start (in a block, after a field, a brace or a separator):
#: a whole ``name: value`` (a value of one well-formed token) or ``name {``
#: (``name: {``, ``name <``) in one match, else one token as :data:`_SCAN_PATTERN`
#: does.
_SCAN_FIELD_PATTERN = _SKIP + r"""(?:
    (?P<name>[A-Za-z_][A-Za-z0-9_]*) """ + _SKIP + r""" (?:
        : """ + _SKIP + "(?:" + _VALUES.format(p="value_") + r""")
      | (?P<colon>:)? """ + _SKIP + r""" (?P<opener>[{<])
    )
  | """ + _TOKEN + ")"

#: A whole ``name: value`` (text: the name, offset: the name's; the value is put
#: in the scan's ``held`` list), and a whole ``name {`` (``held``: the opener),
#: with or without a colon.  Only :func:`_scan` in field mode makes these.
_FIELD_VALUE, _FIELD_BLOCK, _FIELD_COLON_BLOCK = "field value", "field block", \
    "field: block"
_TOKEN_KINDS = {"identifier": _IDENT, "integer": _INT, "float": _FLOAT, "string": _STRING,
                "symbol": _SYMBOL, "end": _EOF}


def _kinds(pattern: re.Pattern[str]) -> tuple[str, ...]:
    """Group number -> token kind ("" for a group that is not a token's)."""
    kinds = [""] * (pattern.groups + 1)
    for name, index in pattern.groupindex.items():
        kinds[index] = _TOKEN_KINDS.get(name.removeprefix("value_"), "")
    if "opener" in pattern.groupindex:
        kinds[pattern.groupindex["opener"]] = _FIELD_BLOCK
    return tuple(kinds)


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], tuple[str, ...], tuple[str, ...]]:
    """The reference scan's compiled patterns and the kinds of their groups,
    compiled on first use: only :func:`_scan_py` uses them, and compiling them
    is a noticeable part of the reader's import."""
    scan = re.compile(_SCAN_PATTERN, re.VERBOSE | re.DOTALL)
    field = re.compile(_SCAN_FIELD_PATTERN, re.VERBOSE | re.DOTALL)
    return scan, field, _kinds(scan), _kinds(field)

#: A token as the parser holds it: (kind, text, offset, decoded bytes of a string).
Token = tuple[str, str, int, bytes]

#: The kinds in the order :class:`caffefill._textscan.Scanner` takes them.
_SCANNER_KINDS = (_IDENT, _INT, _FLOAT, _STRING, _SYMBOL, _EOF, _FIELD_VALUE, _FIELD_BLOCK,
                  _FIELD_COLON_BLOCK)


def _scan(src: _Source, held: list[Token] | None = None) -> _Scanner:
    """The tokens of ``src`` as plain tuples, made one at a time as the parser asks
    (so a broken file is refused at its first error without tokenizing the rest,
    and the tokens are never all held at once); after the end, the end for ever.

    ``next()`` gives the next token; ``send(True)``, where a field may start,
    gives a whole field (:data:`_FIELD_VALUE`, :data:`_FIELD_BLOCK`) as one
    token when one is there, its value (or opener) put in ``held``.  Nothing
    of it can be malformed, so taking it whole raises no error earlier than
    taking it token by token.

    The tokens are made in C (``caffefill._textscan``, several times faster:
    the reader's tokenizing is a large part of an audit), which makes exactly
    the tokens :func:`_scan_py` makes and hands everything else to
    :func:`_slow_token`, so the errors are the same too; the pure Python one
    is the reference the C one is tested against."""
    return _Scanner(src.text, held, functools.partial(_slow_token, src), _SCANNER_KINDS)


def _scan_py(src: _Source, held: list[Token] | None = None
             ) -> Generator[Token, object, None]:
    """What :func:`_scan` makes, with the regular expressions :data:`_SCAN_PATTERN` and
    :data:`_SCAN_FIELD_PATTERN` (the reference implementation; a generator)."""
    text = src.text
    size = len(text)
    scan_pattern, field_pattern, plain_kinds, field_kinds = _patterns()
    plain, field_scan = scan_pattern.match, field_pattern.match
    other = scan_pattern.groupindex["other"]
    field_other = field_pattern.groupindex["other"]
    name_group = field_pattern.groupindex["name"]
    colon_group = field_pattern.groupindex["colon"]
    pos = 0
    mode: object = None
    while True:
        if mode:
            match = field_scan(text, pos)
            kinds, slow = field_kinds, field_other
        else:
            match = plain(text, pos)
            kinds, slow = plain_kinds, other
        assert match is not None
        index = match.lastindex
        assert index is not None
        kind = kinds[index]
        pos = match.end()
        token: Token
        if index == slow:
            token = _slow_token(src, match.start(index))
            pos = token[2] + len(token[1])
        elif kind is _EOF:
            token = (_EOF, "", size, b"")
            while True:
                yield token
        elif mode and match.start(name_group) >= 0:
            value = match.group(index)
            start = match.start(index)
            assert held is not None
            if kind is _FIELD_BLOCK:
                held[0] = (_SYMBOL, value, start, b"")
                kind = _FIELD_COLON_BLOCK if match.start(colon_group) >= 0 else _FIELD_BLOCK
            else:
                held[0] = (kind, value, start,
                           value[1:-1].encode("utf-8") if kind is _STRING else b"")
                kind = _FIELD_VALUE
            token = (kind, match.group(name_group), match.start(name_group), b"")
        else:
            value = match.group(index)
            token = (kind, value, match.start(index),
                     value[1:-1].encode("utf-8") if kind is _STRING else b"")
        mode = yield token


def _tokens(src: _Source) -> Iterator[_Token]:
    """The tokens of ``src``, one at a time, up to and with the end of file."""
    for token in _scan(src):
        yield _Token._make(token)
        if token[0] is _EOF:
            return


def _slow_token(src: _Source, pos: int) -> _Token:
    """The token at ``pos`` (not whitespace), read character by character."""
    text = src.text
    size = len(text)
    char = text[pos]
    if char.isascii() and (char.isalpha() or char == "_"):
        match = _IDENT_RE.match(text, pos)
        assert match is not None
        return _Token(_IDENT, match.group(), pos, b"")
    if "0" <= char <= "9" or (char == "." and pos + 1 < size and "0" <= text[pos + 1] <= "9"):
        return _number(src, pos)
    if char in "\"'":
        return _string(src, pos)
    if char in string.punctuation:
        return _Token(_SYMBOL, char, pos, b"")
    shown = repr(char) if char.isprintable() else f"U+{ord(char):04X}"
    raise src.error(f"unexpected character {shown}", pos)


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
