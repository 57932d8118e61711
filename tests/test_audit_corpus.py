"""caffefill audit over the real-world corpus in ../shared (skipped when absent)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
from conftest import SHARED

from caffefill.audit import AuditOptions, audit_path
from caffefill.cli import main

pytestmark = [pytest.mark.needs_shared, pytest.mark.slow]


def corpus_files() -> list[Path]:
    root = SHARED / "corpus"
    with open(root / "MANIFEST.tsv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [root / row["file"] for row in rows if (root / row["file"]).exists()]


def test_every_corpus_file_is_audited_without_error() -> None:
    files = corpus_files()
    assert files
    counts: Counter[str] = Counter()
    for path in files:
        for phase in ("TRAIN", "TEST"):
            report = audit_path(str(path), AuditOptions(phase=phase))
            assert report.error is None, report.error
            for finding in report.findings:
                counts[finding.code] += 1
                assert "failed:" not in finding.message, finding.text()
                if finding.severity != "note":
                    assert finding.line is not None and finding.line >= 1, finding.text()
    assert counts


def test_known_findings() -> None:
    root = SHARED / "corpus"
    v1 = root / "BVLC__caffe" / "models__bvlc_googlenet__train_val.V1_at_11a4c16.prototxt"
    found = audit_path(str(v1), AuditOptions()).findings
    codes = Counter(f.code for f in found)
    assert codes["CF303"] == 1  # V1 syntax
    assert codes["CF201"] > 50  # xavier with an ignored std, everywhere
    fcn = root / "shelhamer__fcn.berkeleyvision.org" / "voc-fcn32s__train.prototxt"
    found = audit_path(str(fcn), AuditOptions()).findings
    assert not [f for f in found if f.severity == "error"]  # no fillers: weights are loaded


def test_cli_over_the_whole_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    root = SHARED / "corpus"
    for fmt in ("text", "json", "sarif"):
        status = main(["audit", str(root), "--format", fmt])
        out, err = capsys.readouterr()
        assert status in (0, 1), err
        assert "Traceback" not in out + err


def test_corpus_findings_match_the_committed_snapshot() -> None:
    """Every finding over the corpus, with the per-file inputs of
    tests/data/corpus_audit/caffefill.toml, is the committed one (regenerate
    with `python3 tools/audit_snapshot.py` when a change is meant)."""
    import importlib.util

    root = SHARED / "corpus"
    tool = Path(__file__).resolve().parents[1] / "tools" / "audit_snapshot.py"
    spec = importlib.util.spec_from_file_location("audit_snapshot", tool)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fresh = module.snapshot(root).splitlines()
    committed = module.SNAPSHOT.read_text(encoding="utf-8").splitlines()
    assert fresh == committed
    # With the configuration's inputs, Caffe's refusals are real ones only, and
    # the shape rules run on nearly every file.
    assert not [line for line in fresh if " CF100 " in line]
    skipped = [line for line in fresh if "shape rules skipped" in line]
    assert len(skipped) <= 2, skipped
