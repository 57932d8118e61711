"""Thousands of unknown fields do not print thousands of warning lines: a few
per field name, then a count."""

from __future__ import annotations

from pathlib import Path

from fuzzing import run_cli


def test_many_unknown_fields_are_summarised(tmp_path: Path) -> None:
    net = tmp_path / "net.prototxt"
    layer = ('layer { name: "data" type: "Input" top: "x" input_param { shape { dim: 1 dim: 4 } }'
             + " bogus: 1" * 5000 + " other: 2" * 2 + " }\n")
    net.write_text(layer, encoding="utf-8")
    status, _, err = run_cli(["show", str(net)])
    assert status == 0
    lines = err.splitlines()
    assert sum("unknown field 'bogus'" in line for line in lines) == 3 + 1
    assert sum("unknown field 'other'" in line for line in lines) == 2
    assert lines[-1] == ("warning: 4,997 more of unknown field 'bogus' in LayerParameter "
                         "not shown")
