"""Shared helpers for the test suite: where the data lives, how to hash."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"
SHARED = Path(os.environ.get("CAFFEFILL_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def sha256_f32(array: np.ndarray) -> str:
    """SHA-256 of the values as little-endian float32 bytes, in C order."""
    return hashlib.sha256(np.ascontiguousarray(array, dtype="<f4").tobytes()).hexdigest()


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``needs_shared`` read ../shared (or $CAFFEFILL_SHARED):
    skipped, with one reason, when it is absent."""
    if SHARED.is_dir():
        return
    skip = pytest.mark.skip(reason=f"{SHARED} is absent (reference data and corpus)")
    for item in items:
        if item.get_closest_marker("needs_shared") is not None:
            item.add_marker(skip)


def check_golden_filler(case: dict[str, Any], folder: Path) -> None:
    """One record of a reference fillers.jsonl: equal values and SHA-256, or
    Caffe's refusal (same CHECK text).  Records may name a Caffe profile."""
    import caffefill

    profile = {k: case[k] for k in ("caffe", "boost") if k in case}
    if case["expect"] == "error":
        with pytest.raises(caffefill.FillerError) as info:
            caffefill.fill(case["filler"], case["shape"], seed=case["seed"], **profile)
        assert info.value.caffe_message == case["error"]
        return
    values = caffefill.fill(case["filler"], case["shape"], seed=case["seed"], **profile)
    assert values.dtype == np.float32
    assert values.shape == tuple(case["shape"])
    assert values.flags.c_contiguous
    if case.get("data_file"):
        # Whole arrays first, so a failure shows where the first value differs.
        expected = np.fromfile(folder / case["data_file"], dtype="<f4")
        np.testing.assert_array_equal(values.ravel(), expected)
    else:
        np.testing.assert_array_equal(values.ravel()[:8], np.float32(case["head"]))
        np.testing.assert_array_equal(values.ravel()[-8:], np.float32(case["tail"]))
    assert values.size == case["count"]
    assert sha256_f32(values) == case["sha256"]
