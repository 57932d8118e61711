"""``.caffemodel``: Caffe's binary NetParameter, as ``Net::ToProto`` writes it.

Every layer of the set-up net is written with its parameters (phase filled
in, as Caffe does) and its blobs (shape and float data).  The bytes are
produced directly, field by field in field-number order - the same bytes
Caffe's serializer produces - so blobs stream one at a time and no 2 GiB
protobuf message is ever built in memory.  caffefill's metadata goes in a
field Caffe does not know (kept as an unknown field, ignored on load).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from .._proto import caffefill_pb2 as pb
from .._proto import is_repeated
from ..errors import WriteError
from .atomic import open_output
from .base import BlobLike, values_bytes, write_values

PROTOBUF_LIMIT = 2**31 - 1  # what protobuf (and so Caffe) can parse
_BLOBS_FIELD = pb.LayerParameter.DESCRIPTOR.fields_by_name["blobs"].number  # 7
_LAYER_FIELD = pb.NetParameter.DESCRIPTOR.fields_by_name["layer"].number  # 100


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int) -> bytes:
    return _varint((field << 3) | 2)  # length-delimited


def _delimited_header(field: int, length: int) -> bytes:
    return _key(field) + _varint(length)


def _shape_bytes(shape: Sequence[int]) -> bytes:
    """BlobProto.shape (field 7): BlobShape with packed int64 dims; absent for 0-d."""
    if not shape:
        return b""
    dims = b"".join(_varint(int(d)) for d in shape)
    inner = _delimited_header(1, len(dims)) + dims
    return _delimited_header(7, len(inner)) + inner


def _blob_header(shape: Sequence[int]) -> tuple[bytes, bytes, int]:
    """(bytes before the float data, bytes after it, whole BlobProto length)."""
    count = 1
    for d in shape:
        count *= int(d)
    nbytes = 4 * count
    data_head = _delimited_header(5, nbytes) if count else b""
    tail = _shape_bytes(shape)
    length = len(data_head) + nbytes + len(tail)
    return data_head, tail, length


def _layer_parts(param: Any, phase: int) -> tuple[bytes, bytes]:
    """The layer's own fields before and after ``blobs`` (field 7)."""
    layer = pb.LayerParameter()
    layer.CopyFrom(param)
    layer.ClearField("blobs")
    if not layer.HasField("phase"):
        layer.phase = pb.Phase.Value(pb.Phase.Name(phase))
    head = pb.LayerParameter()
    tail = pb.LayerParameter()
    for desc, _value in layer.ListFields():
        target = head if desc.number < _BLOBS_FIELD else tail
        target_field = getattr(target, desc.name)
        source_field = getattr(layer, desc.name)
        if is_repeated(desc):
            if desc.message_type is not None:
                for item in source_field:
                    target_field.add().CopyFrom(item)
            else:
                target_field.extend(source_field)
        elif desc.message_type is not None:
            target_field.CopyFrom(source_field)
        else:
            setattr(target, desc.name, source_field)
    return (head.SerializeToString(deterministic=True),
            tail.SerializeToString(deterministic=True))


def estimate_size(model: Any) -> int:
    total = 0
    for layer in model.layers:
        head, tail = _layer_parts(layer.param, model.phase)
        body = len(head) + len(tail)
        for spec in layer.blobs:
            _, _, length = _blob_header(spec.shape)
            body += len(_delimited_header(_BLOBS_FIELD, length)) + length
        total += len(_delimited_header(_LAYER_FIELD, body)) + body
    return total


def check_size(model: Any) -> None:
    size = estimate_size(model)
    if size > PROTOBUF_LIMIT:
        raise WriteError(
            f"this net's .caffemodel would be {size / 2**30:.2f} GiB, past protobuf's 2 GiB "
            f"limit: Caffe could not read it back; write .npz or .h5 instead")


def check_model(model: Any) -> None:
    """Refuse before any work what cannot be written (a file past protobuf's limit)."""
    check_size(model)


def write(path: Path, blobs: Iterable[BlobLike], meta: dict[str, Any], model: Any) -> None:
    with open_output(path, preallocate=values_bytes(model)) as out:
        write_stream(out, blobs, meta, model)


def write_stream(out: BinaryIO, blobs: Iterable[BlobLike], meta: dict[str, Any],
                 model: Any) -> None:
    """The file's bytes, strictly in order (to a file, or to standard output)."""
    check_size(model)
    stream: Iterator[BlobLike] = iter(blobs)
    out.write(pb.NetParameter(name=model.param.name).SerializeToString())
    for layer in model.layers:
        _write_layer(out, layer, stream, model.phase)
    out.write(pb.NetParameter(caffefill_meta=json.dumps(meta, sort_keys=True))
              .SerializeToString())


def _write_layer(out: BinaryIO, layer: Any, stream: Iterator[BlobLike], phase: int) -> None:
    head, tail = _layer_parts(layer.param, phase)
    headers = [_blob_header(spec.shape) for spec in layer.blobs]
    body = len(head) + len(tail)
    for _, _, length in headers:
        body += len(_delimited_header(_BLOBS_FIELD, length)) + length
    out.write(_delimited_header(_LAYER_FIELD, body))
    out.write(head)
    for data_head, shape_tail, length in headers:
        blob = next(stream)
        out.write(_delimited_header(_BLOBS_FIELD, length))
        out.write(data_head)
        write_values(out, blob)
        out.write(shape_tail)
    out.write(tail)
