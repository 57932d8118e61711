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


def shared_or_skip(*parts: str) -> Path:
    """A path under ../shared, or skip the test when the folder is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available (../shared is absent)")
    return path
