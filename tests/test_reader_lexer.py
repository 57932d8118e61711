"""The tokenizer's one-pattern scan against reading character by character.

The scan takes a token in one regular-expression match only when it is surely
well-formed and hands everything else to the character-by-character reader;
both must give the same tokens, and the same error at the same place, for any
text.  Where a field may start, the scan takes a whole ``name: value`` or
``name {`` at once: taken apart again, those are the same tokens too.

The scan runs in C (``caffefill._textscan``); the pure Python scan it
replaces, one regular expression per token, is the reference it must match
token for token, in either mode, whatever the parser asks for next."""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caffefill.errors import ParseError
from caffefill.net.reader.common import _Source
from caffefill.net.reader.lexer import (
    _EOF,
    _FIELD_BLOCK,
    _FIELD_COLON_BLOCK,
    _FIELD_VALUE,
    _IDENT,
    Token,
    _scan,
    _scan_py,
    _slow_token,
    _tokens,
)

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


def field_mode(text: str) -> list[Token]:
    """The tokens of ``text`` scanned where a field may start throughout, whole
    fields taken apart again; colons dropped (a whole field does not keep its
    colon's place)."""
    held: list[Token] = [(_EOF, "", 0, b"")]
    scan = _scan(_Source(text, "t.prototxt"), held)
    out: list[Token] = []
    token = next(scan)
    while True:
        if token[0] in (_FIELD_VALUE, _FIELD_BLOCK, _FIELD_COLON_BLOCK):
            out += [(_IDENT, token[1], token[2], b""), held[0]]
        elif token[1] != ":":
            out.append(token)
        if token[0] == _EOF:
            return out
        token = scan.send(True)


def without_colons(text: str) -> list[Token]:
    return [token for token in scanned(text) if token[1] != ":"]


@pytest.mark.parametrize("text", [
    "a: 1 b { c: 'x' } d: [1] e:{ } f <> g: <>", "a: 08", "a: 1e", "a: \"\\n\" b: 'c'",
    "a:#c\n-1", "a: b: c", "a: 1.5.3", "a: x.y", "a: 5é", "a:{{", "name: \"n\" \"m\"",
    # A comment after the colon, then the end: no token is read inside the comment.
    "{e:#c\n", "a: # b\n}",
])
def test_whole_fields_are_the_same_tokens(text: str) -> None:
    assert outcome(field_mode, text) == outcome(without_colons, text)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([*PIECES, "a: 1", "a {", "a: {", "b: 'c'", "x:"]),
                max_size=30).map("".join))
def test_whole_fields_agree_with_single_tokens(text: str) -> None:
    assert outcome(field_mode, text) == outcome(without_colons, text)


def both_ways(text: str, modes: list[bool]) -> tuple[list[object], list[object]]:
    """The tokens (or the error) that the C scan and the Python reference give
    for ``text`` when asked in ``modes`` (True: where a field may start; the
    held value after each token too), then 5 more past the end."""
    def run(scan_fn: Callable[..., Iterator[Token]]) -> list[object]:
        held: list[Token] = [(_EOF, "", 0, b"")]
        scan = scan_fn(_Source(text, "t.prototxt"), held)
        out: list[object] = []
        try:
            out.append(next(scan))
            for mode in [*modes, *[False] * 5]:
                out.append(scan.send(True) if mode else next(scan))  # type: ignore[attr-defined]
                out.append(held[0])
        except ParseError as exc:
            out.append(str(exc))
        return out

    return run(_scan), run(_scan_py)


def agree(text: str, seed: int) -> None:
    chooser = random.Random(seed)
    steps = len(text) + 2
    for modes in ([False] * steps, [True] * steps, [chooser.random() < 0.5 for _ in range(steps)]):
        c_tokens, py_tokens = both_ways(text, modes)
        assert c_tokens == py_tokens
        # The kinds are the module's own objects (the parser compares them with "is").
        for c_token, py_token in zip(c_tokens, py_tokens, strict=True):
            if isinstance(c_token, tuple):
                assert isinstance(py_token, tuple)
                assert c_token[0] is py_token[0]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([*PIECES, "a: 1", "a {", "a: {", "b: 'c'", "x:", "a:\n\"s\"",
                                 "a: 0x1F", "a: .5e-3f", "a:'é'", "#é\r"]),
                max_size=40).map("".join), st.integers(0, 2**32))
def test_c_scan_is_the_python_scan(text: str, seed: int) -> None:
    agree(text, seed)


@pytest.mark.parametrize("text", [
    "", "   ", "#only a comment", "a", "a:", "a: ", "a {", "a:{", "a <", "a:<b:1>",
    "a: 1e5f;b:.5F,c:0x7fffffff d:0777 e:0 f:1.e5 g:'q' h:\"é\"", "a: 1..2",
    "a\n:\n#c\n1", "a: \"x\\\"y\"", "\U0001F600", "a: 1\x00", "\ufeffa: 1",
])
def test_c_scan_is_the_python_scan_on_edges(text: str) -> None:
    agree(text, 0)


def test_c_scan_is_the_python_scan_on_every_net() -> None:
    """The nets of tests/data (and of the shared corpus, where it is)."""
    root = Path(__file__).parent / "data"
    shared = Path(os.environ.get("CAFFEFILL_SHARED", Path(__file__).parents[2] / "shared"))
    paths = sorted(root.rglob("*.prototxt")) + sorted((shared / "corpus").rglob("*.prototxt"))
    assert len(paths) > 20
    for index, path in enumerate(paths):
        text = path.read_bytes().decode("utf-8", "replace")
        c_tokens, py_tokens = both_ways(text, [True] * (len(text) + 2))
        assert c_tokens == py_tokens, path
        if index % 8 == 0:
            agree(text, index)
