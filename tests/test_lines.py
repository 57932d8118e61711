"""One line numbering for the whole project: a line ends at "\\n" only, as
protobuf counts lines, whatever other line-break characters the text holds."""

from __future__ import annotations

import pytest

from caffefill.audit.context import AuditOptions
from caffefill.audit.engine import audit_text
from caffefill.audit.suppress import suppressions
from caffefill.errors import ParseError
from caffefill.lines import LineIndex, line_start, split_lines
from caffefill.net.reader import read_net

#: Everything str.splitlines() breaks at besides "\n" (and "\r\n").
OTHER_BREAKS = ["\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("brk", OTHER_BREAKS)
def test_a_directive_stays_on_its_line(brk: str) -> None:
    text = (f"# a comment{brk}with another line break\n"
            'layer { name: "a" type: "Input" top: "x" input_param { shape { dim: 1 dim: 4 } } }'
            "  # caffefill: ignore[CF1]\n"
            'layer { name: "b" type: "InnerProduct" bottom: "x" top: "y" inner_product_param { '
            'num_output: 2 weight_filler { type: "gaussian" std: -1 } } }\n')
    assert set(suppressions(text)) == {2}
    report = audit_text("net.prototxt", text, AuditOptions())
    refused = [f for f in report.findings if f.layer == "b" and f.severity == "error"]
    assert refused and all(f.line == 3 for f in refused), report.findings


@pytest.mark.parametrize("brk", OTHER_BREAKS)
def test_reader_and_helpers_agree(brk: str) -> None:
    text = f'name: "n{brk}"  # x{brk}y\nlayer {{ name: "a" type: "Input" top: "x" }}\n'
    src = read_net("net.prototxt", text=text)
    assert [tuple(p) for p in src.layer_positions] == [(2, 1)]
    offset = text.index("layer")
    assert LineIndex(text).position(offset) == (2, 1)
    assert line_start(text, offset) == (2, offset)
    assert line_start(text.encode(), len(text[:offset].encode())) == (2, len(
        text[:text.index("\n") + 1].encode()))
    assert split_lines(text)[1].startswith("layer")


def test_invalid_utf8_is_reported_on_its_line() -> None:
    data = 'name: "a\x0cb"\x85\u2028 \n\n  name: "'.encode() + b'\xff"\n'
    with pytest.raises(ParseError) as info:
        read_net("net.prototxt", text=data)
    assert (info.value.line, info.value.column) == (3, 10)
