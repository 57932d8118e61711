"""Messages as protobuf's C++ ``TextFormat::Print`` writes them (what Caffe's
``upgrade_net_proto_text`` writes), for text that Caffe's tools would write alike."""

from __future__ import annotations

import math
import struct

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from ..._proto import is_repeated

__all__ = ["message_to_text"]


def _c_escape(data: bytes) -> str:
    """protobuf's CEscape: C escapes, octal for bytes outside printable ASCII."""
    out = []
    for byte in data:
        char = chr(byte)
        if char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif char in "\"'\\":
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return "".join(out)


def _format_float(value: float, single: bool) -> str:
    """protobuf's SimpleFtoa/SimpleDtoa: %g with 6 (15) digits, 9 (17) if needed."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    short, full = (6, 9) if single else (15, 17)
    text = f"{value:.{short}g}"
    parsed = float(text)
    same = (struct.pack("<f", parsed) == struct.pack("<f", value)) if single else \
        parsed == value
    return text if same else f"{value:.{full}g}"


def _format_scalar(fd: FieldDescriptor, value: object) -> str:
    if fd.type == FieldDescriptor.TYPE_ENUM:
        assert isinstance(value, int)
        found = fd.enum_type.values_by_number.get(value)
        return found.name if found is not None else str(value)
    if fd.type == FieldDescriptor.TYPE_BOOL:
        return "true" if value else "false"
    if fd.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        assert isinstance(value, float)
        return _format_float(value, fd.type == FieldDescriptor.TYPE_FLOAT)
    if fd.type == FieldDescriptor.TYPE_STRING:
        assert isinstance(value, str)
        return '"' + _c_escape(value.encode("utf-8")) + '"'
    if fd.type == FieldDescriptor.TYPE_BYTES:
        assert isinstance(value, bytes)
        return '"' + _c_escape(value) + '"'
    return str(value)


def message_to_text(message: Message) -> str:
    """A message as protobuf's C++ ``TextFormat::Print`` writes it."""
    lines: list[str] = []

    def emit(msg: Message, depth: int) -> None:
        indent = "  " * depth
        for fd, value in msg.ListFields():
            values = list(value) if is_repeated(fd) else [value]
            for item in values:
                if fd.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
                    lines.append(f"{indent}{fd.name} {{")
                    emit(item, depth + 1)
                    lines.append(f"{indent}}}")
                else:
                    lines.append(f"{indent}{fd.name}: {_format_scalar(fd, item)}")

    emit(message, 0)
    return "".join(line + "\n" for line in lines)
