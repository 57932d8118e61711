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


#: The vector levels this CPU has below its own (the default, tested above):
#: 0 is the portable code (what CPUs without AVX2 run), 1 AVX2 on a CPU with AVX-512.
LOWER_LEVELS = list(range(_core.simd_level()))


@pytest.fixture(params=LOWER_LEVELS, ids=lambda level: f"level{level}")
def lower_level(request: pytest.FixtureRequest) -> Iterator[int]:
    """The C core capped at a lower vector level than the CPU's own."""
    was = _core.simd_level()
    _core.simd_level(request.param)
    try:
        yield request.param
    finally:
        _core.simd_level(was)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_golden_filler_lower_levels(case: dict[str, Any], lower_level: int) -> None:
    assert _core.simd_level() == lower_level
    check_golden_filler(case, DATA / "fillers")


def test_cases_cover_every_filler_and_the_rare_paths() -> None:
    types = {caffefill.fillers.parse_filler(c["filler"]).type for c in CASES}
    assert {name for name, spec in caffefill.fillers.SPECS.items() if spec.caffe} <= types
    assert max(c.get("count", 0) for c in CASES) > 10_000_000  # ziggurat tail draws
