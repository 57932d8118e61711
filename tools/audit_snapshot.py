#!/usr/bin/env python3
"""The audit's findings over the shared corpus, as one committed snapshot.

    python3 tools/audit_snapshot.py           # rewrite tests/data/corpus_audit/snapshot.txt
    python3 tools/audit_snapshot.py --check   # exit 1 when the snapshot is out of date

The corpus (``../shared/corpus``, or ``$CAFFEFILL_SHARED/corpus``) is audited
in the TRAIN phase with ``tests/data/corpus_audit/caffefill.toml`` (per-file
input shapes); paths are written relative to the corpus, one finding a line.
tests/test_audit_corpus.py compares the snapshot with a fresh run.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "tests" / "data" / "corpus_audit" / "caffefill.toml"
SNAPSHOT = CONFIG.with_name("snapshot.txt")


def corpus() -> Path:
    shared = Path(os.environ.get("CAFFEFILL_SHARED", ROOT.parent / "shared"))
    return shared / "corpus"


def snapshot(folder: Path) -> str:
    """Every finding and note of the corpus, relative paths, sorted."""
    from caffefill.audit.config import load_config
    from caffefill.audit.context import AuditOptions
    from caffefill.audit.engine import Selection, audit_path, collect

    config = load_config(CONFIG)
    assert config is not None
    files, missing = collect([str(folder)])
    assert not missing, missing
    lines = []
    for path in files:
        options = AuditOptions(phase="TRAIN", inputs=config.inputs_for(path))
        report = audit_path(path, options, Selection())
        rel = os.path.relpath(path, folder)
        if report.error is not None:
            lines.append(f"{rel}: unreadable: {report.error.replace(path, rel)}")
        for finding in report.findings:
            lines.append(finding.text().replace(path, rel, 1))
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    folder = corpus()
    if not folder.is_dir():
        print(f"{folder}: no corpus here", file=sys.stderr)
        return 2
    text = snapshot(folder)
    if args.check:
        current = SNAPSHOT.read_text(encoding="utf-8") if SNAPSHOT.exists() else ""
        if current != text:
            print(f"{SNAPSHOT} is out of date: run python3 tools/audit_snapshot.py",
                  file=sys.stderr)
            return 1
        return 0
    SNAPSHOT.write_text(text, encoding="utf-8")
    print(f"wrote {SNAPSHOT} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
