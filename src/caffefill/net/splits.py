"""Caffe's automatic Split layers (``InsertSplits`` in Net::Init).

When one top feeds several bottoms (or feeds a bottom and is also a loss),
Caffe inserts a "Split" layer after the producer and renames the consumers'
bottoms to the split's tops.  Splits own no blobs and draw nothing, but they
are part of the net Caffe serialises, so the .caffemodel writer needs them.
Names follow Caffe: ``<blob>_<layer>_<top index>_split`` for the layer and
``..._split_<k>`` for its k-th top.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._proto import caffefill_pb2 as pb
from ..errors import ErrorKind, NetError

Position = tuple[int, int]


def split_layer_name(layer: str, blob: str, top_index: int) -> str:
    return f"{blob}_{layer}_{top_index}_split"


def split_blob_name(layer: str, blob: str, top_index: int, k: int) -> str:
    return f"{split_layer_name(layer, blob, top_index)}_{k}"


def insert_splits(
    param: pb.NetParameter, positions: Sequence[Position] | None = None,
    path: str | None = None,
) -> tuple[pb.NetParameter, list[Position | None]]:
    """The net with Split layers inserted, and the positions aligned with it."""
    layers = list(param.layer)
    last_producer: dict[str, tuple[int, int]] = {}
    source_of: dict[tuple[int, int], tuple[int, int]] = {}
    consumers: dict[tuple[int, int], int] = {}
    loss_weight: dict[tuple[int, int], float] = {}
    for i, layer in enumerate(layers):
        for j, blob in enumerate(layer.bottom):
            if blob not in last_producer:
                line, col = positions[i] if positions and i < len(positions) else (None, None)
                error = NetError(
                    f"unknown bottom blob '{blob}' (bottom index {j}): no earlier layer has "
                    f"it as a top", path=path, line=line, column=col, layer=layer.name,
                    caffe_message=f"Unknown bottom blob '{blob}' (layer '{layer.name}', "
                                  f"bottom index {j})", kind=ErrorKind.UNKNOWN_BOTTOM)
                error.missing_bottom = blob
                raise error
            top = last_producer[blob]
            source_of[(i, j)] = top
            consumers[top] = consumers.get(top, 0) + 1
        for j, blob in enumerate(layer.top):
            last_producer[blob] = (i, j)
        for j in range(min(len(layer.loss_weight), len(layer.top))):
            top = last_producer[layer.top[j]]
            loss_weight[top] = layer.loss_weight[j]
            if loss_weight[top]:
                consumers[top] = consumers.get(top, 0) + 1

    out = pb.NetParameter()
    out.CopyFrom(param)
    out.ClearField("layer")
    out_positions: list[Position | None] = []
    next_split: dict[tuple[int, int], int] = {}
    for i, source in enumerate(layers):
        position = positions[i] if positions and i < len(positions) else None
        layer = out.layer.add()
        layer.CopyFrom(source)
        out_positions.append(position)
        for j, blob in enumerate(layer.bottom):
            top = source_of[(i, j)]
            if consumers.get(top, 0) > 1:
                k = next_split.get(top, 0)
                next_split[top] = k + 1
                layer.bottom[j] = split_blob_name(layers[top[0]].name, blob, top[1], k)
        for j, blob in enumerate(layer.top):
            top = (i, j)
            count = consumers.get(top, 0)
            if count <= 1:
                continue
            weight = loss_weight.get(top, 0.0)
            split = out.layer.add()
            split.name = split_layer_name(source.name, blob, j)
            split.type = "Split"
            split.bottom.append(blob)
            for k in range(count):
                split.top.append(split_blob_name(source.name, blob, j, k))
                if weight:
                    split.loss_weight.append(weight if k == 0 else 0.0)
            out_positions.append(position)
            if weight:
                layer.ClearField("loss_weight")
                next_split[top] = next_split.get(top, 0) + 1
    return out, out_positions
