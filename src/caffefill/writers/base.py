"""What every writer shares: the blob protocol and the read-back result."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..errors import CaffefillError


class BlobLike(Protocol):
    """A filled blob: ``key`` is ``<layer>/<index>``; see caffefill.init.FilledBlob."""

    @property
    def key(self) -> str: ...

    array: np.ndarray
    index: int


@dataclass
class Weights:
    """Weights read back from a file: layer -> blobs, plus the file's metadata."""

    params: OrderedDict[str, list[np.ndarray]]
    meta: dict[str, Any] = field(default_factory=dict)


def split_key(key: str) -> tuple[str, int]:
    """``'inception_3a/1x1/0'`` -> ``('inception_3a/1x1', 0)``."""
    layer, sep, index = key.rpartition("/")
    if not sep or not index.isdigit():
        raise CaffefillError(f"not a <layer>/<index> weight key: {key!r}")
    return layer, int(index)
