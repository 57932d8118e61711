"""Binding a parsed tree to protobuf message descriptors."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from ..._proto import caffefill_pb2 as pb
from ..._proto import is_repeated
from ...errors import ParseError
from ...float32 import FLT_MAX, f32
from ...messages import nearest
from .common import FillerBlock, Position, ReadWarning
from .tree import Block, Field, Scalar, _layer_name, parse_tree

# ---------------------------------------------------------------- the binder

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(1 << 31), (1 << 31) - 1),
    FieldDescriptor.TYPE_SINT32: (-(1 << 31), (1 << 31) - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(1 << 31), (1 << 31) - 1),
    FieldDescriptor.TYPE_UINT32: (0, (1 << 32) - 1),
    FieldDescriptor.TYPE_FIXED32: (0, (1 << 32) - 1),
    FieldDescriptor.TYPE_INT64: (-(1 << 63), (1 << 63) - 1),
    FieldDescriptor.TYPE_SINT64: (-(1 << 63), (1 << 63) - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(1 << 63), (1 << 63) - 1),
    FieldDescriptor.TYPE_UINT64: (0, (1 << 64) - 1),
    FieldDescriptor.TYPE_FIXED64: (0, (1 << 64) - 1),
}
_TYPE_NAMES = {
    FieldDescriptor.TYPE_INT32: "int32", FieldDescriptor.TYPE_SINT32: "sint32",
    FieldDescriptor.TYPE_SFIXED32: "sfixed32", FieldDescriptor.TYPE_UINT32: "uint32",
    FieldDescriptor.TYPE_FIXED32: "fixed32", FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_SINT64: "sint64", FieldDescriptor.TYPE_SFIXED64: "sfixed64",
    FieldDescriptor.TYPE_UINT64: "uint64", FieldDescriptor.TYPE_FIXED64: "fixed64",
    FieldDescriptor.TYPE_FLOAT: "float", FieldDescriptor.TYPE_DOUBLE: "double",
    FieldDescriptor.TYPE_BOOL: "bool", FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_BYTES: "bytes",
}
_FLT_MAX_ROUNDED = 3.4028235677973366e38
_TRUE = frozenset(("true", "True", "t"))
_FALSE = frozenset(("false", "False", "f"))
_FILLER_NAME = pb.FillerParameter.DESCRIPTOR.full_name
_TEXT_TYPES = (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES)
_FLOAT_TYPES = (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE)

ScalarValue = int | float | bool | str | bytes


_LEGACY_HINTS = {
    "blobs_lr": "a V1 field: in a 'layer', write param { lr_mult: ... } once per blob",
    "weight_decay": "a V1 field: in a 'layer', write param { decay_mult: ... } once per blob",
}


def _type_name(fd: FieldDescriptor) -> str:
    if fd.type == FieldDescriptor.TYPE_ENUM:
        return f"enum {fd.enum_type.name}"
    if fd.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
        return f"message {fd.message_type.name}"
    return _TYPE_NAMES.get(fd.type, "value")


def _expected(fd: FieldDescriptor) -> str:
    """How an error about a value names the field it was for."""
    return f"for field '{fd.name}' ({_type_name(fd)})"


#: What a fast conversion returns when the full one (:meth:`_Binder.convert`) must
#: decide (an unusual spelling, or an error to report).
_SLOW = object()


def _fast_conversion(fd: FieldDescriptor) -> Callable[[Scalar], object]:
    """A conversion of the usual spellings of a value of field ``fd``, giving
    what :meth:`_Binder.convert` gives for them; anything else is :data:`_SLOW`."""
    kind = fd.type
    if kind == FieldDescriptor.TYPE_STRING:
        def text(value: Scalar) -> object:
            if value.kind == "string":
                try:
                    return value.data.decode("utf-8")
                except UnicodeDecodeError:
                    pass
            return _SLOW
        return text
    if kind in _FLOAT_TYPES:
        single = kind == FieldDescriptor.TYPE_FLOAT

        def number(value: Scalar) -> object:
            text = value.text
            if (value.kind == "float" and text[-1] not in "fF") or (
                    value.kind == "integer" and (text[0] != "0" or len(text) == 1)):
                result = float(text)
                result = -result if value.negative else result
                return _to_float32(result) if single else result
            return _SLOW
        return number
    if kind in _INT_RANGES:
        high = _INT_RANGES[kind][1]

        def integer(value: Scalar) -> object:
            text = value.text
            if value.kind == "integer" and not value.negative and len(text) < 20 and (
                    text[0] != "0" or len(text) == 1):
                result = int(text)
                if result <= high:
                    return result
            return _SLOW
        return integer
    if kind == FieldDescriptor.TYPE_ENUM:
        numbers = {v.name: int(v.number) for v in fd.enum_type.values}

        def enum(value: Scalar) -> object:
            if value.kind == "identifier" and not value.negative:
                return numbers.get(value.text, _SLOW)
            return _SLOW
        return enum
    if kind == FieldDescriptor.TYPE_BOOL:
        def flag(value: Scalar) -> object:
            if value.kind == "identifier" and not value.negative:
                if value.text in _TRUE:
                    return True
                if value.text in _FALSE:
                    return False
            return _SLOW
        return flag
    return lambda value: _SLOW


class _Slot:
    """What binding needs of one field of a message type, looked up once."""

    __slots__ = ("fast", "fd", "filler", "message", "name", "oneof", "repeated")

    def __init__(self, fd: FieldDescriptor) -> None:
        self.fd = fd
        self.name: str = fd.name
        self.repeated = is_repeated(fd)
        self.message = fd.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP)
        self.filler = self.message and fd.message_type.full_name == _FILLER_NAME
        oneof = fd.containing_oneof
        self.oneof: str | None = None if oneof is None else oneof.name
        self.fast = _fast_conversion(fd)


@functools.cache
def _slots(descriptor: Descriptor) -> dict[str, _Slot]:
    """The fields of a message type by name (cached: the descriptors' own lookups
    cost more than the rest of binding a field)."""
    return {name: _Slot(fd) for name, fd in descriptor.fields_by_name.items()}


def _suggest(name: str, choices: list[str]) -> str | None:
    close = nearest(name, choices)
    if close is not None:
        return close
    # A known name inside a longer one (``weight_std`` for ``std``), when only one fits.
    parts = set(name.lower().split("_"))
    inside = [c for c in choices if c.lower() in parts or ("_" in c and c.lower() in name.lower())]
    return inside[0] if len(inside) == 1 else None


@functools.lru_cache(maxsize=4096)
def _suggest_field(name: str, descriptor: Descriptor) -> str | None:
    """The field of ``descriptor`` an unknown ``name`` probably meant (cached: a file
    can repeat one unknown field thousands of times, and difflib is slow)."""
    return _suggest(name, list(descriptor.fields_by_name))


def _parse_int_text(text: str) -> int | None:
    """An integer token's value (hex, octal or decimal); None when absurdly long."""
    if len(text) > 64:
        return None
    if text[:2] in ("0x", "0X"):
        return int(text[2:], 16)
    if len(text) > 1 and text[0] == "0":
        return int(text[1:], 8)
    return int(text)


def _to_float32(value: float) -> float:
    """What protobuf's C++ parser stores in a float field (SafeDoubleToFloat)."""
    if math.isnan(value) or math.isinf(value):
        return value
    if abs(value) > FLT_MAX:
        # Values that still round to the largest float (up to the midpoint
        # 0x1.ffffffp127) give it; larger ones give infinity.
        limit = FLT_MAX if abs(value) <= _FLT_MAX_ROUNDED else math.inf
        return limit if value > 0 else -limit
    return f32(value)  # in range: rounded as C rounds it


@dataclass(eq=False, repr=False)
class _LayerContext:
    list_name: str
    index: int
    name: str | None


class _Binder:
    """Walks a tree against message descriptors and fills a message."""

    def __init__(self, path: str, strict: bool, warnings: list[ReadWarning]) -> None:
        self.path = path
        self.strict = strict
        self.warnings = warnings
        self.fillers: list[FillerBlock] = []
        self.layer: _LayerContext | None = None
        self.field_path: list[str] = []
        # When set: the NetParameter being read, whose layer entries are tracked.
        self.root: Message | None = None
        self.layer_positions: dict[str, list[Position]] = {"layer": [], "layers": []}

    # errors and warnings
    def at(self, node: Scalar | Block | Field, message: str) -> ParseError:
        """A ParseError at ``node``."""
        line, column = node.source.position(node.offset)
        return self.error(message, line, column)

    def error(self, message: str, line: int, column: int) -> ParseError:
        return ParseError(message, path=self.path, line=line, column=column,
                          layer=self.layer.name if self.layer else None)

    def unknown(self, node: Field, descriptor: Descriptor) -> None:
        what = "extension" if node.extension else "field"
        message = f"unknown {what} '{node.name}' in {descriptor.name}"
        hint = _LEGACY_HINTS.get(node.name) if descriptor.name == "LayerParameter" else None
        guess = None
        if hint is None and not node.extension:
            guess = _suggest_field(node.name, descriptor)
            hint = f"did you mean '{guess}'?" if guess else None
        if self.strict:
            raise self.error(message + (f" ({hint})" if hint else ""), node.line, node.column)
        self.warnings.append(ReadWarning(self.path, node.line, node.column, message, hint,
                                         self.layer.name if self.layer else None,
                                         node.name, descriptor.name, guess))

    # binding
    def bind(self, block: Block, message: Message) -> None:
        descriptor = message.DESCRIPTOR
        slots = _slots(descriptor)
        seen: dict[str, Field] = {}
        oneofs: dict[str, Field] = {}
        for node in block.fields:
            slot = None if node.extension else slots.get(node.name)
            if slot is None:
                if node.list_index == 0:  # one warning per list
                    self.unknown(node, descriptor)
                if self.layer is not None:
                    self._scan_unknown(node)
                continue
            repeated = slot.repeated
            if node.in_list and not repeated:
                raise self.error(f"field '{node.name}' of {descriptor.name} is not repeated; "
                                 f"a list [ ... ] is not allowed", node.line, node.column)
            if not repeated:
                first = seen.setdefault(node.name, node)
                if first is node and slot.oneof is not None:
                    first = oneofs.setdefault(slot.oneof, node)
                if first is not node:
                    raise self._given_twice(node, first, descriptor, slot.oneof)
            value = node.value
            if value is None:
                continue  # an empty list
            if slot.message:
                self._bind_message_field(node, slot, message)
            elif type(value) is Scalar:
                if not node.colon:
                    raise self.error(f"expected ':' after field name '{node.name}'",
                                     node.line, node.column)
                converted = slot.fast(value)
                if converted is _SLOW:
                    converted = self.convert(value, slot.fd)
                if repeated:
                    getattr(message, slot.name).append(converted)
                else:
                    setattr(message, slot.name, converted)
            else:
                raise self.at(value, f"field '{node.name}' is a {_type_name(slot.fd)}, "
                                     f"not a message")

    def _given_twice(self, node: Field, first: Field, descriptor: Descriptor,
                     oneof: str | None) -> ParseError:
        """The error for a second value of a singular field (or of a oneof)."""
        if first.name == node.name:
            return self.error(
                f"non-repeated field '{node.name}' of {descriptor.name} is given more than "
                f"once (first at line {first.line}, column {first.column})",
                node.line, node.column)
        return self.error(f"field '{node.name}' and field '{first.name}' (line {first.line}) "
                          f"are both in oneof '{oneof}'", node.line, node.column)

    def _bind_message_field(self, node: Field, slot: _Slot, message: Message) -> None:
        fd = slot.fd
        repeated = slot.repeated
        value = node.value
        if not isinstance(value, Block):
            assert isinstance(value, Scalar)
            raise self.at(value, f"field '{node.name}' is a {_type_name(fd)}: expected "
                                 f"'{{', found '{value.shown()}'")
        container = getattr(message, fd.name)
        if repeated:
            sub = container.add()
            index: int | None = len(container) - 1
        else:
            sub = container
            sub.SetInParent()
            index = None
        if message is self.root and fd.name in self.layer_positions:
            assert index is not None
            self.layer = _LayerContext(fd.name, index, _layer_name(value))
            try:
                self.bind(value, sub)
            finally:
                self.layer = None
            self.layer_positions[fd.name].append(node.position)
            return
        self.field_path.append(fd.name)
        try:
            self.bind(value, sub)
        finally:
            self.field_path.pop()
        if self.layer is not None and slot.filler:
            filler = pb.FillerParameter()
            filler.CopyFrom(sub)
            self._record_filler(node, filler, index, known=True)

    def _record_filler(self, node: Field, filler: pb.FillerParameter, index: int | None,
                       *, known: bool) -> None:
        assert self.layer is not None
        path = ".".join([*self.field_path, node.name])
        line, column = node.position
        self.fillers.append(FillerBlock(self.layer.index, self.layer.list_name, path,
                                        line, column, filler, index, known,
                                        self.layer.name,
                                        node.value if isinstance(node.value, Block) else None))

    def _scan_unknown(self, node: Field) -> None:
        """Record ``node`` if it looks like a filler block, else look inside it."""
        value = node.value
        if not isinstance(value, Block) or node.extension:
            return
        if node.name.endswith("filler"):
            filler = pb.FillerParameter()
            inner = _Binder(self.path, False, [])
            inner.layer = self.layer
            try:
                inner.bind(value, filler)
            except ParseError as exc:
                self.warnings.append(ReadWarning(
                    self.path, node.line, node.column,
                    f"filler block '{node.name}' inside an unknown field could not be read: "
                    f"{exc.message}", None, self.layer.name if self.layer else None))
                return
            self.warnings.extend(inner.warnings)
            self._record_filler(node, filler, None, known=False)
            return
        self.field_path.append(node.name)
        try:
            for child in value.fields:
                self._scan_unknown(child)
        finally:
            self.field_path.pop()

    def convert(self, value: Scalar, fd: FieldDescriptor) -> ScalarValue:
        """One scalar token to the Python value of field ``fd``."""
        kind = fd.type
        if kind in _TEXT_TYPES:
            if value.kind != "string":
                raise self.at(value, f"expected a quoted string {_expected(fd)}, found "
                                     f"'{value.shown()}'")
            if kind == FieldDescriptor.TYPE_BYTES:
                return value.data
            try:
                return value.data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise self.at(value, f"string {_expected(fd)} is not valid UTF-8") from exc
        if value.kind == "string":
            raise self.at(value, f"expected {self._expectation(fd)} {_expected(fd)}, found a "
                                 f"string {value.shown()}")
        if kind in _FLOAT_TYPES:
            number = self._float(value, fd)
            return _to_float32(number) if kind == FieldDescriptor.TYPE_FLOAT else number
        if kind == FieldDescriptor.TYPE_BOOL:
            if value.kind == "identifier" and not value.negative:
                if value.text in _TRUE:
                    return True
                if value.text in _FALSE:
                    return False
            elif value.kind == "integer" and not value.negative:
                flag = _parse_int_text(value.text)
                if flag in (0, 1):
                    return bool(flag)
            raise self.at(value, f"expected true or false {_expected(fd)}, found "
                                 f"'{value.shown()}'")
        if kind == FieldDescriptor.TYPE_ENUM:
            return self._enum(value, fd)
        if kind in _INT_RANGES:
            if value.kind != "integer":
                raise self.at(value, f"expected an integer {_expected(fd)}, found "
                                     f"'{value.shown()}'")
            low, high = _INT_RANGES[kind]
            if value.negative and low == 0:
                raise self.at(value, f"expected a non-negative integer {_expected(fd)}, "
                                     f"found '{value.shown()}'")
            integer = _parse_int_text(value.text)
            if integer is not None and value.negative:
                integer = -integer
            if integer is None or not low <= integer <= high:
                raise self.at(value, f"integer '{value.shown()}' is out of range "
                                     f"{_expected(fd)}: {low}..{high}")
            return integer
        raise self.at(value, f"field type of '{fd.name}' is not supported")

    @staticmethod
    def _expectation(fd: FieldDescriptor) -> str:
        if fd.type in _FLOAT_TYPES:
            return "a number"
        if fd.type == FieldDescriptor.TYPE_BOOL:
            return "true or false"
        if fd.type == FieldDescriptor.TYPE_ENUM:
            return "an enum name"
        return "an integer"

    def _float(self, value: Scalar, fd: FieldDescriptor) -> float:
        text = value.text
        if value.kind == "float":
            number = float(text[:-1] if text[-1] in "fF" else text)
        elif value.kind == "integer":
            if text[:2] in ("0x", "0X") or (len(text) > 1 and text[0] == "0"):
                raise self.at(value, f"expected a decimal number {_expected(fd)}, found "
                                     f"'{text}'")
            number = float(text)
        else:
            lowered = text.lower()
            if lowered in ("inf", "infinity"):
                number = math.inf
            elif lowered == "nan":
                number = math.nan
            else:
                raise self.at(value, f"expected a number {_expected(fd)}, found "
                                     f"'{value.shown()}'")
        return -number if value.negative else number

    def _enum(self, value: Scalar, fd: FieldDescriptor) -> int:
        enum = fd.enum_type
        if value.kind == "identifier" and not value.negative:
            found = enum.values_by_name.get(value.text)
            if found is not None:
                return int(found.number)
        names = [v.name for v in enum.values]
        choices = ", ".join(names) if len(names) <= 12 else ", ".join(names[:12]) + ", ..."
        if value.kind == "identifier" and not value.negative:
            guess = _suggest(value.text, names)
            hint = f"; did you mean {guess}?" if guess else ""
            raise self.at(value, f"unknown value '{value.text}' {_expected(fd)}; expected one "
                                 f"of {choices}{hint}")
        if value.kind == "integer":
            number = _parse_int_text(value.text)
            if number is not None:
                number = -number if value.negative else number
                # Enum values are int32; upb's values_by_number would truncate a wider
                # key (4294967296 would find value 0).
                known = {v.number for v in enum.values}
                if -(1 << 31) <= number < (1 << 31) and number in known:
                    return int(number)
            raise self.at(value, f"unknown value '{value.shown()}' {_expected(fd)}; expected "
                                 f"one of {choices}")
        raise self.at(value, f"expected an enum name {_expected(fd)} (one of {choices}), "
                             f"found '{value.shown()}'")


def bind_message(tree: Block, message: Message, *, path: str = "<text>",
                 strict: bool = False) -> list[ReadWarning]:
    """Fill ``message`` (merging) from a parsed tree; returns the warnings."""
    warnings: list[ReadWarning] = []
    _Binder(path, strict, warnings).bind(tree, message)
    return warnings


def parse_message(text: str | bytes, message: Message, *, path: str = "<text>",
                  strict: bool = False) -> list[ReadWarning]:
    """Parse text-format ``text`` into ``message`` (cleared first).

    Returns the warnings (unknown fields that were skipped); raises ParseError
    on anything else that does not fit, or on unknown fields when ``strict``.
    """
    tree = parse_tree(text, path=path)
    message.Clear()
    return bind_message(tree, message, path=path, strict=strict)
