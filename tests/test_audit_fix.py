"""caffefill audit --fix / --diff: edits that keep everything else of the file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import SHARED
from google.protobuf import text_format
from google.protobuf.message import Message

from caffefill._proto import caffefill_pb2 as pb
from caffefill.audit.rules.ignored_filler_field import FIELDS
from caffefill.cli import main
from caffefill.net.reader import read_net

BEFORE = """\
# header comment
name: "n"
layer { name: "data" type: "Input" top: "data" input_param {shape {dim: 1 dim: 3 dim: 8 dim: 8}}}

layer {  # conv
  name: "c1" type: "Convolution" bottom: "data" top: "c1"
  convolution_param {
    num_output: 4 kernel_size: 3
    weight_filler {
      type: "Xavier"   # the type
      std: 0.01  # was gaussian once

      mean: 0
    }
    bias_filler { type: "constant" std: 1; value: 0.1 }
  }
}
layer { name: "c2" type: "Convolution" bottom: "c1" top: "c2"  # caffefill: ignore[CF201]
  convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "msra" std: 2 } } }
layer { name: "c3" type: "Convolution" bottom: "c2" top: "c3"
  convolution_param { num_output: 4 kernel_size: 1 weight_filler { type: "gausian" std: 2 } } }
"""

#: The type's case fixed; then the fields xavier and constant ignore deleted
#: (a line with a comment keeps the comment); the suppressed finding and the
#: guess ("gausian") left alone.
AFTER = BEFORE.replace('"Xavier"', '"xavier"').replace(
    "      std: 0.01  # was gaussian once\n", "      # was gaussian once\n").replace(
    "\n      mean: 0\n", "\n").replace('{ type: "constant" std: 1; value: 0.1 }',
                                      '{ type: "constant" value: 0.1 }')


def _net(tmp_path: Path, text: str = BEFORE) -> Path:
    path = tmp_path / "n.prototxt"
    path.write_text(text)
    return path


def test_fix_edits_in_place_keeping_comments_and_suppressions(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _net(tmp_path)
    os.chmod(path, 0o640)
    assert main(["audit", "--fix", str(path)]) == 1  # the guess is still an error
    assert path.read_text() == AFTER
    assert os.stat(path).st_mode & 0o777 == 0o640
    captured = capsys.readouterr()
    assert "fixed 1 file" in captured.err
    assert "CF103 error [c3]" in captured.out and "[c1]" not in captured.out
    # A second run changes nothing.
    assert main(["audit", "--fix", str(path)]) == 1
    assert path.read_text() == AFTER
    assert "fixed" not in capsys.readouterr().err


def test_diff_prints_and_writes_nothing(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = _net(tmp_path)
    assert main(["audit", "--diff", str(path)]) == 1
    out = capsys.readouterr().out
    assert path.read_text() == BEFORE
    assert f"--- a/{path}" in out and '-      type: "Xavier"   # the type' in out
    assert '+      type: "xavier"   # the type' in out and "gausian" not in out
    path.write_text(AFTER)
    assert main(["audit", "--diff", str(path)]) == 0
    assert capsys.readouterr().out == ""


def test_unsafe_fixes_take_the_nearest_type(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = _net(tmp_path)
    assert main(["audit", "--fix", "--unsafe-fixes", str(path)]) == 0
    assert path.read_text() == AFTER.replace('"gausian"', '"gaussian"')
    capsys.readouterr()


def test_unsafe_fixes_alone_is_refused(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = _net(tmp_path)
    before = path.read_text()
    assert main(["audit", "--unsafe-fixes", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--unsafe-fixes applies only with --fix or --diff" in err
    assert path.read_text() == before


def test_fix_reads_standard_input_and_writes_standard_output(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(BEFORE))
    assert main(["audit", "--fix", "-"]) == 0
    assert capsys.readouterr().out == AFTER


def test_fix_never_follows_a_symlink(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = _net(tmp_path)
    link = tmp_path / "link.prototxt"
    link.symlink_to(target)
    assert main(["audit", "--fix", str(link)]) == 2
    assert "not fixed" in capsys.readouterr().err
    assert target.read_text() == BEFORE and link.is_symlink()


def _fillers(message: Message) -> list[pb.FillerParameter]:
    """Every FillerParameter inside a message, in order."""
    found: list[pb.FillerParameter] = []
    stack = [message]
    while stack:
        current = stack.pop(0)
        if isinstance(current, pb.FillerParameter):
            found.append(current)
            continue
        for fd, value in current.ListFields():
            if fd.message_type is None:
                continue
            stack.extend([value] if isinstance(value, Message) else list(value))
    return found


@pytest.mark.needs_shared
@pytest.mark.slow
def test_fix_on_the_corpus_changes_only_the_fixed_fields(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "corpus"
    shutil.copytree(SHARED / "corpus", copy)
    before = {p: p.read_text() for p in copy.rglob("*.prototxt")}
    main(["audit", "--fix", "--isolated", str(copy)])
    capsys.readouterr()
    changed = [p for p, text in before.items() if p.read_text() != text]
    assert changed  # the corpus has fields fillers ignore
    for path in changed:
        read_net(path)  # caffefill's reader still reads it
        old, new = pb.NetParameter(), pb.NetParameter()
        text_format.Parse(before[path], old)
        text_format.Parse(path.read_text(), new)
        for was, now in zip(_fillers(old), _fillers(new), strict=True):
            if was.type != now.type and was.type.lower() == now.type.lower():
                was.type = now.type
            for name in FIELDS:
                if was.HasField(name) and not now.HasField(name):
                    was.ClearField(name)
        assert old == new, path
    # A second --fix changes nothing.
    after = {p: p.read_text() for p in changed}
    main(["audit", "--fix", "--isolated", str(copy)])
    capsys.readouterr()
    assert all(p.read_text() == text for p, text in after.items())


def test_diff_follows_a_solver_to_its_nets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    _net(tmp_path)
    (tmp_path / "solver.prototxt").write_text('net: "n.prototxt"\nbase_lr: 0.01\n')
    monkeypatch.chdir(tmp_path)
    assert main(["audit", "--diff", "solver.prototxt"]) == 1
    out = capsys.readouterr().out
    assert "--- a/n.prototxt" in out and '+      type: "xavier"   # the type' in out


TYPO = """\
layer { name: "data" type: "Input" top: "data" input_param {shape {dim: 1 dim: 3 dim: 8 dim: 8}}}
layer { name: "c" type: "Convolution" bottom: "data" top: "c"
  convolution_param { num_output: 4 kernel_size: 3
    weight_filler { type: "gaussian" weight_std: 0.01 }  # a real user's typo
    bias_filler { type: "constant" std: 1 valeu: 0.5 } } }
"""


def test_unknown_fields_are_renamed_only_as_an_unsafe_fix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _net(tmp_path, TYPO)
    assert main(["audit", "--fix", str(path)]) == 1
    # The safe fix removes the std constant ignores; the typos stay.
    assert path.read_text() == TYPO.replace(" std: 1 valeu", " valeu")
    assert main(["audit", "--fix", "--unsafe-fixes", str(path)]) == 0
    assert path.read_text() == TYPO.replace(" std: 1 valeu", " value").replace(
        "weight_std", "std")
    capsys.readouterr()


def test_a_rename_that_would_not_read_is_not_made(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    text = TYPO.replace('weight_std: 0.01', 'std: 0.02 weight_std: 0.01')
    path = _net(tmp_path, text)
    main(["audit", "--fix", "--unsafe-fixes", str(path)])
    capsys.readouterr()
    assert "std: 0.02 weight_std: 0.01" in path.read_text()  # std twice would not read
