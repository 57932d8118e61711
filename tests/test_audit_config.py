"""caffefill audit in CI: configuration files, their discovery and precedence,
the CI-facing flags (github format, --exit-zero, --statistics, --quiet, stdin)
and folder walks of any depth."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import DATA

from caffefill.audit.config import AuditConfig, ConfigFinder, load_config, merge_codes
from caffefill.audit.engine import collect
from caffefill.cli import main

AUDIT = DATA / "audit"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["audit", *args])
    out, err = capsys.readouterr()
    return status, out, err


def findings(out: str) -> list[tuple[str, str]]:
    """(path, code) of each finding line of the text format."""
    return [(line.split(":")[0], line.split(": ")[1].split()[0]) for line in out.splitlines()
            if ": CF" in line and "note:" not in line]


def codes(out: str) -> list[str]:
    return [line.split(": ")[1].split()[0] for line in out.splitlines()
            if ": CF" in line and "note:" not in line]


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A project with a bad net at the top and a warning-only net in a sub-folder."""
    (tmp_path / "nets" / "sub").mkdir(parents=True)
    shutil.copy(AUDIT / "bad.prototxt", tmp_path / "nets" / "bad.prototxt")
    shutil.copy(AUDIT / "warnings.prototxt", tmp_path / "nets" / "sub" / "warn.prototxt")
    return tmp_path


# ------------------------------------------------------------ discovery


def test_pyproject_table_is_found_upward_and_applied(project: Path,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    status, out, _ = run(capsys, str(project / "nets"))
    assert set(codes(out)) == {"CF103", "CF201", "CF301"} and status == 1
    (project / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.caffefill]\nignore = ["CF103", "CF3"]\n')
    status, out, _ = run(capsys, str(project / "nets"))
    assert set(codes(out)) == {"CF201"}
    assert status == 0  # warnings only: below the default fail-on


def test_nearest_file_wins_and_caffefill_toml_beats_pyproject(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "pyproject.toml").write_text('[tool.caffefill]\nignore = ["CF201"]\n')
    (project / "nets" / "sub" / "caffefill.toml").write_text('select = ["CF3"]\n')
    (project / "nets" / "sub" / "pyproject.toml").write_text(
        '[tool.caffefill]\nselect = ["CF1"]\n')
    _, out, _ = run(capsys, str(project / "nets"))
    found = findings(out)
    # nets/ takes the pyproject two levels up (CF201 ignored) ...
    assert {code for path, code in found if "sub" not in path} == {"CF103", "CF301"}
    # ... nets/sub/ its own caffefill.toml (select CF3 only: warn.prototxt has none).
    assert not [path for path, _ in found if "sub" in path]


def test_pyproject_without_a_table_is_passed_over(project: Path) -> None:
    (project / "caffefill.toml").write_text('ignore = ["CF201"]\n')
    (project / "nets" / "pyproject.toml").write_text('[project]\nname = "x"\n')
    config = ConfigFinder().for_path(project / "nets" / "bad.prototxt")
    assert config.path == project / "caffefill.toml"
    assert config.ignore == ("CF201",)


def test_config_option_and_isolated(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "caffefill.toml").write_text('ignore = ["CF1"]\n')
    other = project / "other.toml"
    other.write_text('select = ["CF103"]\n')
    _, out, _ = run(capsys, "--config", str(other), str(project / "nets"))
    assert set(codes(out)) == {"CF103"}
    _, out, _ = run(capsys, "--isolated", str(project / "nets"))
    assert "CF103" in codes(out) and "CF201" in codes(out)


# ------------------------------------------------------------ precedence


def test_command_line_select_replaces_and_ignore_adds(project: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    (project / "caffefill.toml").write_text('select = ["CF2"]\nignore = ["CF301"]\n')
    _, out, _ = run(capsys, str(project / "nets"))
    assert set(codes(out)) == {"CF201"}
    _, out, _ = run(capsys, "--select", "CF1,CF3", str(project / "nets"))
    assert set(codes(out)) == {"CF103"}  # CF301 stays ignored by the file
    _, out, _ = run(capsys, "--extend-select", "CF103", str(project / "nets"))
    assert set(codes(out)) == {"CF201", "CF103"}
    _, out, _ = run(capsys, "--ignore", "CF201", str(project / "nets"))
    assert codes(out) == []


def test_merge_codes_rules() -> None:
    config = AuditConfig(select=("CF1",), extend_select=("CF201",), ignore=("CF103",))
    assert merge_codes(config, [], [], [], "x.prototxt") == (("CF1", "CF201"), ("CF103",))
    assert merge_codes(config, ["CF3"], ["CF2"], ["CF301"], "x.prototxt") == (
        ("CF3", "CF201", "CF2"), ("CF103", "CF301"))
    # Nothing selected anywhere: every code is, extended or not.
    assert merge_codes(AuditConfig(extend_select=("CF2",)), [], [], [], "x") == ((), ())


def test_fail_on_from_the_file_and_the_command_line(project: Path,
                                                    capsys: pytest.CaptureFixture[str]
                                                    ) -> None:
    warn = str(project / "nets" / "sub" / "warn.prototxt")
    assert run(capsys, warn)[0] == 0
    (project / "caffefill.toml").write_text('fail-on = "warning"\n')
    assert run(capsys, warn)[0] == 1
    assert run(capsys, "--fail-on", "error", warn)[0] == 0


def test_per_file_ignores(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "caffefill.toml").write_text(
        '[per-file-ignores]\n"nets/sub/*" = ["CF2"]\n"bad.prototxt" = ["CF103"]\n')
    _, out, _ = run(capsys, str(project / "nets"))
    assert set(findings(out)) == {(str(project / "nets" / "bad.prototxt"), "CF201"),
                     (str(project / "nets" / "bad.prototxt"), "CF301")}


# ------------------------------------------------------------ files and inputs


def test_include_and_exclude_globs_in_folder_walks(project: Path,
                                                   capsys: pytest.CaptureFixture[str]
                                                   ) -> None:
    shutil.copy(AUDIT / "bad.prototxt", project / "nets" / "train.pt")
    (project / "nets" / "vendor").mkdir()
    shutil.copy(AUDIT / "bad.prototxt", project / "nets" / "vendor" / "x.prototxt")
    (project / "caffefill.toml").write_text(
        'extend-include = ["*.pt"]\nexclude = ["nets/vendor"]\n')
    _, out, _ = run(capsys, "--statistics", "--select", "CF103", str(project / "nets"))
    assert out.split()[0] == "2"  # bad.prototxt and train.pt, not vendor/
    # A file named on the command line is audited even when excluded.
    _, out, _ = run(capsys, "--select", "CF103", str(project / "nets" / "vendor" / "x.prototxt"))
    assert codes(out) == ["CF103"]


def test_per_file_inputs_let_the_shape_rules_run(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    net = tmp_path / "models" / "needs_input.prototxt"
    net.parent.mkdir()
    shutil.copy(AUDIT / "needs_input.prototxt", net)
    _, out, _ = run(capsys, str(net))
    assert "shape rules skipped" in out
    (tmp_path / "caffefill.toml").write_text(
        '[per-file-inputs]\n"models/*.prototxt" = ["data=3,32,32"]\n')
    _, out, _ = run(capsys, str(net))
    assert "shape rules skipped" not in out
    (tmp_path / "caffefill.toml").write_text(
        '[per-file-inputs."models/*.prototxt"]\ndata = [3, 32, 32]\n')
    _, out, _ = run(capsys, str(net))
    assert "shape rules skipped" not in out


@pytest.mark.parametrize(("text", "message"), [
    ('selct = ["CF1"]\n', "unknown key 'selct' (did you mean 'select'?)"),
    ('select = ["XX9"]\n', "unknown rule code or prefix 'XX9'"),
    ('fail-on = "bad"\n', "expected one of error, warning, info"),
    ('select = 3\n', "expected a list of strings"),
    ('inputs = ["data"]\n', "expected NAME=N,C,H,W"),
    ('signal-threshold = 0.5\n', "expected a finite number > 1"),
    ('select = [\n', "not valid TOML"),
])
def test_a_bad_configuration_is_one_line_and_exit_2(project: Path, text: str, message: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    (project / "caffefill.toml").write_text(text)
    status, out, err = run(capsys, str(project / "nets"))
    assert status == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err
    assert str(project / "caffefill.toml") in err


def test_load_config_of_a_pyproject_without_table_is_none(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.other]\nx = 1\n')
    assert load_config(path) is None


# ------------------------------------------------------------ CI flags


def test_github_format_escapes_and_annotates(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--format", "github", str(AUDIT / "bad.prototxt"))
    lines = out.strip().splitlines()
    assert status == 1
    assert lines[0].startswith(f"::warning file={AUDIT / 'bad.prototxt'},line=17,col=5,"
                               f"title=CF201 [conv1]::")
    assert any(line.startswith("::error ") and "CF103" in line for line in lines)
    assert any(line.startswith("::notice ") for line in lines)
    # A layer name with a newline and a comma cannot break out of its annotation.
    text = (AUDIT / "bad.prototxt").read_text().replace('name: "conv1"', 'name: "a,b\\nc"', 1)
    odd = tmp_path / "odd.prototxt"
    odd.write_text(text)
    _, out, _ = run(capsys, "--format", "github", "--select", "CF201", str(odd))
    (line,) = out.strip().splitlines()
    assert "title=CF201 [a%2Cb%0Ac]::" in line


def test_exit_zero_statistics_and_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    bad = str(AUDIT / "bad.prototxt")
    assert run(capsys, "--exit-zero", bad)[0] == 0
    status, out, _ = run(capsys, "--statistics", bad, str(AUDIT / "warnings.prototxt"))
    rows = [line.split() for line in out.strip().splitlines()]
    assert rows[0][:3] == ["2", "CF201", "warning"]
    assert sorted(row[1] for row in rows) == ["CF103", "CF201", "CF301"] and status == 1
    _, out, _ = run(capsys, "--statistics", "--format", "json", bad)
    assert {"code": "CF103", "count": 1} in json.loads(out)
    _, out, _ = run(capsys, "--quiet", str(AUDIT / "needs_input.prototxt"), bad)
    assert "caffefill audit:" not in out and "note:" not in out
    assert len(out.strip().splitlines()) == 3


def test_standard_input_with_a_file_name(project: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "caffefill.toml").write_text('[per-file-ignores]\n"nets/*.prototxt" = ["CF3"]\n')
    text = (AUDIT / "bad.prototxt").read_text()
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    name = str(project / "nets" / "piped.prototxt")
    status, out, _ = run(capsys, "-", "--stdin-filename", name)
    assert status == 1
    assert {path for path, _ in findings(out)} == {name}
    assert set(codes(out)) == {"CF103", "CF201"}


# ------------------------------------------------------------ walks


def test_a_very_deep_folder_tree_and_a_symlink_loop(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    depth = 1100  # deeper than Python's recursion limit
    deepest = os.path.join(".", *["d"] * depth)
    for level in range(1, depth + 1):  # os.makedirs recurses too
        os.mkdir(os.path.join(".", *["d"] * level))
    try:
        shutil.copy(AUDIT / "clean.prototxt", os.path.join(deepest, "deep.prototxt"))
        os.symlink("..", os.path.join("d", "loop"))
        files, missing = collect([str(tmp_path)])
        assert missing == []
        assert len(files) == 1 and files[0].endswith("deep.prototxt")
    finally:
        # shutil.rmtree (and pytest's clean-up with it) recurses: take the tree
        # down from the bottom.
        if os.path.lexists(os.path.join("d", "loop")):
            os.unlink(os.path.join("d", "loop"))
        if os.path.exists(os.path.join(deepest, "deep.prototxt")):
            os.unlink(os.path.join(deepest, "deep.prototxt"))
        for level in range(depth, 0, -1):
            os.rmdir(os.path.join(".", *["d"] * level))


def test_allow_fields_silences_unknown_fields(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    text = (AUDIT / "clean.prototxt").read_text()
    net = tmp_path / "fork.prototxt"
    net.write_text(text.replace('type: "msra"', 'type: "msra" fork_gain: 2', 1))
    assert 'fork_gain' in net.read_text()
    status, out, _ = run(capsys, str(net))
    assert codes(out) == ["CF110"] and status == 1
    (tmp_path / "caffefill.toml").write_text('allow-fields = ["FillerParameter.fork_gain"]\n')
    status, out, _ = run(capsys, str(net))
    assert codes(out) == [] and status == 0


# ------------------------------------------------------------ inputs


DECLARED = """name: "declared"
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "msra" } } }
"""


def test_input_never_overrides_a_declared_shape(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    import caffefill

    net = tmp_path / "declared.prototxt"
    net.write_text(DECLARED)
    plain = caffefill.init_net(net, seed=5)
    given = caffefill.init_net(net, seed=5, inputs={"data": (3, 256, 256)})
    assert [a.shape for a in given["conv"]] == [(4, 3, 3, 3), (4,)]
    assert all((a == b).all() for a, b in zip(plain["conv"], given["conv"], strict=False))
    status = main(["show", str(net), "--input", "data=2,1,5,5", "--json"])
    out, err = capsys.readouterr()
    assert status == 0 and "[4, 3, 3, 3]" in json.dumps(json.loads(out))
    assert "--input data is not used" in err
    status, out, _ = run(capsys, "--input", "data=3,256,256", str(net))
    assert "CF100" not in out and status == 0


def test_data_layers_with_a_crop_get_an_assumed_shape_and_a_note(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, str(AUDIT / "needs_input.prototxt"))
    assert "shape rules skipped" in out  # no crop: nothing to assume
    text = (AUDIT / "needs_input.prototxt").read_text().replace(
        "transform_param { scale: 0.00390625 }",
        "transform_param { scale: 0.00390625 crop_size: 32 }")
    path = tmp_path / "needs_input_crop.prototxt"
    path.write_text(text)
    _, out, _ = run(capsys, str(path))
    assert "shape rules skipped" not in out
    assert "shapes assumed for the data layers: data=3,32,32" in out


# ------------------------------------------------------------ suppressions


def test_file_level_suppression(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net = tmp_path / "net.prototxt"
    net.write_text("# caffefill: ignore-file[CF201, CF3]\n" + (AUDIT / "bad.prototxt").read_text())
    _, out, _ = run(capsys, str(net))
    assert codes(out) == ["CF103"]


def test_a_suppression_that_silences_nothing_is_reported(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    text = (AUDIT / "clean.prototxt").read_text().splitlines()
    text[0] += "  # caffefill: ignore[CF103]"
    net = tmp_path / "net.prototxt"
    net.write_text("\n".join(text) + "\n# caffefill: ignore-file[CF2]\n")
    status, out, _ = run(capsys, str(net))
    found = [line for line in out.splitlines() if " CF210 " in line]
    assert len(found) == 2 and status == 0
    assert found[0].startswith(f"{net}:1:1: CF210 warning") and "ignore[CF103]" in found[0]
    assert "ignore-file[CF2]" in found[1]
    # Not when the rules it names did not run.
    _, out, _ = run(capsys, "--select", "CF1,CF210", str(net))
    assert [line for line in out.splitlines() if " CF210 " in line] == found[:1]
    # A used one is not reported, and CF210 itself can be silenced.
    _, out, _ = run(capsys, str(AUDIT / "suppressed.prototxt"))
    assert "CF210" not in out
    _, out, _ = run(capsys, "--ignore", "CF210", str(net))
    assert "CF210" not in out
