"""What the net model knows about a layer once it is set up.

These records are the contract between the layer registry (which computes
them, one entry per layer type), net initialisation (which draws them from
the stream) and the audit (which inspects them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Union

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
    is Caffe's default.
    """

    shape: Shape
    filler: pb.FillerParameter | None
    role: str = ""
    filler_field: str = ""

    @property
    def count(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


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


Draw = Union[FillDraw, RandDraw]


@dataclass
class LayerSetup:
    """What one layer's setup produces: top shapes, blobs, and its draws.

    When ``draws`` is None, the draws are one FillDraw per blob with a
    filler, in blob order (what almost every layer does).
    """

    tops: list[Shape]
    blobs: list[BlobSpec] = field(default_factory=list)
    draws: list[Draw] | None = None

    def draw_sequence(self) -> list[Draw]:
        if self.draws is not None:
            return self.draws
        return [
            FillDraw(blob.shape, blob.filler, index)
            for index, blob in enumerate(self.blobs)
            if blob.filler is not None
        ]


def shape_of(dims: Sequence[int]) -> Shape:
    return tuple(int(d) for d in dims)
