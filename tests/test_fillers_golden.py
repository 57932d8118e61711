"""Every single-filler case Caffe wrote (Caffe 1.0, Boost 1.74) is reproduced bit for bit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import DATA, check_golden_filler, load_jsonl

import caffefill
from caffefill import _core

CASES = load_jsonl(DATA / "fillers" / "fillers.jsonl")


def _id(case: dict[str, Any]) -> str:
    return f"{case['id']}-{case['filler']}-{case['shape']}-s{case['seed']}"


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_golden_filler(case: dict[str, Any]) -> None:
    check_golden_filler(case, DATA / "fillers")


@pytest.fixture
def portable_code() -> Iterator[None]:
    """The bulk fills on the portable code (what CPUs without AVX2 run)."""
    was = _core.bulk_simd()
    _core.bulk_simd(0)
    try:
        yield
    finally:
        _core.bulk_simd(int(was))


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_golden_filler_portable_code(case: dict[str, Any], portable_code: None) -> None:
    assert not _core.bulk_simd()
    check_golden_filler(case, DATA / "fillers")


def test_cases_cover_every_filler_and_the_rare_paths() -> None:
    types = {caffefill.fillers.parse_filler(c["filler"]).type for c in CASES}
    assert {name for name, spec in caffefill.fillers.SPECS.items() if spec.caffe} <= types
    assert max(c.get("count", 0) for c in CASES) > 10_000_000  # ziggurat tail draws
