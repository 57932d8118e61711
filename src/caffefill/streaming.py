"""When a blob can be drawn and written piece by piece: the one rule that
:mod:`caffefill.drawing` follows and :mod:`caffefill.memory` estimates from.

A layer's blobs stream when its draws are exactly one fill per blob, in blob
order, and none of its blobs is shared (a shared owner must be kept for the
layers that hold its values).  ``caffefill init`` draws the whole net on one
worker thread, ahead of the writer: a streaming blob of a filler that draws
one value per position (:attr:`caffefill.fillers.FillerSpec.by_piece`) is drawn
into a pool of :data:`POOL_PIECES` buffers of :data:`PIECE_VALUES` values
each, reused as the writer finishes with them, so memory stays near the
pool whatever the blob's size and drawing overlaps writing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .net.model import NetLayer, NetModel

#: Values per piece when a blob is drawn and written piece by piece.
PIECE_VALUES = 1 << 20  # 4 MiB of float32
#: Piece buffers the drawing thread cycles through: one being written, the
#: rest drawn ahead.
POOL_PIECES = 4
#: Bytes of the drawing thread's pool of piece buffers.
POOL_BYTES = POOL_PIECES * 4 * PIECE_VALUES
#: Bytes of whole arrays (blobs not drawn in pieces) the drawing thread may
#: have handed over and not had back; one array of any size is always allowed.
AHEAD_BYTES = 2 * 4 * PIECE_VALUES

#: Writers that take a blob piece by piece (:meth:`caffefill.drawing.FilledBlob.pieces`).
STREAMING_FORMATS = frozenset({"npz", "npy", "caffemodel", "safetensors"})


def shared_owners(model: NetModel) -> set[tuple[int, int]]:
    """(layer index, blob index) of every blob another layer shares."""
    return {
        owner
        for layer in model.layers
        for index in range(len(layer.blobs))
        if (owner := model.shared_owner(layer.index, index)) is not None
    }


def streams_blobs(model: NetModel, layer: NetLayer, owners: set[tuple[int, int]]) -> bool:
    """Whether ``layer``'s blobs can be drawn one by one as they are consumed
    (``owners``: :func:`shared_owners` of the model)."""
    from .net.spec import FillDraw, draw_runs  # here: readers import this module's sizes

    runs = draw_runs(layer.draws)
    if any(times != 1 for _, times in runs):
        return False  # repeated draws (an unrolled net's time steps): never one per blob
    draws = [d for pattern, _ in runs for d in pattern]  # read as runs: no expansion
    expected = [i for i, spec in enumerate(layer.blobs) if spec.filler is not None]
    fills = [d.blob for d in draws if isinstance(d, FillDraw)]
    return (len(fills) == len(draws) and fills == expected
            and not any((layer.index, i) in owners or model.shared_owner(layer.index, i)
                        for i in range(len(layer.blobs))))
