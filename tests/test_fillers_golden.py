"""Every single-filler case Caffe wrote (Caffe 1.0, Boost 1.74) is reproduced bit for bit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import DATA, load_jsonl, sha256_f32

import caffefill

CASES = load_jsonl(DATA / "fillers" / "fillers.jsonl")


def _id(case: dict[str, Any]) -> str:
    return f"{case['id']}-{case['filler']}-{case['shape']}-s{case['seed']}"


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_golden_filler(case: dict[str, Any]) -> None:
    if case["expect"] == "error":
        with pytest.raises(caffefill.FillerError) as info:
            caffefill.fill(case["filler"], case["shape"], seed=case["seed"])
        assert info.value.caffe_message == case["error"]
        return
    values = caffefill.fill(case["filler"], case["shape"], seed=case["seed"])
    assert values.dtype == np.float32
    assert values.shape == tuple(case["shape"])
    assert values.flags.c_contiguous
    if case.get("data_file"):
        expected = np.fromfile(DATA / "fillers" / case["data_file"], dtype="<f4")
        np.testing.assert_array_equal(values.ravel(), expected)
    else:
        np.testing.assert_array_equal(values.ravel()[:8], np.float32(case["head"]))
        np.testing.assert_array_equal(values.ravel()[-8:], np.float32(case["tail"]))
    assert values.size == case["count"]
    assert sha256_f32(values) == case["sha256"]


def test_cases_cover_every_filler_and_the_rare_paths() -> None:
    types = {caffefill.fillers.parse_filler(c["filler"]).type for c in CASES}
    assert set(caffefill.fillers.FILLERS) <= types
    assert max(c.get("count", 0) for c in CASES) > 10_000_000  # ziggurat tail draws
