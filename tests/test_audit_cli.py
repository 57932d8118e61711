"""caffefill audit on the command line: formats, selection, suppression, exit codes."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA

from caffefill.audit import RULES
from caffefill.audit.report import SARIF_SCHEMA
from caffefill.cli import main

AUDIT = DATA / "audit"
BAD = str(AUDIT / "bad.prototxt")
CLEAN = str(AUDIT / "clean.prototxt")
WARNINGS = str(AUDIT / "warnings.prototxt")
LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<code>CF\d{3}) "
                  r"(?P<severity>error|warning|info) (\[(?P<layer>[^\]]+)\] )?(?P<message>.+)$")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["audit", *args])
    out, err = capsys.readouterr()
    return status, out, err


# ---------------------------------------------------------------- text


def test_text_output_one_finding_a_line_then_a_summary(capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    status, out, err = run(capsys, BAD)
    lines = out.strip().splitlines()
    assert status == 1 and err == ""
    parsed = [LINE.match(line) for line in lines[:-1]]
    assert all(parsed), lines
    found = {(m["code"], m["severity"], m["layer"], int(m["line"]), int(m["col"]))
             for m in parsed if m}
    assert found == {("CF201", "warning", "conv1", 17, 5), ("CF301", "info", "conv1", 17, 5),
                     ("CF103", "error", "fc", 28, 5)}
    assert lines[-1] == "caffefill audit: 1 error, 1 warning, 1 info in 1 file"


def test_clean_file(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, CLEAN)
    assert status == 0
    assert out.strip() == "caffefill audit: no findings in 1 file"


def test_show_fixes(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, BAD, "--show-fixes")
    assert "(fix: remove std" in out


def test_directories_are_searched_for_prototxt(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, str(AUDIT / "tree"))
    assert status == 0
    assert "b.prototxt:17:5: CF201 warning [conv1]" in out
    assert out.strip().endswith("in 2 files")


# ---------------------------------------------------------------- exit codes


def test_fail_on(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, WARNINGS)[0] == 0
    assert run(capsys, WARNINGS, "--fail-on", "warning")[0] == 1
    assert run(capsys, WARNINGS, "--fail-on", "info")[0] == 1
    assert run(capsys, CLEAN, "--fail-on", "info")[0] == 0


def test_unreadable_file_is_exit_2_but_the_others_are_audited(
        capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, str(AUDIT / "broken.pt"), BAD)
    assert status == 2
    assert err.strip().splitlines() == [
        f"{AUDIT / 'broken.pt'}:5:1: end of file inside the block opened at line 2, column 7: "
        f"expected '}}'"]
    assert "CF103 error [fc]" in out
    assert "(1 file could not be read)" in out
    assert "Traceback" not in out + err


def test_missing_path_is_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run(capsys, str(tmp_path / "nope.prototxt"), CLEAN)
    assert status == 2 and "no such file" in err


@pytest.mark.parametrize("args", [
    [], ["--select", "XY1", CLEAN], ["--ignore", "CF9", CLEAN], ["--explain", "CF999"],
    ["--caffe", "1.0", "--boost", "nonsense", CLEAN],
])
def test_usage_errors_are_exit_2(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    status, _, err = run(capsys, *args)
    assert status == 2 and err


def test_argparse_errors_are_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["--format", "xml", CLEAN], ["--signal-threshold", "0.5", CLEAN],
                 ["--input", "nonsense", CLEAN]):
        with pytest.raises(SystemExit) as info:
            main(["audit", *args])
        assert info.value.code == 2
    capsys.readouterr()


# ---------------------------------------------------------------- selection, suppression


def _codes(out: str) -> list[str]:
    return [m["code"] for m in map(LINE.match, out.splitlines()) if m]


def test_select_and_ignore_with_prefixes(capsys: pytest.CaptureFixture[str]) -> None:
    assert sorted(_codes(run(capsys, BAD, "--select", "CF2,CF3")[1])) == ["CF201", "CF301"]
    assert _codes(run(capsys, BAD, "--select", "CF103")[1]) == ["CF103"]
    assert sorted(_codes(run(capsys, BAD, "--ignore", "CF1")[1])) == ["CF201", "CF301"]
    status, out, _ = run(capsys, BAD, "--select", "CF2", "--ignore", "CF201")
    assert _codes(out) == [] and status == 0
    assert run(capsys, BAD, "--ignore", "cf103")[0] == 0  # codes are case-insensitive


def test_inline_suppression(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, str(AUDIT / "suppressed.prototxt"))
    assert status == 0
    assert _codes(out) == []
    assert out.strip() == "caffefill audit: no findings in 1 file"


def test_suppression_parsing() -> None:
    from caffefill.audit.suppress import WHOLE_FILE, Directive, suppressions

    table = suppressions('a # caffefill: ignore[CF201]\n'
                         'name: "x # caffefill: ignore[CF101]"\n'
                         "b #caffefill:ignore[ cf1 , CF305 ]\n"
                         "c # caffefill: ignore[]\n"
                         "# caffefill: ignore-file[CF3]\n")
    assert table == {1: frozenset({Directive(1, "CF201")}),
                     3: frozenset({Directive(3, "CF1"), Directive(3, "CF305")}),
                     WHOLE_FILE: frozenset({Directive(5, "CF3", whole_file=True)})}


def test_notes_for_skipped_rules(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(AUDIT / "needs_input.prototxt")
    status, out, _ = run(capsys, path)
    assert status == 0
    assert f"{path}: note: shape rules skipped (layer 'data' needs --input data=N,C,H,W): " \
           in out
    assert "CF202" in out.splitlines()[0]
    status, out, _ = run(capsys, path, "--input", "data=1,28,28")
    assert "note:" not in out
    assert "CF202 warning [conv1]" in out
    _, out, _ = run(capsys, path, "--ignore", "CF000")
    assert "note:" not in out


# ---------------------------------------------------------------- JSON


def test_json_is_a_list_of_findings(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, BAD, str(AUDIT / "needs_input.prototxt"), "--format", "json")
    assert status == 1
    data = json.loads(out)
    assert isinstance(data, list)
    keys = {"path", "line", "column", "code", "severity", "layer", "message", "fix"}
    for item in data:
        assert set(item) == keys
    by_code = {item["code"]: item for item in data}
    assert by_code["CF103"] == {
        "path": BAD, "line": 28, "column": 5, "code": "CF103", "severity": "error",
        "layer": "fc", "message": by_code["CF103"]["message"], "fix": None}
    assert by_code["CF201"]["fix"].startswith("remove std")
    note = by_code["CF000"]
    assert note["severity"] == "note" and note["line"] is None
    assert "needs --input" in note["message"]


# ---------------------------------------------------------------- SARIF


def _check_sarif(log: dict[str, Any]) -> None:
    """The parts of the SARIF 2.1.0 schema that code scanners rely on."""
    assert log["version"] == "2.1.0"
    assert log["$schema"] == SARIF_SCHEMA and "sarif-schema-2.1.0" in log["$schema"]
    assert isinstance(log["runs"], list) and len(log["runs"]) == 1
    run_ = log["runs"][0]
    driver = run_["tool"]["driver"]
    assert driver["name"] == "caffefill" and isinstance(driver["version"], str)
    ids = [rule["id"] for rule in driver["rules"]]
    assert ids == [*(rule.code for rule in RULES), "CF000"]
    base = run_["originalUriBaseIds"]["SRCROOT"]["uri"]
    assert base.startswith("file:///") and base.endswith("/")
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"]
        assert rule["help"]["text"] and rule["help"]["markdown"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
    for result in run_["results"]:
        assert result["ruleId"] in ids
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note", "none")
        assert isinstance(result["message"]["text"], str) and result["message"]["text"]
        assert result["locations"]
        assert len(result["partialFingerprints"]["caffefill/v1"]) == 32
        for location in result["locations"]:
            physical = location["physicalLocation"]
            artifact = physical["artifactLocation"]
            assert isinstance(artifact["uri"], str)
            assert artifact.get("uriBaseId") == "SRCROOT" or artifact["uri"].startswith("file:")
            region = physical.get("region")
            if region is not None:
                assert region["startLine"] >= 1 and region.get("startColumn", 1) >= 1
    for invocation in run_["invocations"]:
        assert isinstance(invocation["executionSuccessful"], bool)
        for note in invocation["toolExecutionNotifications"]:
            assert note["level"] in ("error", "warning", "note", "none")
            assert note["message"]["text"]


def test_sarif_structure(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, BAD, str(AUDIT / "needs_input.prototxt"), "--format", "sarif")
    assert status == 1
    log = json.loads(out)
    _check_sarif(log)
    results = log["runs"][0]["results"]
    levels = {r["ruleId"]: r["level"] for r in results}
    assert levels == {"CF103": "error", "CF201": "warning", "CF301": "note"}
    cf103 = next(r for r in results if r["ruleId"] == "CF103")
    region = cf103["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (28, 5)
    assert cf103["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith(
        "tests/data/audit/bad.prototxt")
    notes = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert len(notes) == 1 and "needs --input" in notes[0]["message"]["text"]
    assert log["runs"][0]["invocations"][0]["executionSuccessful"] is True


def test_sarif_with_a_read_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, str(AUDIT / "broken.pt"), "--format", "sarif")
    assert status == 2
    log = json.loads(out)
    _check_sarif(log)
    invocation = log["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"][0]["level"] == "error"
    (result,) = log["runs"][0]["results"]  # the unreadable file is a result too
    assert result["ruleId"] == "CF000" and result["level"] == "error"


def test_sarif_uris_are_relative_and_fingerprints_survive_line_moves(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nets").mkdir()
    text = (AUDIT / "bad.prototxt").read_text()
    (tmp_path / "nets" / "a b.prototxt").write_text(text)
    _, out, _ = run(capsys, "--format", "sarif", "nets")
    first = json.loads(out)["runs"][0]["results"]
    artifact = first[0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": "nets/a%20b.prototxt", "uriBaseId": "SRCROOT"}
    (tmp_path / "nets" / "a b.prototxt").write_text("# a new first line\n" + text)
    _, out, _ = run(capsys, "--format", "sarif", "nets")
    moved = json.loads(out)["runs"][0]["results"]
    assert [r["partialFingerprints"] for r in moved] == [r["partialFingerprints"] for r in first]
    assert [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in moved] == \
        [r["locations"][0]["physicalLocation"]["region"]["startLine"] + 1 for r in first]


# ---------------------------------------------------------------- documentation


def test_explain_prints_the_docstring(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--explain", "cf201")
    assert status == 0
    assert out.startswith("CF201 ignored-filler-field (warning)")
    for section in ("## What it does", "## Why is this bad?", "## Example", "## Use instead"):
        assert section in out
    status, out, _ = run(capsys, "--explain", "CF000")
    assert status == 0 and "note" in out


def test_list_rules(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--list-rules")
    assert status == 0
    assert [line.split()[0] for line in out.splitlines()] == [rule.code for rule in RULES]


def test_docs_rules_md_is_current() -> None:
    import importlib.util

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("gen_rules_doc",
                                                  root / "tools" / "gen_rules_doc.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    current = (root / "docs" / "rules.md").read_text(encoding="utf-8")
    assert current == module.render(), "run: python3 tools/gen_rules_doc.py"


def test_sarif_help_uri_points_at_each_rules_section(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from caffefill.audit import report

    monkeypatch.setattr(report, "repository_url", lambda: "https://example.org/x/caffefill/")
    status, out, _ = run(capsys, CLEAN, "--format", "sarif")
    rules = json.loads(out)["runs"][0]["tool"]["driver"]["rules"]
    doc = (Path(__file__).parents[1] / "docs" / "rules.md").read_text()
    headings = {"-".join(line[3:].lower().split()) for line in doc.splitlines()
                if line.startswith("## ")}
    base = "https://example.org/x/caffefill/blob/HEAD/docs/rules.md#"
    for rule in rules:
        assert rule["helpUri"].startswith(base)
        assert rule["helpUri"][len(base):] in headings, rule["id"]
    assert status == 0


def test_sarif_without_a_repository_url_has_no_help_uri(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from caffefill.audit import report

    monkeypatch.setattr(report, "repository_url", lambda: None)
    _, out, _ = run(capsys, CLEAN, "--format", "sarif")
    rules = json.loads(out)["runs"][0]["tool"]["driver"]["rules"]
    assert rules and not any("helpUri" in rule for rule in rules)


def test_repository_url_reads_the_package_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata
    from email.message import Message

    from caffefill.audit import report

    meta = Message()
    meta["Project-URL"] = "Documentation, https://docs.example.org"
    meta["Project-URL"] = "Repository, https://example.org/caffefill"
    monkeypatch.setattr(importlib.metadata, "metadata", lambda name: meta)
    assert report.repository_url() == "https://example.org/caffefill"
    monkeypatch.setattr(importlib.metadata, "metadata", lambda name: Message())
    assert report.repository_url() is None


#: Where the worker processes of the test below write their process ids.
_PIDS: list[Path] = []


def _job_recording_its_process(job: Any) -> Any:
    from caffefill.audit.engine import audit_path

    with open(_PIDS[0], "a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()}\n")
    return audit_path(*job)


def test_many_files_are_audited_on_every_core_in_the_same_order(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from caffefill.audit import engine

    folder = tmp_path / "nets"
    for i, source in enumerate(sorted(AUDIT.glob("*.prototxt")) * 3):
        sub = folder / f"d{i % 4}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{i:02d}_{source.name}").write_bytes(source.read_bytes())
    calls: list[int] = []
    real = engine.audit_paths

    def counting(jobs: Any) -> Any:
        calls.append(len(jobs))
        return real(jobs)

    monkeypatch.setattr("caffefill.audit.engine.audit_paths", counting)
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 10**18)
    serial = run(capsys, str(folder), "--format", "json")
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 1)
    monkeypatch.setattr(engine, "usable_cores", lambda: 2)
    monkeypatch.setattr(engine, "_audit_job", _job_recording_its_process)
    monkeypatch.setattr(sys.modules[__name__], "_PIDS", [tmp_path / "pids"])
    parallel = run(capsys, str(folder), "--format", "json")
    assert calls == [len(calls) and calls[0]] * 2 and calls[0] >= 6
    assert parallel == serial
    pids = set((tmp_path / "pids").read_text().split())
    assert len(pids) == 2 and str(os.getpid()) in pids  # here and in a forked worker
    assert json.loads(serial[1])  # there are findings to compare


def test_files_are_audited_with_the_collector_paused_and_their_cycles_collected(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cyclic garbage collector is off while files are audited (it would
    rescan each net's objects while they are built), the garbage each file
    leaves in reference cycles is collected after it, and the collector's state
    is restored afterwards, also when a file fails."""
    import gc
    import weakref

    from caffefill.audit import engine
    from caffefill.audit.context import AuditOptions

    class Held:
        """An object in a reference cycle (an exception kept with its frames)."""

        def __init__(self) -> None:
            self.me = self

    states: list[bool] = []
    cycles: list[weakref.ref[Held]] = []
    alive: list[bool] = []

    def audit_path(path: str, options: Any, selection: Any) -> engine.FileReport:
        states.append(gc.isenabled())
        alive.extend(ref() is not None for ref in cycles)
        cycles.append(weakref.ref(Held()))
        if path == "boom":
            raise RuntimeError(path)
        return engine.FileReport(path)

    monkeypatch.setattr(engine, "audit_path", audit_path)
    jobs = [(f"n{i}", AuditOptions(), engine.EVERYTHING) for i in range(3)]
    assert gc.isenabled()
    reports = engine.audit_paths(jobs)
    assert [r.path for r in reports] == ["n0", "n1", "n2"]
    assert states == [False] * 3 and gc.isenabled()
    assert alive == [False, False, False]  # each file's cycle was gone before the next one
    with pytest.raises(RuntimeError):
        engine.audit_paths([("boom", AuditOptions(), engine.EVERYTHING)])
    assert gc.isenabled()
    gc.disable()
    try:
        engine.audit_paths(jobs)
        assert not gc.isenabled()  # left as it was found
    finally:
        gc.enable()


def test_parallel_reports_keep_the_order_of_the_files_whatever_their_sizes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers take the largest files first; the reports still come in the order given."""
    from caffefill.audit import engine
    from caffefill.audit.context import AuditOptions

    paths = []
    for i, size in enumerate((10, 5000, 1, 300, 0, 70000)):
        path = tmp_path / f"{i}.prototxt"
        path.write_text("#" * size, encoding="utf-8")
        paths.append(str(path))
    paths.append(str(tmp_path / "missing.prototxt"))
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 1)
    monkeypatch.setattr(engine, "usable_cores", lambda: 2)
    reports = engine.audit_paths([(p, AuditOptions(), engine.EVERYTHING) for p in paths])
    assert [r.path for r in reports] == paths


def test_little_work_stays_in_this_process_and_more_is_split(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker processes start only when the files are worth their start: a net
    or two stay in this process, a corpus-sized folder does not."""
    from caffefill.audit import engine
    from caffefill.audit.context import AuditOptions

    monkeypatch.setattr(engine, "usable_cores", lambda: 2)
    monkeypatch.setattr(engine, "_audit_job", _job_recording_its_process)
    monkeypatch.setattr(sys.modules[__name__], "_PIDS", [tmp_path / "pids"])
    few = [str(AUDIT / "bad.prototxt"), str(AUDIT / "clean.prototxt")]
    engine.audit_paths([(p, AuditOptions(), engine.EVERYTHING) for p in few])
    assert set((tmp_path / "pids").read_text().split()) == {str(os.getpid())}
    (tmp_path / "pids").unlink()
    big = tmp_path / "big.prototxt"
    big.write_text("#" * engine.PARALLEL_MIN_WORK, encoding="utf-8")
    engine.audit_paths([(p, AuditOptions(), engine.EVERYTHING) for p in [*few, str(big)]])
    pids = set((tmp_path / "pids").read_text().split())
    assert len(pids) == 2 and str(os.getpid()) in pids  # this process takes a share too
