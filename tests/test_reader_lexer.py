"""The tokenizer's one-pattern scan against reading character by character.

The scan takes a token in one regular-expression match only when it is surely
well-formed and hands everything else to the character-by-character reader;
both must give the same tokens, and the same error at the same place, for any
text."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caffefill.errors import ParseError
from caffefill.net.reader.common import _Source
from caffefill.net.reader.lexer import _EOF, Token, _slow_token, _tokens

_SKIP = re.compile(r"(?:[ \t\r\n\v\f]+|#[^\n]*)*")


def by_character(text: str) -> list[Token]:
    """The tokens of ``text`` read with the character-by-character reader alone."""
    src = _Source(text, "t.prototxt")
    out: list[Token] = []
    pos = 0
    while True:
        match = _SKIP.match(text, pos)
        assert match is not None
        pos = match.end()
        if pos >= len(text):
            return [*out, (_EOF, "", len(text), b"")]
        token = _slow_token(src, pos)
        out.append((token.kind, token.text, token.offset, token.value))
        pos = token.offset + len(token.text)


def outcome(read: Callable[[str], list[Token]], text: str) -> list[Token] | str:
    try:
        return read(text)
    except ParseError as exc:
        return str(exc)


def scanned(text: str) -> list[Token]:
    return [(t.kind, t.text, t.offset, t.value) for t in _tokens(_Source(text, "t.prototxt"))]


PIECES = [" ", "\n", "\t", "\v", "#c\n", "{", "}", "<", ">", "[", "]", ":", ",", ";", "-", "+",
          ".", "/", "_", "a", "name", "x9", "0", "1", "7", "8", "9", "07", "08", "0x", "0X1f",
          "e", "E", "f", "F", "1e", "1e5", "1e+", "1e-3", "1.5", ".5", "5.", "1.5f", "5f",
          "0f", "0e5", "0.5", "00.5", "inf", '"a"', "'b'", '"\\n"', '"\\x4"', '"\\u00e9"',
          '"\\ud800"', '"open', "\\", "é", "\x00", "\x1c", "\u2028", '"', "'"]


@pytest.mark.parametrize("text", [
    "08", "0x", "0xg", "0x1F", "07.5", "1e", "1e+", "1.5.3", "1.5e5x", "5f", "0f", "5fx",
    ".5", ".5.", "..5", "1.e5", "00", "0e5", "12ab", "1_", "'a\\'b'", '"\\', "a.b",
    "é", "a\u2028b", "x: 1.5F;", "\v\f1", "1#c\n2",
])
def test_scan_agrees_on_tricky_tokens(text: str) -> None:
    assert outcome(scanned, text) == outcome(by_character, text)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join))
def test_scan_agrees_with_reading_character_by_character(text: str) -> None:
    assert outcome(scanned, text) == outcome(by_character, text)
