"""Estimate what a run needs before allocating anything, and refuse past a cap.

The estimate follows :func:`caffefill.drawing.iter_blobs` as ``caffefill
init`` runs it (``lazy=True``, see :mod:`caffefill.streaming`): the
drawing thread's pool of piece buffers is always there; a blob of a
streaming layer whose filler draws one value per position lives only in
those pieces while the writer streams it (.npz, .npy, .caffemodel; .h5
takes whole arrays), and other blobs of streaming layers are whole arrays,
at most AHEAD_BYTES of them (or one larger) drawn ahead.  A layer that does
not stream is drawn once the writer holds nothing: its fills are all alive
until its blobs have been handed to the writer, one thrown-away fill (a
DummyData top, an unrolled recurrent net's copies) at a time is alive
beside them, and blobs that a later layer shares stay until the end.
Thrown-away fills that draw nothing (constant, bilinear) are never
allocated.  The estimate reads the model only (no blob is allocated), and a
layer's repeated draws are read as runs, so it is quick for any net.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from . import streaming
from .errors import CaffefillError
from .profiles import DEFAULT_PROFILE, Profile
from .streaming import STREAMING_FORMATS, shared_owners, streams_blobs

#: What the process holds besides the run's arrays: interpreter, numpy, protobuf.
OVERHEAD = 64 * 2**20
#: The run's own small allocations beside its arrays and buffers: the model,
#: the writer's buffers, Python objects (measured under 3 MiB on AlexNet;
#: tests/test_memory.py holds :func:`held_bytes` above the traced peak).
SLACK = 4 * 2**20
#: Largest size :func:`parse_size` accepts (1 EiB): past it a value is a typo.
MAX_SIZE = 2**60
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50}
#: Where a container's memory limit is (cgroup v2, then v1).
CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def available_memory() -> int:
    """The memory this process may use: physical RAM, lowered by a container's
    (cgroup) limit and by ``ulimit -v`` / ``-d`` (RLIMIT_AS, RLIMIT_DATA).

    Past a cgroup limit the kernel kills the process without a word, so the
    default cap (half of this) must see it.
    """
    limits: list[int] = []
    with contextlib.suppress(ValueError, OSError, AttributeError):
        limits.append(int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")))
    for path in CGROUP_LIMITS:
        try:
            text = Path(path).read_text(encoding="ascii").strip()
        except (OSError, ValueError):
            continue
        if text.isdigit():  # "max" (v2) means none
            limits.append(int(text))
    try:
        import resource

        for name in ("RLIMIT_AS", "RLIMIT_DATA"):
            soft, _hard = resource.getrlimit(getattr(resource, name))
            if soft != resource.RLIM_INFINITY and soft > 0:
                limits.append(int(soft))
    except (ImportError, AttributeError, ValueError, OSError):
        pass
    positive = [n for n in limits if n > 0]
    return min(positive) if positive else 8 * 2**30


def parse_size(text: str) -> int:
    """A size in bytes: ``512M``, ``8G``, ``1.5GiB``, ``65536`` (units are powers of 1024).

    Raises ValueError, with a message fit for the user, on anything that is
    not a finite positive size of at most :data:`MAX_SIZE` bytes."""
    raw = text.strip().lower()
    raw = raw.removesuffix("ib") if raw.endswith("ib") else raw.removesuffix("b")
    unit = raw[-1:] if raw[-1:] in _UNITS else ""
    number = raw[:len(raw) - len(unit)].strip()
    try:
        value = float(number) * _UNITS[unit]
    except ValueError:
        raise ValueError(f"not a size: {text!r} (e.g. 8G, 512M, 65536)") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"not a size: {text!r} (it must be a finite number of bytes)")
    if value < 1:
        raise ValueError(f"size {text!r} is not positive")
    if value > MAX_SIZE:
        raise ValueError(f"size {text!r} is past {MAX_SIZE // 2**60} EiB")
    return int(value)


def _bytes(shape: Any) -> int:
    count = 1
    for d in shape:
        count *= int(d)
    return 4 * count


def _draws(filler: Any) -> bool:
    from .fillers import SPECS  # here: --max-memory's size and default need no numpy

    spec = SPECS.get(filler.type)
    return spec is None or spec.draws  # an unknown type is refused when it is run


def _by_piece(filler: Any, profile: Profile) -> bool:
    from .fillers import SPECS

    spec = SPECS.get(filler.type)
    return spec is not None and spec.by_piece(filler, profile)


def _thrown_away_bytes(layer: Any) -> int:
    """The largest fill of ``layer`` whose values are drawn and thrown away."""
    from .net.spec import FillDraw, draw_runs

    largest = 0
    for pattern, _times in draw_runs(layer.draws):
        for draw in pattern:
            if isinstance(draw, FillDraw) and draw.blob is None and _draws(draw.filler):
                largest = max(largest, _bytes(draw.shape))
    return largest


def _streaming_layer_bytes(layer: Any, whole_writer: bool, profile: Profile) -> int:
    """Peak bytes, beyond the piece pool, while a streaming layer is written."""
    whole = [_bytes(spec.shape) for spec in layer.blobs
             if spec.filler is None or not _by_piece(spec.filler, profile)]
    gathered = max((_bytes(spec.shape) for spec in layer.blobs), default=0) \
        if whole_writer else 0  # a writer that asks for whole arrays gathers the pieces
    held = max(max(whole), streaming.AHEAD_BYTES) if whole else 0
    return held + gathered


def estimate_bytes(model: Any, fmt: str | None, *, lazy: bool = True,
                   profile: Profile = DEFAULT_PROFILE) -> int:
    """Peak bytes of the process for writing the net's blobs into ``fmt`` (None:
    all kept in memory), drawing them as ``iter_blobs(..., lazy=lazy)`` does."""
    return held_bytes(model, fmt, lazy=lazy, profile=profile) + OVERHEAD


def held_bytes(model: Any, fmt: str | None, *, lazy: bool = True,
               profile: Profile = DEFAULT_PROFILE) -> int:
    """Peak bytes the run itself allocates (arrays, piece buffers, :data:`SLACK`),
    what :mod:`tracemalloc` sees of it."""
    owners = shared_owners(model)
    shared = sum(4 * int(model.layers[i].blobs[j].count) for i, j in owners)
    if fmt is None:
        total = sum(4 * int(spec.count) for layer in model.layers for spec in layer.blobs)
        thrown = max((_thrown_away_bytes(layer) for layer in model.layers), default=0)
        return total + thrown + SLACK
    whole_writer = fmt not in STREAMING_FORMATS
    pool = streaming.POOL_BYTES if lazy else 0
    peak = 0
    for layer in model.layers:
        if lazy and streams_blobs(model, layer, owners):
            need = _streaming_layer_bytes(layer, whole_writer, profile)
        else:
            need = sum(4 * int(spec.count) for spec in layer.blobs) + _thrown_away_bytes(layer)
        peak = max(peak, need)
    return pool + peak + shared + SLACK


def check_memory(model: Any, fmt: str | None, limit: int,
                 profile: Profile = DEFAULT_PROFILE) -> int:
    """Refuse (CaffefillError) when the estimate is above ``limit`` bytes; returns it."""
    need = estimate_bytes(model, fmt, profile=profile)
    if need > limit:
        raise CaffefillError(
            f"this run needs about {_gib(need)} of memory, above the cap of {_gib(limit)}; "
            f"raise it with --max-memory SIZE (e.g. --max-memory "
            f"{max(1, int(need / 2**30) + 1)}G)", path=model.path)
    return need


def check_blob_memory(shape: Any, limit: int) -> int:
    """``caffefill fill``: one blob of ``shape`` (float32) against ``limit`` bytes."""
    need = _bytes(shape) + OVERHEAD
    if need > limit:
        raise CaffefillError(
            f"a blob of shape {list(shape)} needs about {_gib(need)} of memory, above the cap "
            f"of {_gib(limit)}; raise it with --max-memory SIZE (e.g. --max-memory "
            f"{max(1, int(need / 2**30) + 1)}G)")
    return need


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"
