"""Estimate what a run needs before allocating anything, and refuse past a cap."""

from __future__ import annotations

from typing import Any

from .errors import CaffefillError

OVERHEAD = 64 * 2**20  # interpreter, numpy, protobuf


def estimate_bytes(model: Any, fmt: str | None) -> int:
    """Peak bytes for streaming the net's blobs into ``fmt`` (None: all in memory)."""
    largest = 0
    total = 0
    for layer in model.layers:
        for draw in layer.draws:
            count = 1
            for d in getattr(draw, "shape", ()):
                count *= int(d)
            largest = max(largest, 4 * count)
        for spec in layer.blobs:
            total += 4 * spec.count
            largest = max(largest, 4 * spec.count)
    shared = 0
    for layer in model.layers:
        for index, spec in enumerate(layer.blobs):
            if model.shared_owner(layer.index, index) is not None:
                shared += 4 * spec.count
    if fmt is None:
        return total + OVERHEAD
    # one blob being drawn, one being serialised, plus owners of shared params
    return 2 * largest + shared + OVERHEAD


def check_memory(model: Any, fmt: str | None, limit: int) -> int:
    need = estimate_bytes(model, fmt)
    if need > limit:
        raise CaffefillError(
            f"this run needs about {need / 2**30:.2f} GiB of memory, above the cap of "
            f"{limit / 2**30:.2f} GiB; raise it with --max-memory SIZE (e.g. --max-memory "
            f"{max(1, int(need / 2**30) + 1)}G)", path=model.path)
    return need
