"""Caffe 1.0's general-purpose layers: inner products, scales, shape plumbing,
neurons, losses.

Each entry mirrors the layer's ``LayerSetUp`` + ``Reshape`` in BVLC Caffe 1.0:
the same top shapes, the same learnable blobs with the same fillers in the
same order, and the same refusals.
"""

from __future__ import annotations

from ..._proto import caffefill_pb2 as pb
from ..registry import LayerContext, Traits, register
from ..spec import BlobSpec, LayerSetup, Shape
from ._base import (
    MAX_BLOB_AXES,
    axis_dim,
    blob,
    blob_counts,
    canonical_axis,
    check,
    check_op,
    checked_count,
    cmod,
    constant,
    count,
    filler,
    i32,
    legacy,
    nchw,
    no_in_place,
    num_tops,
    reshape_check,
    shape_string,
    show,
)

# ----------------------------------------------------------------- learnable


@register("InnerProduct", traits=Traits("linear", reads=("inner_product_param",)))
def inner_product(ctx: LayerContext) -> LayerSetup:
    """InnerProductLayer: weight [N, K] (or [K, N] when transposed), bias [N]."""
    blob_counts(ctx, "InnerProduct", exact_bottom=1, exact_top=1)
    p = ctx.param.inner_product_param
    (bottom,) = ctx.bottoms
    n = i32(p.num_output)
    axis = canonical_axis(ctx, bottom, p.axis)
    k = count(bottom, axis)
    weight_shape = (k, n) if p.transpose else (n, k)
    blobs = [blob(weight_shape, filler(p, "weight_filler", "inner_product_param.weight_filler"),
                  "weight")]
    if p.bias_term:
        blobs.append(blob((n,), filler(p, "bias_filler", "inner_product_param.bias_filler"),
                          "bias"))
    top = (*bottom[:axis], n)
    return LayerSetup(tops=[top], blobs=blobs)


@register("Embed", traits=Traits("anchor", reads=("embed_param",)))
def embed(ctx: LayerContext) -> LayerSetup:
    """EmbedLayer: weight [input_dim, num_output], bias [num_output]."""
    blob_counts(ctx, "Embed", exact_bottom=1, exact_top=1)
    p = ctx.param.embed_param
    n = i32(p.num_output)
    check_op(ctx, n, ">", 0, "N_ > 0", "embed_param.num_output must be positive",
             "EmbedLayer num_output must be positive.")
    k = i32(p.input_dim)
    check_op(ctx, k, ">", 0, "K_ > 0", "embed_param.input_dim must be positive",
             "EmbedLayer input_dim must be positive.")
    blobs = [blob((k, n), filler(p, "weight_filler", "embed_param.weight_filler"), "weight")]
    if p.bias_term:
        blobs.append(blob((n,), filler(p, "bias_filler", "embed_param.bias_filler"), "bias"))
    (bottom,) = ctx.bottoms
    return LayerSetup(tops=[(*bottom, n)], blobs=blobs)


def _param_shape(ctx: LayerContext, bottom: Shape, axis_field: int, num_axes: int,
                 what: str) -> tuple[int, Shape]:
    """The shape of a Scale/Bias parameter blob over ``bottom``."""
    axis = canonical_axis(ctx, bottom, axis_field)
    check_op(ctx, num_axes, ">=", -1, "num_axes >= -1",
             f"{what}_param.num_axes must be non-negative, or -1 to extend to the end",
             "num_axes must be non-negative, or -1 to extend to the end of bottom[0]")
    if num_axes >= 0:
        check_op(ctx, len(bottom), ">=", axis + num_axes,
                 "bottom[0]->num_axes() >= axis + num_axes",
                 f"the {what} blob would extend past the input {show(bottom)} "
                 f"(axis {axis}, num_axes {num_axes})",
                 f"{what} blob's shape extends past bottom[0]'s shape when applied "
                 f"starting with bottom[0] axis = {axis}")
    end = len(bottom) if num_axes == -1 else axis + num_axes
    return axis, tuple(bottom[axis:end])


def _check_broadcast(ctx: LayerContext, bottom: Shape, param_shape: Shape, axis_field: int,
                     what: str) -> None:
    """Scale/Bias Reshape: the parameter must match bottom[0] from ``axis``."""
    axis = 0 if len(param_shape) == 0 else canonical_axis(ctx, bottom, axis_field)
    check_op(ctx, len(bottom), ">=", axis + len(param_shape),
             f"bottom[0]->num_axes() >= axis_ + {what}->num_axes()",
             f"the {what} blob {show(param_shape)} extends past the input {show(bottom)} "
             f"from axis {axis}",
             f"{what} blob's shape extends past bottom[0]'s shape when applied "
             f"starting with bottom[0] axis = {axis}")
    for i, d in enumerate(param_shape):
        check_op(ctx, bottom[axis + i], "==", d,
                 f"bottom[0]->shape(axis_ + i) == {what}->shape(i)",
                 f"the {what} blob {show(param_shape)} does not match the input "
                 f"{show(bottom)} at axis {axis + i}",
                 f"dimension mismatch between bottom[0]->shape({axis + i}) and "
                 f"{what}->shape({i})")


@register("Bias", traits=Traits("pass", signal="same", reads=("bias_param",)))
def bias(ctx: LayerContext) -> LayerSetup:
    """BiasLayer: a learned bias over bottom[0] from ``axis`` (unless a 2nd bottom)."""
    blob_counts(ctx, "Bias", min_bottom=1, max_bottom=2, exact_top=1)
    p = ctx.param.bias_param
    bottom = ctx.bottoms[0]
    blobs: list[BlobSpec] = []
    if len(ctx.bottoms) == 1:
        _, shape = _param_shape(ctx, bottom, p.axis, p.num_axes, "bias")
        blobs.append(blob(shape, filler(p, "filler", "bias_param.filler"), "bias"))
        param_shape = shape
    else:
        param_shape = ctx.bottoms[1]
    _check_broadcast(ctx, bottom, param_shape, p.axis, "bias")
    return LayerSetup(tops=[bottom], blobs=blobs)


@register("Scale", traits=Traits("pass", signal="scale", reads=("scale_param",)))
def scale(ctx: LayerContext) -> LayerSetup:
    """ScaleLayer: a learned scale (default constant 1) and, with bias_term, a
    bias filled by an internal Bias layer from ``scale_param.bias_filler``."""
    blob_counts(ctx, "Scale", min_bottom=1, max_bottom=2, exact_top=1)
    p = ctx.param.scale_param
    bottom = ctx.bottoms[0]
    blobs: list[BlobSpec] = []
    if len(ctx.bottoms) == 1:
        _, shape = _param_shape(ctx, bottom, p.axis, p.num_axes, "scale")
        blobs.append(blob(shape, filler(p, "filler", "scale_param.filler", constant(1.0)),
                          "scale"))
    if p.bias_term:
        # The internal Bias layer sees bottom[0] only; its num_axes is the
        # second bottom's axis count when there is one.
        bias_axes = len(ctx.bottoms[1]) if len(ctx.bottoms) > 1 else p.num_axes
        _, shape = _param_shape(ctx, bottom, p.axis, bias_axes, "bias")
        blobs.append(blob(shape, filler(p, "bias_filler", "scale_param.bias_filler"), "bias"))
    scale_shape = blobs[0].shape if len(ctx.bottoms) == 1 else ctx.bottoms[1]
    _check_broadcast(ctx, bottom, scale_shape, p.axis, "scale")
    return LayerSetup(tops=[bottom], blobs=blobs)


@register("PReLU", traits=Traits("relu", signal="prelu", reads=("prelu_param",)))
def prelu(ctx: LayerContext) -> LayerSetup:
    """PReLULayer: slopes [C] (a scalar when channel_shared), default 0.25."""
    blob_counts(ctx, "PReLU", exact_bottom=1, exact_top=1)
    (bottom,) = ctx.bottoms
    check_op(ctx, len(bottom), ">=", 2, "bottom[0]->num_axes() >= 2",
             f"PReLU needs an input with at least 2 axes, got {show(bottom)}",
             "Number of axes of bottom blob must be >=2.")
    p = ctx.param.prelu_param
    channels = legacy(ctx, bottom, 1)
    shape: Shape = () if p.channel_shared else (channels,)
    return LayerSetup(tops=[bottom], blobs=[
        blob(shape, filler(p, "filler", "prelu_param.filler", constant(0.25)), "slope")])


@register("BatchNorm", traits=Traits("normalizing", reads=("batch_norm_param",)))
def batch_norm(ctx: LayerContext) -> LayerSetup:
    """BatchNormLayer: mean [C], variance [C], moving-average factor [1], all
    zero-filled without drawing."""
    blob_counts(ctx, "BatchNorm", exact_bottom=1, exact_top=1)
    (bottom,) = ctx.bottoms
    channels = 1 if len(bottom) == 1 else axis_dim(ctx, bottom, 1, "BatchNorm's channel axis")
    specs = ctx.param.param
    for i in range(min(3, len(specs))):
        check_op(ctx, specs[i].lr_mult, "==", 0.0, "this->layer_param_.param(i).lr_mult() == 0.f",
                 f"BatchNorm's statistics cannot be learned: param {i} must have lr_mult: 0",
                 "Cannot configure batch normalization statistics as layer parameters.")
    return LayerSetup(tops=[bottom], blobs=[
        BlobSpec((channels,), None, "mean"),
        BlobSpec((channels,), None, "variance"),
        BlobSpec((1,), None, "moving_average_factor"),
    ])


@register("Parameter", traits=Traits("source", reads=("parameter_param",)))
def parameter(ctx: LayerContext) -> LayerSetup:
    """ParameterLayer: one blob of ``parameter_param.shape``, not filled (zeros)."""
    blob_counts(ctx, "Parameter", exact_bottom=0, exact_top=1)
    shape = reshape_check(ctx, ctx.param.parameter_param.shape.dim, "parameter")
    return LayerSetup(tops=[shape], blobs=[BlobSpec(shape, None, "parameter")])


# ----------------------------------------------------------------- shapes


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


@register("Concat", traits=Traits("pass", signal="concat", reads=("concat_param",)))
def concat(ctx: LayerContext) -> LayerSetup:
    """ConcatLayer: all inputs equal except along the concat axis."""
    blob_counts(ctx, "Concat", min_bottom=1, exact_top=1)
    p = ctx.param.concat_param
    check(ctx, not (p.HasField("axis") and p.HasField("concat_dim")),
          "set concat_param.axis or concat_dim, not both",
          "!(concat_param.has_axis() && concat_param.has_concat_dim()) "
          "Either axis or concat_dim should be specified; not both.")
    first = ctx.bottoms[0]
    n = len(first)
    if p.HasField("concat_dim"):
        axis = i32(p.concat_dim)
        check_op(ctx, axis, ">=", 0, "concat_axis_ >= 0",
                 "concat_param.concat_dim is negative once cast to int32",
                 f"casting concat_dim from uint32 to int32 produced negative result; "
                 f"concat_dim must satisfy 0 <= concat_dim < {MAX_BLOB_AXES}")
        check_op(ctx, axis, "<", n, "concat_axis_ < num_axes",
                 f"concat_param.concat_dim {axis} is out of range for {show(first)}",
                 "concat_dim out of range.")
    else:
        axis = canonical_axis(ctx, first, p.axis)
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
    check(ctx, not (p.HasField("axis") and p.HasField("slice_dim")),
          "set slice_param.axis or slice_dim, not both",
          "!(slice_param.has_axis() && slice_param.has_slice_dim()) "
          "Either axis or slice_dim should be specified; not both.")
    (bottom,) = ctx.bottoms
    if p.HasField("slice_dim"):
        axis = i32(p.slice_dim)
        check_op(ctx, axis, ">=", 0, "slice_axis_ >= 0",
                 "slice_param.slice_dim is negative once cast to int32",
                 f"casting slice_dim from uint32 to int32 produced negative result; "
                 f"slice_dim must satisfy 0 <= slice_dim < {MAX_BLOB_AXES}")
        check_op(ctx, axis, "<", len(bottom), "slice_axis_ < num_axes",
                 f"slice_param.slice_dim {axis} is out of range for {show(bottom)}",
                 "slice_dim out of range.")
    else:
        axis = canonical_axis(ctx, bottom, p.axis)
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


@register("Softmax", traits=Traits("transform", signal="none", reads=("softmax_param",)))
def softmax(ctx: LayerContext) -> LayerSetup:
    """SoftmaxLayer: same shape."""
    blob_counts(ctx, "Softmax", exact_bottom=1, exact_top=1)
    (bottom,) = ctx.bottoms
    canonical_axis(ctx, bottom, ctx.param.softmax_param.axis)
    return LayerSetup(tops=[bottom])


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


@register("MVN", traits=Traits("normalizing", signal="mvn", reads=("mvn_param",)))
def mvn(ctx: LayerContext) -> LayerSetup:
    """MVNLayer: the top is the input's legacy 4-D shape."""
    blob_counts(ctx, "MVN", exact_bottom=1, exact_top=1)
    (bottom,) = ctx.bottoms
    return LayerSetup(tops=[nchw(ctx, bottom)])


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


@register("HDF5Output", traits=Traits("sink", reads=("hdf5_output_param",)))
def hdf5_output(ctx: LayerContext) -> LayerSetup:
    """HDF5OutputLayer: writes data and label; no tops."""
    blob_counts(ctx, "HDF5Output", exact_bottom=2, exact_top=0)
    return LayerSetup(tops=[])


@register("LSTMUnit", traits=Traits("anchor"))
def lstm_unit(ctx: LayerContext) -> LayerSetup:
    """LSTMUnitLayer: (c_prev [1,N,H], gates [1,N,4H], cont [1,N]) -> c, h."""
    blob_counts(ctx, "LSTMUnit", exact_bottom=3, exact_top=2)
    c_prev, gates, cont = ctx.bottoms
    check(ctx, len(c_prev) >= 2, f"LSTMUnit's bottom 0 must be [1, N, H], got {show(c_prev)}",
          "bottom[0]->num_axes() >= 2")
    n = c_prev[1]
    for i, b in enumerate(ctx.bottoms):
        want = 2 if i == 2 else 3
        check_op(ctx, want, "==", len(b), "bottom[i]->num_axes()",
                 f"LSTMUnit's bottom {i} must have {want} axes, got {show(b)}")
        check_op(ctx, 1, "==", b[0], "1 == bottom[i]->shape(0)",
                 f"LSTMUnit's bottom {i} must hold a single time step, got {show(b)}")
        check_op(ctx, n, "==", b[1], "num_instances == bottom[i]->shape(1)",
                 f"LSTMUnit's bottom {i} {show(b)} does not have {n} streams")
    check_op(ctx, 4 * c_prev[2], "==", gates[2], "4 * hidden_dim_ == bottom[1]->shape(2)",
             f"LSTMUnit's gate input {show(gates)} must be 4x the cell size {c_prev[2]}")
    del cont
    return LayerSetup(tops=[c_prev, c_prev])


# ----------------------------------------------------------------- neurons

def _neuron(ctx: LayerContext) -> LayerSetup:
    """NeuronLayer: one bottom, one top of the same shape."""
    blob_counts(ctx, ctx.type, exact_bottom=1, exact_top=1)
    return LayerSetup(tops=[ctx.bottoms[0]])


register("ReLU", traits=Traits("relu", signal="relu", reads=("relu_param",)))(_neuron)
register("ELU", traits=Traits("relu", signal="half", reads=("elu_param",)))(_neuron)
register("Swish", traits=Traits("relu", reads=("swish_param",)))(_neuron)
register("Sigmoid", traits=Traits("saturating", signal="sigmoid", reads=("sigmoid_param",))
         )(_neuron)
register("TanH", traits=Traits("saturating", signal="tanh", reads=("tanh_param",)))(_neuron)
register("Dropout", traits=Traits("pass", signal="dropout", reads=("dropout_param",)))(_neuron)
register("AbsVal", traits=Traits("transform", signal="absval"))(_neuron)
register("Power", traits=Traits("transform", signal="power", reads=("power_param",)))(_neuron)
register("BNLL", traits=Traits("transform"))(_neuron)
register("Exp", traits=Traits("transform", reads=("exp_param",)))(_neuron)
register("Log", traits=Traits("transform", reads=("log_param",)))(_neuron)
register("Threshold", traits=Traits("transform", reads=("threshold_param",)))(_neuron)
register("Clip", traits=Traits("transform", reads=("clip_param",)))(_neuron)


# ----------------------------------------------------------------- losses


def loss_tops(ctx: LayerContext, type_name: str, *, min_bottom: int = -1, max_bottom: int = -1,
              exact_bottom: int = 2, max_top: int = 1, extra: list[Shape] | None = None
              ) -> list[Shape]:
    """LossLayer: the scalar loss (Caffe adds an anonymous top when none is
    named), the label/data first-axis check, and optional extra tops.

    Like ``LossLayer::LayerSetUp``, a loss layer without ``loss_weight`` gets
    ``loss_weight: 1`` in its parameters, which ``Net::ToProto`` then writes
    into the .caffemodel."""
    if len(ctx.param.loss_weight) == 0:
        ctx.param.loss_weight.append(1.0)
    named = num_tops(ctx)
    blob_counts(ctx, type_name, exact_bottom=exact_bottom, min_bottom=min_bottom,
                max_bottom=max_bottom, min_top=1, max_top=max_top, num_tops=max(named, 1))
    data, label = ctx.bottoms[0], ctx.bottoms[1]
    check(ctx, len(data) >= 1 and len(label) >= 1,
          "loss inputs must have at least one axis",
          "bottom[0]->num_axes() >= 1")
    check_op(ctx, data[0], "==", label[0], "bottom[0]->shape(0) == bottom[1]->shape(0)",
             f"{type_name}: data {show(data)} and label {show(label)} must have the same "
             f"first dimension", "The data and label should have the same first dimension.")
    tops: list[Shape] = [()]
    if extra:
        tops.extend(extra[: max(named, 1) - 1])
    return tops


def _labels_match(ctx: LayerContext, type_name: str, axis_field: int, axis_name: str) -> int:
    data, label = ctx.bottoms[0], ctx.bottoms[1]
    axis = canonical_axis(ctx, data, axis_field)
    outer_inner = count(data, 0, axis) * count(data, axis + 1)
    check_op(ctx, outer_inner, "==", count(label), "outer_num_ * inner_num_ == bottom[1]->count()",
             f"{type_name}: {count(label)} labels for predictions {show(data)} "
             f"(needs {outer_inner})",
             f"Number of labels must match number of predictions; e.g., if {axis_name} axis "
             f"== 1 and prediction shape is (N, C, H, W), label count (number of labels) must "
             f"be N*H*W, with integer values in {{0, 1, ..., C-1}}.")
    return axis


@register("SoftmaxWithLoss", traits=Traits("loss", reads=("softmax_param", "loss_param")))
def softmax_with_loss(ctx: LayerContext) -> LayerSetup:
    """SoftmaxWithLossLayer: scalar loss (+ the softmax output as 2nd top)."""
    tops = loss_tops(ctx, "SoftmaxWithLoss", max_top=2, extra=[ctx.bottoms[0]]
                     if len(ctx.bottoms) >= 1 else None)
    _labels_match(ctx, "SoftmaxWithLoss", ctx.param.softmax_param.axis, "softmax")
    return LayerSetup(tops=tops)


@register("InfogainLoss", traits=Traits("loss", reads=("infogain_loss_param", "loss_param")))
def infogain_loss(ctx: LayerContext) -> LayerSetup:
    """InfogainLossLayer: H from a file or a third bottom."""
    tops = loss_tops(ctx, "InfogainLoss", exact_bottom=-1, min_bottom=2, max_bottom=3,
                     max_top=2, extra=[ctx.bottoms[0]] if ctx.bottoms else None)
    p = ctx.param.infogain_loss_param
    check(ctx, not ctx.param.loss_param.HasField("normalize"),
          "InfogainLoss: loss_param.normalize is deprecated, use normalization",
          "!this->layer_param_.loss_param().has_normalize() normalize is deprecated. "
          "use \"normalization\"")
    if len(ctx.bottoms) < 3:
        check(ctx, p.HasField("source"), "InfogainLoss needs infogain_loss_param.source",
              "this->layer_param_.infogain_loss_param().has_source() "
              "Infogain matrix source must be specified.")
    axis = _labels_match(ctx, "InfogainLoss", p.axis, "infogain")
    if len(ctx.bottoms) == 3:
        labels = ctx.bottoms[0][axis]
        check_op(ctx, count(ctx.bottoms[2]), "==", labels * labels,
                 "infogain->count() == num_labels_*num_labels_",
                 f"InfogainLoss's H must be {labels}x{labels}, got {show(ctx.bottoms[2])}")
    return LayerSetup(tops=tops)


@register("EuclideanLoss", traits=Traits("loss"))
def euclidean_loss(ctx: LayerContext) -> LayerSetup:
    """EuclideanLossLayer: inputs of the same per-item size."""
    tops = loss_tops(ctx, "EuclideanLoss")
    a, b = ctx.bottoms
    check_op(ctx, count(a, 1), "==", count(b, 1), "bottom[0]->count(1) == bottom[1]->count(1)",
             f"EuclideanLoss inputs {show(a)} and {show(b)} differ in size",
             "Inputs must have the same dimension.")
    return LayerSetup(tops=tops)


@register("SigmoidCrossEntropyLoss", traits=Traits("loss", reads=("loss_param",)))
def sigmoid_cross_entropy_loss(ctx: LayerContext) -> LayerSetup:
    """SigmoidCrossEntropyLossLayer: inputs of the same count."""
    tops = loss_tops(ctx, "SigmoidCrossEntropyLoss")
    a, b = ctx.bottoms
    check_op(ctx, count(a), "==", count(b), "bottom[0]->count() == bottom[1]->count()",
             f"SigmoidCrossEntropyLoss inputs {show(a)} and {show(b)} differ in size",
             "SIGMOID_CROSS_ENTROPY_LOSS layer inputs must have the same count.")
    return LayerSetup(tops=tops)


@register("HingeLoss", traits=Traits("loss", reads=("hinge_loss_param",)))
def hinge_loss(ctx: LayerContext) -> LayerSetup:
    """HingeLossLayer."""
    return LayerSetup(tops=loss_tops(ctx, "HingeLoss"))


@register("MultinomialLogisticLoss", traits=Traits("loss"))
def multinomial_logistic_loss(ctx: LayerContext) -> LayerSetup:
    """MultinomialLogisticLossLayer: one label per item."""
    tops = loss_tops(ctx, "MultinomialLogisticLoss")
    label = ctx.bottoms[1]
    for index, name in ((1, "channels"), (2, "height"), (3, "width")):
        check_op(ctx, legacy(ctx, label, index), "==", 1, f"bottom[1]->{name}() == 1",
                 f"MultinomialLogisticLoss labels must be [N] or [N, 1, 1, 1], got {show(label)}")
    return LayerSetup(tops=tops)


@register("ContrastiveLoss", traits=Traits("loss", reads=("contrastive_loss_param",)))
def contrastive_loss(ctx: LayerContext) -> LayerSetup:
    """ContrastiveLossLayer: two [N, C, 1, 1] features and a [N, 1, 1, 1] similarity."""
    tops = loss_tops(ctx, "ContrastiveLoss", exact_bottom=3)
    a, b, sim = ctx.bottoms
    check_op(ctx, legacy(ctx, a, 1), "==", legacy(ctx, b, 1),
             "bottom[0]->channels() == bottom[1]->channels()",
             f"ContrastiveLoss features {show(a)} and {show(b)} differ")
    for blob_shape, i in ((a, 0), (b, 1)):
        for index, name in ((2, "height"), (3, "width")):
            check_op(ctx, legacy(ctx, blob_shape, index), "==", 1, f"bottom[{i}]->{name}() == 1",
                     f"ContrastiveLoss bottom {i} must be [N, C, 1, 1], got {show(blob_shape)}")
    for index, name in ((1, "channels"), (2, "height"), (3, "width")):
        check_op(ctx, legacy(ctx, sim, index), "==", 1, f"bottom[2]->{name}() == 1",
                 f"ContrastiveLoss's similarity must be [N, 1, 1, 1], got {show(sim)}")
    return LayerSetup(tops=tops)


@register("Accuracy", traits=Traits("sink", reads=("accuracy_param",)))
def accuracy(ctx: LayerContext) -> LayerSetup:
    """AccuracyLayer: scalar accuracy (+ per-class accuracy [C])."""
    blob_counts(ctx, "Accuracy", exact_bottom=2, min_top=1, max_top=2)
    p = ctx.param.accuracy_param
    data, label = ctx.bottoms
    label_count = count(label)
    classes = count(data) // label_count if label_count else 0
    check_op(ctx, p.top_k, "<=", classes, "top_k_ <= bottom[0]->count() / bottom[1]->count()",
             f"accuracy_param.top_k ({p.top_k}) is larger than the number of classes ({classes})",
             "top_k must be less than or equal to the number of classes.")
    axis = _labels_match(ctx, "Accuracy", p.axis, "label")
    tops: list[Shape] = [()]
    if num_tops(ctx) > 1:
        tops.append((data[axis],))
    return LayerSetup(tops=tops)
