"""Caffe 1.0's layers that move, combine or reduce blobs: reshapes, concat,
slice, eltwise, tile, reductions, split, silence, batch reindexing, filter.

Each entry mirrors the layer's ``LayerSetUp`` + ``Reshape`` in BVLC Caffe 1.0:
the same top shapes and the same refusals.
"""

from __future__ import annotations

from ..._proto import caffefill_pb2 as pb
from ..registry import LayerContext, Traits, register
from ..spec import LayerSetup, Shape
from ._base import (
    MAX_BLOB_AXES,
    axis_dim,
    blob_counts,
    canonical_axis,
    check,
    check_op,
    checked_count,
    cmod,
    count,
    i32,
    no_in_place,
    num_tops,
    reshape_check,
    shape_string,
    show,
)


@register("Reshape", traits=Traits("move", reads=("reshape_param",)))
def reshape(ctx: LayerContext) -> LayerSetup:
    """ReshapeLayer: ``shape`` with 0 (copy) and -1 (infer) over axis/num_axes."""
    blob_counts(ctx, "Reshape", exact_bottom=1, exact_top=1)
    no_in_place(ctx, "Reshape")
    p = ctx.param.reshape_param
    (bottom,) = ctx.bottoms
    dims = [int(d) for d in p.shape.dim]
    inferred = -1
    copy_axes: list[int] = []
    constant_count = 1
    for i, d in enumerate(dims):
        if d == 0:
            copy_axes.append(i)
        elif d == -1:
            check_op(ctx, inferred, "==", -1, "inferred_axis_ == -1",
                     "reshape_param.shape may contain at most one -1",
                     "new shape contains multiple -1 dims; at most a single (1) value of -1 "
                     "may be specified")
            inferred = i
        else:
            constant_count *= d
    start = p.axis if p.axis >= 0 else len(bottom) + p.axis + 1
    check_op(ctx, start, ">=", 0, "start_axis >= 0",
             f"reshape_param.axis {p.axis} is out of range", f"axis {p.axis} out of range")
    check_op(ctx, start, "<=", len(bottom), "start_axis <= bottom[0]->num_axes()",
             f"reshape_param.axis {p.axis} is out of range for the {len(bottom)}-D input",
             f"axis {p.axis} out of range for {len(bottom)}-D input blob")
    check_op(ctx, p.num_axes, ">=", -1, "num_axes >= -1",
             "reshape_param.num_axes must be >= 0, or -1 for all",
             "num_axes must be >= 0, or -1 for all")
    end = len(bottom) if p.num_axes == -1 else start + p.num_axes
    check_op(ctx, end, "<=", len(bottom), "end_axis <= bottom[0]->num_axes()",
             "reshape_param axis + num_axes is past the input's axes",
             "end_axis = axis + num_axes is out of range")
    top = [*bottom[:start], *dims, *bottom[end:]]
    for i in copy_axes:
        check_op(ctx, len(bottom), ">", start + i, "bottom[0]->num_axes() > start_axis + "
                 "copy_axis_index",
                 f"reshape_param.shape has a 0 at position {i} but the input {show(bottom)} "
                 f"has no axis {start + i} to copy",
                 "new shape contains a 0, but there was no corresponding bottom axis to copy")
        top[start + i] = bottom[start + i]
    total = count(bottom)
    if inferred >= 0:
        explicit = constant_count * count(bottom, 0, start) * count(bottom, end)
        for i in copy_axes:
            explicit *= top[start + i]
        if explicit == 0:
            raise ctx.error("reshape_param.shape cannot infer a -1 dim next to a zero",
                            caffe_message="integer division by zero")
        check_op(ctx, 0, "==", total % explicit, "0 == bottom[0]->count() % explicit_count",
                 f"cannot reshape {show(bottom)} ({total} values): not divisible by the "
                 f"product of the given dims ({explicit})",
                 f"bottom count ({total}) must be divisible by the product of the specified "
                 f"dimensions ({explicit})")
        top[start + inferred] = total // explicit
    top_shape = reshape_check(ctx, top)
    check_op(ctx, count(top_shape), "==", total, "top[0]->count() == bottom[0]->count()",
             f"cannot reshape {show(bottom)} ({total} values) to {show(top_shape)} "
             f"({count(top_shape)} values)", "output count must match input count")
    return LayerSetup(tops=[top_shape])


@register("Flatten", traits=Traits("move", reads=("flatten_param",)))
def flatten(ctx: LayerContext) -> LayerSetup:
    """FlattenLayer: axes [axis, end_axis] collapse into one."""
    blob_counts(ctx, "Flatten", exact_bottom=1, exact_top=1)
    no_in_place(ctx, "Flatten")
    p = ctx.param.flatten_param
    (bottom,) = ctx.bottoms
    start = canonical_axis(ctx, bottom, p.axis)
    end = canonical_axis(ctx, bottom, p.end_axis, "end_axis")
    check_op(ctx, start, "<=", end + 1, "start_axis <= end_axis",
             f"flatten_param.axis ({start}) comes after end_axis ({end})")
    top = (*bottom[:start], count(bottom, start, end + 1), *bottom[end + 1:])
    return LayerSetup(tops=[top])


def axis_or_dim(ctx: LayerContext, p: pb.ConcatParameter | pb.SliceParameter, kind: str,
                 bottom: Shape) -> int:
    """Concat's and Slice's axis: ``axis``, or the deprecated uint32 ``<kind>_dim``
    (``kind``: "concat" or "slice"), not both."""
    param, dim = f"{kind}_param", f"{kind}_dim"
    check(ctx, not (p.HasField("axis") and p.HasField(dim)),
          f"set {param}.axis or {dim}, not both",
          f"!({param}.has_axis() && {param}.has_{dim}()) "
          f"Either axis or {dim} should be specified; not both.")
    if not p.HasField(dim):
        return canonical_axis(ctx, bottom, p.axis)
    axis = i32(getattr(p, dim))
    check_op(ctx, axis, ">=", 0, f"{kind}_axis_ >= 0",
             f"{param}.{dim} is negative once cast to int32",
             f"casting {dim} from uint32 to int32 produced negative result; "
             f"{dim} must satisfy 0 <= {dim} < {MAX_BLOB_AXES}")
    check_op(ctx, axis, "<", len(bottom), f"{kind}_axis_ < num_axes",
             f"{param}.{dim} {axis} is out of range for {show(bottom)}",
             f"{dim} out of range.")
    return axis


@register("Concat", traits=Traits("pass", signal="concat", reads=("concat_param",)))
def concat(ctx: LayerContext) -> LayerSetup:
    """ConcatLayer: all inputs equal except along the concat axis."""
    blob_counts(ctx, "Concat", min_bottom=1, exact_top=1)
    p = ctx.param.concat_param
    first = ctx.bottoms[0]
    n = len(first)
    axis = axis_or_dim(ctx, p, "concat", first)
    top = list(first)
    for i, other in enumerate(ctx.bottoms[1:], start=1):
        check_op(ctx, n, "==", len(other), "num_axes == bottom[i]->num_axes()",
                 f"Concat inputs must have the same number of axes: bottom 0 is "
                 f"{show(first)}, bottom {i} is {show(other)}",
                 "All inputs must have the same #axes.")
        for j in range(n):
            if j == axis:
                continue
            check_op(ctx, top[j], "==", other[j], "top_shape[j] == bottom[i]->shape(j)",
                     f"Concat inputs must match except along axis {axis}: bottom 0 is "
                     f"{show(first)}, bottom {i} is {show(other)} (axis {j} differs)",
                     "All inputs must have the same shape, except at concat_axis.")
        top[axis] += other[axis]
    return LayerSetup(tops=[reshape_check(ctx, top)])


@register("Slice", traits=Traits("move", reads=("slice_param",)))
def slice_layer(ctx: LayerContext) -> LayerSetup:
    """SliceLayer: split one axis at ``slice_point``s (or evenly)."""
    blob_counts(ctx, "Slice", exact_bottom=1, min_top=1)
    p = ctx.param.slice_param
    (bottom,) = ctx.bottoms
    axis = axis_or_dim(ctx, p, "slice", bottom)
    ntop = num_tops(ctx)
    dim = bottom[axis]
    points = [i32(v) for v in p.slice_point]
    if points:
        check_op(ctx, len(points), "==", ntop - 1, "slice_point_.size() == top.size() - 1",
                 f"Slice with {ntop} tops needs {ntop - 1} slice_point(s), got {len(points)}")
        check_op(ctx, ntop, "<=", dim, "top.size() <= bottom_slice_axis",
                 f"cannot slice axis {axis} of size {dim} into {ntop} parts")
        sizes = []
        prev = 0
        for point in points:
            check_op(ctx, point, ">", prev, "slice_point_[i] > prev",
                     f"slice_point values must increase (got {point} after {prev})")
            sizes.append(point - prev)
            prev = point
        sizes.append(dim - prev)
    else:
        check_op(ctx, cmod(dim, ntop), "==", 0, "bottom_slice_axis % top.size() == 0",
                 f"{ntop} tops do not evenly divide axis {axis} of size {dim}",
                 f"Number of top blobs ({ntop}) should evenly divide input slice axis ({dim})")
        sizes = [dim // ntop] * ntop
    tops = []
    for size in sizes:
        top = list(bottom)
        top[axis] = size
        tops.append(tuple(top))
    check_op(ctx, sum(count(t) for t in tops), "==", count(bottom),
             "count == bottom[0]->count()",
             f"slice points {points} do not fit axis {axis} of size {dim}")
    return LayerSetup(tops=[reshape_check(ctx, t) for t in tops])


@register("Eltwise", traits=Traits("pass", signal="eltwise", reads=("eltwise_param",)))
def eltwise(ctx: LayerContext) -> LayerSetup:
    """EltwiseLayer: all inputs must have the same shape."""
    blob_counts(ctx, "Eltwise", min_bottom=2, exact_top=1)
    p = ctx.param.eltwise_param
    check(ctx, len(p.coeff) in (0, len(ctx.bottoms)),
          f"eltwise_param needs one coeff per bottom ({len(ctx.bottoms)}), got {len(p.coeff)}",
          "this->layer_param().eltwise_param().coeff_size() == 0 || "
          "this->layer_param().eltwise_param().coeff_size() == bottom.size() "
          "Eltwise Layer takes one coefficient per bottom blob.")
    check(ctx, not (p.operation == pb.EltwiseParameter.PROD and len(p.coeff) > 0),
          "eltwise_param.coeff only applies to SUM",
          "!(this->layer_param().eltwise_param().operation() == "
          "EltwiseParameter_EltwiseOp_PROD && this->layer_param().eltwise_param().coeff_size()) "
          "Eltwise layer only takes coefficients for summation.")
    first = ctx.bottoms[0]
    for i, other in enumerate(ctx.bottoms[1:], start=1):
        check(ctx, tuple(first) == tuple(other),
              f"Eltwise inputs must have the same shape: bottom 0 is {show(first)}, "
              f"bottom {i} is {show(other)}",
              f"bottom[0]->shape() == bottom[i]->shape() bottom[0]: {shape_string(first)}, "
              f"bottom[{i}]: {shape_string(other)}")
    return LayerSetup(tops=[first])


@register("Tile", traits=Traits("move", reads=("tile_param",)))
def tile(ctx: LayerContext) -> LayerSetup:
    """TileLayer: repeat along ``axis``."""
    blob_counts(ctx, "Tile", exact_bottom=1, exact_top=1)
    p = ctx.param.tile_param
    (bottom,) = ctx.bottoms
    axis = canonical_axis(ctx, bottom, p.axis)
    check(ctx, p.HasField("tiles"), "tile_param.tiles is required",
          "tile_param.has_tiles() Number of tiles must be specified")
    check_op(ctx, p.tiles, ">", 0, "tiles_ > 0", "tile_param.tiles must be positive",
             "Number of tiles must be positive.")
    top = list(bottom)
    top[axis] = bottom[axis] * p.tiles
    return LayerSetup(tops=[reshape_check(ctx, top)])


@register("Reduction", traits=Traits("transform", signal="none", reads=("reduction_param",)))
def reduction(ctx: LayerContext) -> LayerSetup:
    """ReductionLayer: keeps the axes before ``axis``."""
    blob_counts(ctx, "Reduction", exact_bottom=1, exact_top=1)
    (bottom,) = ctx.bottoms
    axis = canonical_axis(ctx, bottom, ctx.param.reduction_param.axis)
    return LayerSetup(tops=[tuple(bottom[:axis])])


@register("ArgMax", traits=Traits("sink", reads=("argmax_param",)))
def argmax(ctx: LayerContext) -> LayerSetup:
    """ArgMaxLayer: top_k indices (and values) per instance or along ``axis``."""
    blob_counts(ctx, "ArgMax", exact_bottom=1, exact_top=1)
    p = ctx.param.argmax_param
    (bottom,) = ctx.bottoms
    top_k = i32(p.top_k)
    check_op(ctx, top_k, ">=", 1, "top_k_ >= 1", "argmax_param.top_k must be at least 1",
             "top k must not be less than 1.")
    if p.HasField("axis"):
        axis = canonical_axis(ctx, bottom, p.axis)
        check_op(ctx, top_k, "<=", bottom[axis], "top_k_ <= bottom[0]->shape(axis_)",
                 f"argmax_param.top_k ({top_k}) is larger than axis {axis} ({bottom[axis]})",
                 "top_k must be less than or equal to the dimension of the axis.")
        top = list(bottom)
        top[axis] = top_k
        return LayerSetup(tops=[tuple(top)])
    per_instance = checked_count(ctx, bottom, 1)
    check_op(ctx, top_k, "<=", per_instance, "top_k_ <= bottom[0]->count(1)",
             f"argmax_param.top_k ({top_k}) is larger than the values per instance "
             f"({per_instance})",
             "top_k must be less than or equal to the dimension of the flattened bottom "
             "blob per instance.")
    shape = [1] * max(len(bottom), 3)
    shape[0] = axis_dim(ctx, bottom, 0)
    shape[2] = top_k
    if p.out_max_val:
        shape[1] = 2
    return LayerSetup(tops=[tuple(shape)])


@register("Split", traits=Traits("move"))
def split(ctx: LayerContext) -> LayerSetup:
    """SplitLayer: every top is a copy of the bottom (never in place)."""
    blob_counts(ctx, "Split", exact_bottom=1, min_top=1)
    no_in_place(ctx, "Split")
    (bottom,) = ctx.bottoms
    return LayerSetup(tops=[bottom] * num_tops(ctx))


@register("Silence", traits=Traits("sink"))
def silence(ctx: LayerContext) -> LayerSetup:
    """SilenceLayer: swallows its bottoms."""
    blob_counts(ctx, "Silence", min_bottom=1, exact_top=0)
    return LayerSetup(tops=[])


@register("BatchReindex", traits=Traits("move", side_inputs=True))
def batch_reindex(ctx: LayerContext) -> LayerSetup:
    """BatchReindexLayer: bottom[0] rows picked by the 1-D bottom[1]."""
    blob_counts(ctx, "BatchReindex", exact_bottom=2, exact_top=1)
    data, index = ctx.bottoms
    check_op(ctx, 1, "==", len(index), "1 == bottom[1]->num_axes()",
             f"BatchReindex's index input must be 1-D, got {show(index)}")
    return LayerSetup(tops=[(index[0], *data[1:])])


@register("Filter", traits=Traits("move"))
def filter_layer(ctx: LayerContext) -> LayerSetup:
    """FilterLayer: tops like bottoms[:-1] (all rows at setup)."""
    blob_counts(ctx, "Filter", min_bottom=2, min_top=1)
    nb = len(ctx.bottoms)
    check_op(ctx, num_tops(ctx), "==", nb - 1, "top.size() == bottom.size() - 1",
             f"Filter needs one top per filtered bottom ({nb - 1}), got {num_tops(ctx)}")
    selector = ctx.bottoms[-1]
    for i in range(1, len(selector)):
        check_op(ctx, selector[i], "==", 1, "bottom[selector_index]->shape(i) == 1",
                 f"Filter's selector must be [N, 1, ...], got {show(selector)}",
                 "Selector blob dimensions must be singletons (1), except the first")
    for i, b in enumerate(ctx.bottoms[:-1]):
        check_op(ctx, axis_dim(ctx, selector, 0, "the selector's axis"), "==",
                 axis_dim(ctx, b, 0, f"bottom {i}'s axis"), "bottom[selector_index]->shape(0) == "
                 "bottom[i]->shape(0)",
                 f"Filter bottom {i} {show(b)} does not match the selector's first axis",
                 "Each bottom should have the same 0th dimension as the selector blob")
    return LayerSetup(tops=list(ctx.bottoms[:-1]))
