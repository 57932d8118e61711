"""What the net model knows about a layer once it is set up.

These records are the contract between the layer registry (which computes
them, one entry per layer type), net initialisation (which draws them from
the stream) and the audit (which inspects them).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import overload

from .._proto import caffefill_pb2 as pb

Shape = tuple[int, ...]


@dataclass
class BlobSpec:
    """One learnable blob of a layer, in Caffe's blob order.

    ``filler`` is the FillerParameter Caffe applies at setup (after Caffe's
    defaults for a missing filler); ``None`` means the blob is zero-filled
    without drawing (BatchNorm's statistics).  ``role`` names the blob for
    people ("weight", "bias", "scale", "W_xc", ...).  ``filler_field`` is the
    name of the LayerParameter sub-field the filler came from, or "" when it
    is Caffe's default; ``filler_home`` the sub-field that holds this blob's
    filler in the prototxt whether it is set or not ("" when no field does:
    statistics, blobs a layer fills itself), where a filler override
    (:mod:`caffefill.overrides`) edits the prototxt.
    """

    shape: Shape
    filler: pb.FillerParameter | None
    role: str = ""
    filler_field: str = ""
    filler_home: str = ""

    @property
    def count(self) -> int:
        return math.prod(self.shape)


@dataclass
class FillDraw:
    """One filler call on the stream.

    ``blob`` is the index of the layer blob that keeps the result, or None
    when Caffe draws the values and throws them away (a DummyData top, an
    unrolled recurrent net's shared copies).
    """

    shape: Shape
    filler: pb.FillerParameter
    blob: int | None


@dataclass
class RandDraw:
    """``count`` raw ``caffe_rng_rand()`` draws (seeding a data layer's generators)."""

    count: int = 1
    reason: str = ""


Draw = FillDraw | RandDraw


class DrawRuns(Sequence[Draw]):
    """A layer's draws in order, kept as runs of a repeated pattern.

    An unrolled recurrent net makes the same draws once per time step, and a
    prototxt can ask for up to 2**31 time steps: this sequence holds each
    pattern once with its repeat count, so setting such a layer up (and
    ``show``, ``audit`` and the memory estimate, which read :meth:`runs`)
    costs no more than one time step.  Iterating or indexing it gives the
    individual draws in stream order, as a list would.
    """

    def __init__(self, runs: Iterable[tuple[Sequence[Draw], int]] = ()) -> None:
        self._runs: list[tuple[tuple[Draw, ...], int]] = []
        self._ends: list[int] = []
        for pattern, times in runs:
            self.append(pattern, times)

    def append(self, pattern: Sequence[Draw] | Draw, times: int = 1) -> None:
        """Add ``pattern`` (one draw or several, in order) repeated ``times`` times."""
        draws = (pattern,) if isinstance(pattern, (FillDraw, RandDraw)) else tuple(pattern)
        if times <= 0 or not draws:
            return
        self._runs.append((draws, int(times)))
        self._ends.append((self._ends[-1] if self._ends else 0) + len(draws) * int(times))

    def runs(self) -> list[tuple[tuple[Draw, ...], int]]:
        """(pattern, times) pairs in stream order."""
        return list(self._runs)

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    @overload
    def __getitem__(self, index: int) -> Draw: ...

    @overload
    def __getitem__(self, index: slice) -> list[Draw]: ...

    def __getitem__(self, index: int | slice) -> Draw | list[Draw]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        size = len(self)
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError("draw index out of range")
        run = bisect.bisect_right(self._ends, index)
        start = self._ends[run - 1] if run else 0
        pattern = self._runs[run][0]
        return pattern[(index - start) % len(pattern)]

    def __iter__(self) -> Iterator[Draw]:
        for pattern, times in self._runs:
            for _ in range(times):
                yield from pattern

    def __repr__(self) -> str:
        return f"DrawRuns({self._runs!r})"


def draw_runs(draws: Sequence[Draw]) -> list[tuple[tuple[Draw, ...], int]]:
    """``draws`` as (pattern, times) runs, without expanding a :class:`DrawRuns`."""
    if isinstance(draws, DrawRuns):
        return draws.runs()
    return [((draw,), 1) for draw in draws]


@dataclass(frozen=True)
class Window:
    """The window a convolution or pooling layer slides over its input's
    spatial axes, as its setup read it: kernel size, stride, and (for a
    convolution) padding and dilation per axis."""

    kernel: Shape
    stride: Shape
    pad: Shape = ()
    dilation: Shape = ()


@dataclass
class LayerSetup:
    """What one layer's setup produces: top shapes, blobs, and its draws.

    When ``draws`` is None, the draws are one FillDraw per blob with a
    filler, in blob order (what almost every layer does).  ``window``: the
    kernel and stride of a convolution or pooling layer.
    """

    tops: list[Shape]
    blobs: list[BlobSpec] = field(default_factory=list)
    draws: Sequence[Draw] | None = None
    window: Window | None = None

    def draw_sequence(self) -> Sequence[Draw]:
        if self.draws is not None:
            return self.draws
        return [
            FillDraw(blob.shape, blob.filler, index)
            for index, blob in enumerate(self.blobs)
            if blob.filler is not None
        ]
