"""Helpers shared by the built-in layer entries.

They reproduce the pieces of Caffe's ``Blob`` and ``Layer`` that every
``LayerSetUp``/``Reshape`` leans on (axis canonicalisation, the legacy 4-D
accessors, blob counts, the bottom/top count checks) and turn Caffe's
``CHECK`` failures into located :class:`~caffefill.errors.NetError` s that
keep glog's text as ``caffe_message``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from ..._proto import caffefill_pb2 as pb
from ...errors import NeededInput
from ...messages import check_failed, show_shape
from ...messages import shape_string as shape_string
from ..registry import LayerContext
from ..spec import BlobSpec, Shape

INT_MAX = 2**31 - 1
MAX_BLOB_AXES = 32

_OPS = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


# ----------------------------------------------------------------- numbers


def i32(value: int) -> int:
    """``value`` as C++ stores it in an ``int`` (wrapping uint32 fields)."""
    value = int(value) & 0xFFFFFFFF
    return value - 2**32 if value >= 2**31 else value


def cdiv(a: int, b: int) -> int:
    """C++ integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def cmod(a: int, b: int) -> int:
    """C++ ``a % b`` (sign of the dividend)."""
    return a - b * cdiv(a, b)


# ----------------------------------------------------------------- shapes

#: A shape for people (``[2, 3, 4]``), as every message of the entries shows it.
show = show_shape


def count(shape: Sequence[int], start: int = 0, end: int | None = None) -> int:
    """Blob::count(start, end): the product of dims in ``[start, end)``."""
    stop = len(shape) if end is None else end
    return math.prod(int(d) for d in shape[start:stop])


# ----------------------------------------------------------------- checks


def check(ctx: LayerContext, ok: bool, message: str, caffe: str) -> None:
    """CHECK(cond): raise ``message`` with ``Check failed: <caffe>`` when false."""
    if not ok:
        raise ctx.error(message, caffe_message=f"Check failed: {caffe}")


def check_op(
    ctx: LayerContext,
    lhs: object,
    op: str,
    rhs: object,
    expr: str,
    message: str,
    note: str = "",
    *,
    needed_input: NeededInput | None = None,
) -> None:
    """CHECK_EQ/NE/LT/LE/GT/GE: ``expr`` is the C++ text, e.g. ``"num_output_ > 0"``
    (``needed_input``: the top an ``--input`` shape would get past the check)."""
    if not _OPS[op](lhs, rhs):
        raise ctx.error(message, caffe_message=check_failed(expr, lhs, rhs, note),
                        needed_input=needed_input)


def canonical_axis(ctx: LayerContext, shape: Sequence[int], axis: int, what: str = "axis") -> int:
    """Blob::CanonicalAxisIndex: negative axes count from the end."""
    n = len(shape)
    if not -n <= axis < n:  # (the messages are made only for a refusal)
        note = f"axis {axis} out of range for {n}-D Blob with shape {shape_string(shape)}"
        message = f"{what} {axis} is out of range for a {n}-D input of shape {show(shape)}"
        check_op(ctx, axis, ">=", -n, "axis_index >= -num_axes()", message, note)
        check_op(ctx, axis, "<", n, "axis_index < num_axes()", message, note)
    return axis + n if axis < 0 else axis


def axis_dim(ctx: LayerContext, shape: Sequence[int], index: int, what: str = "axis") -> int:
    """Blob::shape(index): one axis's size; refuses an axis the blob does not have
    (a 0-D blob, the scalar top of a loss layer, has none)."""
    return int(shape[canonical_axis(ctx, shape, index, what)])


def checked_count(ctx: LayerContext, shape: Sequence[int], start: int,
                  end: int | None = None) -> int:
    """Blob::count(start, end) with its CHECKs (``end`` defaults to the last axis)."""
    n = len(shape)
    stop = n if end is None else end
    message = (f"cannot count the values of axes {start}..{stop} of the {n}-D input "
               f"{show(shape)}")
    check_op(ctx, start, "<=", stop, "start_axis <= end_axis", message)
    check_op(ctx, start, ">=", 0, "start_axis >= 0", message)
    check_op(ctx, stop, ">=", 0, "end_axis >= 0", message)
    check_op(ctx, start, "<=", n, "start_axis <= num_axes()", message)
    check_op(ctx, stop, "<=", n, "end_axis <= num_axes()", message)
    return count(shape, start, stop)


def legacy(ctx: LayerContext, shape: Sequence[int], index: int) -> int:
    """Blob::LegacyShape (num/channels/height/width): 1 past the last axis."""
    check_op(
        ctx, len(shape), "<=", 4, "num_axes() <= 4",
        f"this layer reads its input through Caffe's 4-D accessors, which refuse "
        f"inputs with more than 4 axes (got {show(shape)})",
        "Cannot use legacy accessors on Blobs with > 4 axes.",
    )
    if index >= len(shape) or index < -len(shape):
        return 1
    return int(shape[index])


def nchw(ctx: LayerContext, shape: Sequence[int]) -> tuple[int, int, int, int]:
    """(num, channels, height, width) through the legacy accessors."""
    return (legacy(ctx, shape, 0), legacy(ctx, shape, 1),
            legacy(ctx, shape, 2), legacy(ctx, shape, 3))


def blob_counts(
    ctx: LayerContext,
    type_name: str,
    *,
    exact_bottom: int = -1,
    min_bottom: int = -1,
    max_bottom: int = -1,
    exact_top: int = -1,
    min_top: int = -1,
    max_top: int = -1,
    equal: bool = False,
    num_tops: int | None = None,
) -> None:
    """Layer::CheckBlobCounts."""
    nb = len(ctx.bottoms)
    nt = len(ctx.param.top) if num_tops is None else num_tops

    def fail(expr: str, a: int, b: int, note: str, message: str) -> None:
        raise ctx.error(message, caffe_message=f"Check failed: {expr} ({a} vs. {b}) {note}")

    def refuse(check: str, side: str, bound: int, how: str, n: int, verb: str,
               noun: str) -> None:
        # (the messages are made only for a refusal: the checks run for every layer)
        blobs = f"{side.lower()} blob(s)"
        fail(f"{check} {side.lower()}.size()", bound, n,
             f"{type_name} Layer {verb} {how}{bound} {blobs} as {noun}.",
             f"{type_name} {verb} {how}{bound} {blobs}, got {n}")

    # Bottoms, then tops: (C++ side, count, exact, min, max, verb, C++ noun).
    sides = (("Bottom", nb, exact_bottom, min_bottom, max_bottom, "takes", "input"),
             ("Top", nt, exact_top, min_top, max_top, "produces", "output"))
    for side, n, exact, least, most, verb, noun in sides:
        if exact >= 0 and exact != n:
            refuse(f"ExactNum{side}Blobs() ==", side, exact, "", n, verb, noun)
        if least >= 0 and least > n:
            refuse(f"Min{side}Blobs() <=", side, least, "at least ", n, verb, noun)
        if most >= 0 and most < n:
            refuse(f"Max{side}Blobs() >=", side, most, "at most ", n, verb, noun)
    if equal and nb != nt:
        fail("bottom.size() == top.size()", nb, nt,
             f"{type_name} Layer produces one top blob as output for each bottom blob input.",
             f"{type_name} needs one top per bottom, got {nb} bottom(s) and {nt} top(s)")


def num_tops(ctx: LayerContext) -> int:
    return len(ctx.param.top)


def no_in_place(ctx: LayerContext, type_name: str) -> None:
    """CHECK_NE(top[0], bottom[0]): layers that refuse in-place computation
    (a top is in place only when it repeats the bottom of the same index)."""
    tops = list(ctx.param.top)
    bottoms = list(ctx.param.bottom)
    if tops and bottoms and tops[0] == bottoms[0]:
        raise ctx.error(
            f"{type_name} cannot run in place (top '{tops[0]}' is its bottom)",
            caffe_message=f"Check failed: top[0] != bottom[0] "
                          f"{type_name} Layer does not allow in-place computation.",
        )


def _fits(dims: tuple[int, ...]) -> bool:
    """Whether :func:`reshape_check` passes ``dims`` (as many axes as allowed)."""
    total = 1
    for d in dims:
        if d < 0 or (total != 0 and d > INT_MAX // total):
            return False
        total *= d
    return True


def reshape_check(ctx: LayerContext, shape: Sequence[int], what: str = "top") -> Shape:
    """Blob::Reshape's own checks (axes <= 32, dims >= 0, count <= INT_MAX)."""
    dims = tuple(int(d) for d in shape)
    if len(dims) <= MAX_BLOB_AXES and _fits(dims):  # (messages only for a refusal)
        return dims
    check_op(ctx, len(dims), "<=", MAX_BLOB_AXES, "shape.size() <= kMaxBlobAxes",
             f"{what} shape {show(dims)} has more than {MAX_BLOB_AXES} axes")
    total = 1
    for d in dims:
        check_op(ctx, d, ">=", 0, "shape[i] >= 0", f"{what} shape {show(dims)} has a negative dim")
        if total != 0 and d > INT_MAX // total:
            raise ctx.error(
                f"{what} shape {show(dims)} has {count(dims)} values, past Caffe's "
                f"int32 blob limit",
                caffe_message=f"Check failed: shape[i] <= 2147483647 / count_ "
                              f"({d} vs. {INT_MAX // total}) blob size exceeds INT_MAX",
            )
        total *= d
    return dims


# ----------------------------------------------------------------- fillers


def constant(value: float = 0.0) -> pb.FillerParameter:
    """A ``constant`` FillerParameter (the defaults Caffe builds in code)."""
    f = pb.FillerParameter()
    f.type = "constant"
    f.value = value
    return f


class Fill(NamedTuple):
    """A blob's filler as the layer's setup reads it (see :func:`filler`)."""

    #: The FillerParameter Caffe applies.
    param: pb.FillerParameter
    #: The LayerParameter sub-field it came from ("" when Caffe's default).
    field: str
    #: The sub-field that holds it in the prototxt, set or not: where an edit of
    #: the prototxt (a filler override) puts another one.
    home: str


def filler(
    owner: object, field_name: str, path: str, default: pb.FillerParameter | None = None
) -> Fill:
    """The filler in ``owner.<field_name>`` (copied) and where it came from;
    ``path`` is that field's dotted path inside the LayerParameter.

    Unset: ``default`` when given (a layer that special-cases a missing
    filler), else Caffe's default-constructed FillerParameter (constant 0).
    """
    if owner.HasField(field_name):  # type: ignore[attr-defined]
        f = pb.FillerParameter()
        f.CopyFrom(getattr(owner, field_name))
        return Fill(f, path, path)
    if default is not None:
        return Fill(default, "", path)
    return Fill(pb.FillerParameter(), "", path)


def blob(shape: Sequence[int], fill: Fill, role: str) -> BlobSpec:
    """A BlobSpec from ``filler()``'s result."""
    return BlobSpec(tuple(int(d) for d in shape), fill.param, role, fill.field, fill.home)
