"""Names from a file cannot forge audit output: a layer name, a filler type or
a file name with a newline, a carriage return or an escape sequence is printed
escaped in the text and GitHub formats (as every error message is), and kept
exactly, by their own rules, in JSON and SARIF."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from caffefill.cli import main

#: Characters that split a line, return to its start or drive a terminal.
FORGERS = "\n\r\x1b[2K\x0b\x0c\x1c\x85\u2028\u2029\x00"
LAYER = f"conv{FORGERS}caffefill audit: no findings in 1 file"
FILLER = f"gaussian{FORGERS}x"

NET = "\n".join([
    'layer { name: "data" type: "Input" top: "x" input_param { shape { dim: 1 dim: 3 dim: 8 '
    'dim: 8 } } }',
    f'layer {{ name: {json.dumps(LAYER)} type: "Convolution" bottom: "x" top: "y" '
    f'convolution_param {{ num_output: 4 kernel_size: 3 weight_filler {{ type: '
    f'{json.dumps(FILLER)} }} }} }}',
    'layer { name: "ip" type: "InnerProduct" bottom: "y" top: "z" inner_product_param { '
    'num_output: 2 } }', ""])


@pytest.fixture
def net(tmp_path: Path) -> Path:
    path = tmp_path / "a\nb\r\x1b[31mc.prototxt"
    path.write_text(NET.replace("\x00", "\\000"), encoding="utf-8")
    return path


def _audit(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["audit", *args])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("extra", [[], ["--show-fixes"], ["--quiet"]])
def test_text_output_escapes_names(net: Path, capsys: pytest.CaptureFixture[str],
                                   extra: list[str]) -> None:
    status, out, err = _audit(capsys, str(net), *extra)
    assert status == 1 and err == ""
    lines = out.split("\n")
    assert lines[-1] == ""
    for line in lines[:-1]:
        assert line.isprintable(), line
    findings = [line for line in lines if " CF" in line]
    assert findings  # the unknown filler type
    assert all(line.startswith(str(net).replace("\n", "\\n").replace("\r", "\\r")
                               .replace("\x1b", "\\x1b")) for line in findings)
    assert any("conv\\n\\r\\x1b[2K" in line for line in findings)
    assert any("gaussian\\n\\r\\x1b[2K" in line for line in findings)


def test_github_output_escapes_names(net: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _audit(capsys, str(net), "--format", "github")
    assert status == 1
    lines = out.split("\n")[:-1]
    assert lines and all(line.startswith("::") and line.isprintable() for line in lines)
    assert any("%0A%0D\\x1b[2K" in line for line in lines)


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_json_and_sarif_keep_names_exactly(net: Path, capsys: pytest.CaptureFixture[str],
                                           fmt: str) -> None:
    status, out, _ = _audit(capsys, str(net), "--format", fmt)
    assert status == 1
    assert out.isascii() and all(line.isprintable() for line in out.split("\n"))
    document = json.loads(out)
    if fmt == "json":
        layers = {f["layer"] for f in document}
        paths = {f["path"] for f in document}
        messages = " ".join(f["message"] for f in document)
    else:
        results = document["runs"][0]["results"]
        layers = {loc["name"] for r in results for loc in r["locations"][0]["logicalLocations"]}
        paths = set()
        messages = " ".join(r["message"]["text"] for r in results)
    assert LAYER in layers
    assert fmt == "sarif" or paths == {str(net)}
    assert FILLER in messages


def test_errors_about_missing_paths_are_escaped(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _audit(capsys, str(tmp_path / "no\nsuch\x1b[2K.prototxt"))
    assert status == 2
    assert err.count("\n") == 1 and err.rstrip("\n").isprintable(), err
