"""Caffe 1.0's spatial layers: convolution, deconvolution, im2col, pooling,
SPP, LRN and crop."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ... import float32
from ..._proto import caffefill_pb2 as pb
from ...float32 import f32
from ..registry import LayerContext, Traits, register
from ..spec import BlobSpec, LayerSetup, Shape, Window
from ._base import (
    blob,
    blob_counts,
    canonical_axis,
    cdiv,
    check,
    check_op,
    cmod,
    filler,
    i32,
    legacy,
    reshape_check,
    show,
)


@dataclass
class ConvGeometry:
    """Kernel, stride, pad and dilation per spatial axis, as Caffe reads them."""

    channel_axis: int
    kernel: list[int]
    stride: list[int]
    pad: list[int]
    dilation: list[int]


def _per_axis(ctx: LayerContext, p: pb.ConvolutionParameter, field: str, hw: str | None,
              ns: int, default: int | None) -> list[int]:
    """One of convolution_param's per-spatial-axis settings, read as Caffe does.

    ``field`` is the repeated field (kernel_size, stride, pad, dilation), given
    once or once per spatial axis (or not at all when it has a ``default``);
    ``hw`` the prefix of its 2-D ``<hw>_h``/``<hw>_w`` alternative, if any.
    """
    values = getattr(p, field)
    if hw is not None and (p.HasField(f"{hw}_h") or p.HasField(f"{hw}_w")):
        check_op(ctx, ns, "==", 2, "num_spatial_axes_ == 2",
                 f"{hw}_h/{hw}_w need a 2-D input, this one has {ns} spatial axes",
                 f"{hw}_h & {hw}_w can only be used for 2D convolution.")
        check_op(ctx, 0, "==", len(values), f"0 == conv_param.{field}_size()",
                 f"set {field} or {hw}_h/{hw}_w, not both",
                 f"Either {field} or {hw}_h/w should be specified; not both.")
        return [i32(getattr(p, f"{hw}_h")), i32(getattr(p, f"{hw}_w"))]
    n = len(values)
    allowed = (1, ns) if default is None else (0, 1, ns)
    if n not in allowed:
        short = "kernel" if field == "kernel_size" else field
        expr = " || ".join(f"num_{short}_dims == {a if a != ns else 'num_spatial_axes_'}"
                           for a in allowed)
        check(ctx, False,
              f"{field} must be given once or once per spatial axis (given {n} times; "
              f"the input has {ns} spatial axes)",
              f"{expr} {field} must be specified once, or once per spatial dimension "
              f"({field} specified {n} times; {ns} spatial dims).")
    if n == 0:
        return [int(default or 0)] * ns
    return [i32(values[0 if n == 1 else i]) for i in range(ns)]


def conv_geometry(ctx: LayerContext, p: pb.ConvolutionParameter, bottom: Shape,
                  min_spatial: int = 0) -> ConvGeometry:
    """BaseConvolutionLayer::LayerSetUp's reading of ``convolution_param``
    (the Im2col layer uses the same with ``min_spatial=1``)."""
    channel_axis = canonical_axis(ctx, bottom, p.axis)
    ns = len(bottom) - channel_axis - 1
    if ns < min_spatial:
        check_op(ctx, ns, ">=", min_spatial, f"num_spatial_axes_ >= {min_spatial}",
                 f"the input {show(bottom)} has no spatial axes after the channel axis "
                 f"{channel_axis}")
    kernel = _per_axis(ctx, p, "kernel_size", "kernel", ns, default=None)
    for k in kernel:
        check_op(ctx, k, ">", 0, "kernel_shape_data[i] > 0",
                 "kernel sizes must be positive", "Filter dimensions must be nonzero.")
    stride = _per_axis(ctx, p, "stride", "stride", ns, default=1)
    for s in stride:
        check_op(ctx, s, ">", 0, "stride_data[i] > 0", "strides must be positive",
                 "Stride dimensions must be nonzero.")
    pad = _per_axis(ctx, p, "pad", "pad", ns, default=0)
    dilation = _per_axis(ctx, p, "dilation", None, ns, default=1)
    return ConvGeometry(channel_axis, kernel, stride, pad, dilation)


def _conv_out(ctx: LayerContext, g: ConvGeometry, bottom: Shape, deconv: bool) -> list[int]:
    out = []
    for i in range(len(g.kernel)):
        size = bottom[g.channel_axis + 1 + i]
        extent = g.dilation[i] * (g.kernel[i] - 1) + 1
        if deconv:
            dim = g.stride[i] * (size - 1) + extent - 2 * g.pad[i]
        else:
            dim = cdiv(size + 2 * g.pad[i] - extent, g.stride[i]) + 1
        if dim <= 0:
            what = "deconvolution" if deconv else "convolution"
            raise ctx.error(
                f"{what} output is empty along spatial axis {i}: input {size}, kernel extent "
                f"{extent}, pad {g.pad[i]}, stride {g.stride[i]} give {dim}",
                caffe_message=f"Check failed: shape[i] > 0 ({dim} vs. 0)",
            )
        out.append(dim)
    return out


def convolution_setup(ctx: LayerContext, deconv: bool, type_name: str) -> LayerSetup:
    """Convolution and Deconvolution (BaseConvolutionLayer + compute_output_shape)."""
    blob_counts(ctx, type_name, min_bottom=1, min_top=1, equal=True)
    p = ctx.param.convolution_param
    bottom = ctx.bottoms[0]
    g = conv_geometry(ctx, p, bottom)
    channels = bottom[g.channel_axis]
    num_output = i32(p.num_output)
    check_op(ctx, num_output, ">", 0, "num_output_ > 0",
             "convolution_param.num_output must be positive")
    group = i32(p.group)
    if group == 0:
        raise ctx.error("convolution_param.group must be positive",
                        caffe_message="integer division by zero (channels_ % group_)")
    check_op(ctx, cmod(channels, group), "==", 0, "channels_ % group_ == 0",
             f"the input's {channels} channels are not divisible by group {group}")
    check_op(ctx, cmod(num_output, group), "==", 0, "num_output_ % group_ == 0",
             f"num_output {num_output} is not divisible by group {group}",
             "Number of output should be multiples of group.")
    out_channels, in_channels = (channels, num_output) if deconv else (num_output, channels)
    weight_shape = (out_channels, cdiv(in_channels, group), *g.kernel)
    blobs: list[BlobSpec] = [blob(weight_shape, filler(
        p, "weight_filler", "convolution_param.weight_filler"), "weight")]
    if p.bias_term:
        blobs.append(blob((num_output,), filler(
            p, "bias_filler", "convolution_param.bias_filler"), "bias"))
    for i, other in enumerate(ctx.bottoms[1:], start=1):
        check(ctx, tuple(other) == tuple(bottom),
              f"all inputs of {type_name} must have the same shape: bottom 0 is "
              f"{show(bottom)}, bottom {i} is {show(other)}",
              "bottom[0]->shape() == bottom[bottom_id]->shape() "
              "All inputs must have the same shape.")
    spatial = _conv_out(ctx, g, bottom, deconv)
    top = reshape_check(ctx, (*bottom[:g.channel_axis], num_output, *spatial))
    return LayerSetup(tops=[top] * len(ctx.bottoms), blobs=blobs,
                      window=Window(tuple(g.kernel), tuple(g.stride), tuple(g.pad),
                                    tuple(g.dilation)))


@register("Convolution", traits=Traits("linear", reads=("convolution_param",)))
def convolution(ctx: LayerContext) -> LayerSetup:
    """ConvolutionLayer: weight [num_output, C/group, k...], bias [num_output]."""
    return convolution_setup(ctx, False, "Convolution")


@register("Deconvolution", traits=Traits("linear", reads=("convolution_param",)))
def deconvolution(ctx: LayerContext) -> LayerSetup:
    """DeconvolutionLayer: weight [C, num_output/group, k...], bias [num_output]."""
    return convolution_setup(ctx, True, "Deconvolution")


@register("Im2col", traits=Traits("move", reads=("convolution_param",)))
def im2col(ctx: LayerContext) -> LayerSetup:
    """Im2colLayer: channels x prod(kernel), spatial axes as a convolution's."""
    blob_counts(ctx, "Im2col", exact_bottom=1, exact_top=1)
    (bottom,) = ctx.bottoms
    g = conv_geometry(ctx, ctx.param.convolution_param, bottom, min_spatial=1)
    top = list(bottom)
    for i, k in enumerate(g.kernel):
        top[g.channel_axis] *= k
        size = bottom[g.channel_axis + 1 + i]
        extent = g.dilation[i] * (k - 1) + 1
        top[g.channel_axis + 1 + i] = cdiv(size + 2 * g.pad[i] - extent, g.stride[i]) + 1
    return LayerSetup(tops=[reshape_check(ctx, top)])


# ----------------------------------------------------------------- pooling


def _pooled(size: int, pad: int, kernel: int, stride: int, ceil_mode: bool) -> int:
    """One pooled dim: Caffe computes it in float and rounds up (or down)."""
    ratio = float32.div(f32(size + 2 * pad - kernel), f32(stride))
    rounded = math.ceil(ratio) if ceil_mode else math.floor(ratio)
    return int(rounded) + 1


def _one_or_pair(ctx: LayerContext, p: pb.PoolingParameter, name: str, note: str) -> None:
    """PoolingLayer's CHECK that ``name`` or both ``name_h`` and ``name_w`` are given
    (or none of them)."""
    h, w = f"{name}_h", f"{name}_w"
    check(ctx, (not p.HasField(name) and p.HasField(h) and p.HasField(w))
          or (not p.HasField(h) and not p.HasField(w)),
          f"give pooling_param.{name}, or both {h} and {w}",
          f"(!pool_param.has_{name}() && pool_param.has_{h}() && pool_param.has_{w}()) || "
          f"(!pool_param.has_{h}() && !pool_param.has_{w}()) {note}")


def pooling_shape(ctx: LayerContext, p: pb.PoolingParameter, bottom: Shape
                  ) -> tuple[Shape, Window]:
    """PoolingLayer::LayerSetUp + Reshape for ``bottom``: the top's shape and the
    pooling window."""
    if p.global_pooling:
        check(ctx, not (p.HasField("kernel_size") or p.HasField("kernel_h")
                        or p.HasField("kernel_w")),
              "global pooling takes no kernel size",
              "!(pool_param.has_kernel_size() || pool_param.has_kernel_h() || "
              "pool_param.has_kernel_w()) With Global_pooling: true Filter size cannot "
              "specified")
    else:
        has_hw = p.HasField("kernel_h") and p.HasField("kernel_w")
        check(ctx, (not p.HasField("kernel_size")) != (not has_hw),
              "give pooling_param.kernel_size or kernel_h and kernel_w (exactly one)",
              "!pool_param.has_kernel_size() != !(pool_param.has_kernel_h() && "
              "pool_param.has_kernel_w()) Filter size is kernel_size OR kernel_h and "
              "kernel_w; not both")
        check(ctx, p.HasField("kernel_size") or has_hw,
              "pooling needs kernel_size, or both kernel_h and kernel_w",
              "pool_param.has_kernel_size() || (pool_param.has_kernel_h() && "
              "pool_param.has_kernel_w()) For non-square filters both kernel_h and kernel_w "
              "are required.")
    _one_or_pair(ctx, p, "pad", "pad is pad OR pad_h and pad_w are required.")
    _one_or_pair(ctx, p, "stride", "Stride is stride OR stride_h and stride_w are required.")
    if p.global_pooling:
        kh, kw = legacy(ctx, bottom, 2), legacy(ctx, bottom, 3)
    elif p.HasField("kernel_size"):
        kh = kw = i32(p.kernel_size)
    else:
        kh, kw = i32(p.kernel_h), i32(p.kernel_w)
    check_op(ctx, kh, ">", 0, "kernel_h_ > 0", "pooling kernel sizes must be positive",
             "Filter dimensions cannot be zero.")
    check_op(ctx, kw, ">", 0, "kernel_w_ > 0", "pooling kernel sizes must be positive",
             "Filter dimensions cannot be zero.")
    if p.HasField("pad_h"):
        ph, pw = i32(p.pad_h), i32(p.pad_w)
    else:
        ph = pw = i32(p.pad)
    if p.HasField("stride_h"):
        sh, sw = i32(p.stride_h), i32(p.stride_w)
    else:
        sh = sw = i32(p.stride)
    if p.global_pooling:
        check(ctx, ph == 0 and pw == 0 and sh == 1 and sw == 1,
              "global pooling takes pad 0 and stride 1 only",
              "pad_h_ == 0 && pad_w_ == 0 && stride_h_ == 1 && stride_w_ == 1 "
              "With Global_pooling: true; only pad = 0 and stride = 1")
    if ph != 0 or pw != 0:
        check(ctx, p.pool in (pb.PoolingParameter.AVE, pb.PoolingParameter.MAX),
              "padding works with MAX and AVE pooling only",
              "this->layer_param_.pooling_param().pool() == PoolingParameter_PoolMethod_AVE "
              "|| this->layer_param_.pooling_param().pool() == PoolingParameter_PoolMethod_MAX "
              "Padding implemented only for average and max pooling.")
        check_op(ctx, ph, "<", kh, "pad_h_ < kernel_h_",
                 f"pooling pad ({ph}) must be smaller than the kernel ({kh})")
        check_op(ctx, pw, "<", kw, "pad_w_ < kernel_w_",
                 f"pooling pad ({pw}) must be smaller than the kernel ({kw})")
    if sh <= 0 or sw <= 0:
        raise ctx.error("pooling strides must be positive",
                        caffe_message="integer division by zero (stride)")
    if len(bottom) != 4:
        check_op(ctx, 4, "==", len(bottom), "4 == bottom[0]->num_axes()",
                 f"Pooling needs a 4-D input (N, C, H, W), got {show(bottom)}",
                 "Input must have 4 axes, corresponding to (num, channels, height, width)")
    n, c, h, w = bottom
    if p.global_pooling:
        kh, kw = h, w
    ceil_mode = p.round_mode != pb.PoolingParameter.FLOOR and p.ceil_mode
    out_h = _pooled(h, ph, kh, sh, ceil_mode)
    out_w = _pooled(w, pw, kw, sw, ceil_mode)
    if ph or pw:
        # The last pooling window must start inside the image (not the padding).
        if (out_h - 1) * sh >= h + ph:
            out_h -= 1
        if (out_w - 1) * sw >= w + pw:
            out_w -= 1
        check_op(ctx, (out_h - 1) * sh, "<", h + ph, "(pooled_height_ - 1) * stride_h_ < "
                 "height_ + pad_h_", "the last pooling window starts in the padding")
        check_op(ctx, (out_w - 1) * sw, "<", w + pw, "(pooled_width_ - 1) * stride_w_ < "
                 "width_ + pad_w_", "the last pooling window starts in the padding")
    if out_h <= 0 or out_w <= 0:
        raise ctx.error(
            f"pooling output is empty: input {h}x{w}, kernel {kh}x{kw}, pad {ph}x{pw}, "
            f"stride {sh}x{sw} give {out_h}x{out_w}",
            caffe_message=f"Check failed: shape[i] > 0 ({min(out_h, out_w)} vs. 0)")
    return reshape_check(ctx, (n, c, out_h, out_w)), Window((kh, kw), (sh, sw))


@register("Pooling", traits=Traits("pass", signal="pooling", reads=("pooling_param",)))
def pooling(ctx: LayerContext) -> LayerSetup:
    """PoolingLayer: ceil-rounded output, clipped so the last window starts inside."""
    p = ctx.param.pooling_param
    blob_counts(ctx, "Pooling", exact_bottom=1, min_top=1,
                max_top=2 if p.pool == pb.PoolingParameter.MAX else 1)
    top, window = pooling_shape(ctx, p, ctx.bottoms[0])
    return LayerSetup(tops=[top] * len(ctx.param.top), window=window)


def spp_pooling(level: int, h: int, w: int,
                pool: pb.SPPParameter.PoolMethod) -> pb.PoolingParameter:
    """SPPLayer::GetPoolingParam: the pooling of pyramid ``level`` over an
    ``h`` x ``w`` input (2^level bins a side, padded to cover it whole)."""
    bins = 2**level
    kh = math.ceil(h / bins)
    kw = math.ceil(w / bins)
    p = pb.PoolingParameter()
    p.pad_h = (kh * bins - h + 1) // 2
    p.pad_w = (kw * bins - w + 1) // 2
    p.kernel_h, p.kernel_w = kh, kw
    p.stride_h, p.stride_w = kh, kw
    p.pool = {pb.SPPParameter.MAX: pb.PoolingParameter.MAX,
              pb.SPPParameter.AVE: pb.PoolingParameter.AVE,
              pb.SPPParameter.STOCHASTIC: pb.PoolingParameter.STOCHASTIC}[pool]
    return p


@register("SPP", traits=Traits("transform", reads=("spp_param",)))
def spp(ctx: LayerContext) -> LayerSetup:
    """SPPLayer: pyramid of poolings, flattened and concatenated."""
    blob_counts(ctx, "SPP", exact_bottom=1, exact_top=1)
    (bottom,) = ctx.bottoms
    p = ctx.param.spp_param
    n, _, h, w = (legacy(ctx, bottom, i) for i in range(4))
    check_op(ctx, h, ">", 0, "bottom_h_ > 0", "SPP needs a non-empty input",
             "Input dimensions cannot be zero.")
    check_op(ctx, w, ">", 0, "bottom_w_ > 0", "SPP needs a non-empty input",
             "Input dimensions cannot be zero.")
    height = i32(p.pyramid_height)
    if height == 1:
        return LayerSetup(tops=[pooling_shape(ctx, spp_pooling(0, h, w, p.pool), bottom)[0]])
    if height <= 0:
        raise ctx.error("spp_param.pyramid_height must be positive",
                        caffe_message="SPP with an empty pyramid has nothing to concatenate")
    total = 0
    for level in range(height):
        pooled, _ = pooling_shape(ctx, spp_pooling(level, h, w, p.pool), bottom)
        total += pooled[1] * pooled[2] * pooled[3]
    return LayerSetup(tops=[reshape_check(ctx, (n, total))])


@register("LRN", traits=Traits("transform", signal="lrn", reads=("lrn_param",)))
def lrn(ctx: LayerContext) -> LayerSetup:
    """LRNLayer: same 4-D shape; local_size must be odd."""
    blob_counts(ctx, "LRN", exact_bottom=1, exact_top=1)
    p = ctx.param.lrn_param
    size = i32(p.local_size)
    check_op(ctx, cmod(size, 2), "==", 1, "size_ % 2 == 1",
             f"lrn_param.local_size must be odd, got {size}",
             "LRN only supports odd values for local_size")
    (bottom,) = ctx.bottoms
    check_op(ctx, 4, "==", len(bottom), "4 == bottom[0]->num_axes()",
             f"LRN needs a 4-D input (N, C, H, W), got {show(bottom)}",
             "Input must have 4 axes, corresponding to (num, channels, height, width)")
    return LayerSetup(tops=[bottom])


@register("Crop", traits=Traits("move", side_inputs=True, reads=("crop_param",)))
def crop(ctx: LayerContext) -> LayerSetup:
    """CropLayer: bottom[0] cropped to bottom[1]'s size from ``axis`` on."""
    blob_counts(ctx, "Crop", exact_bottom=2, exact_top=1)
    p = ctx.param.crop_param
    data, like = ctx.bottoms
    start = canonical_axis(ctx, data, p.axis)
    if len(p.offset) > 1:
        check_op(ctx, start + len(p.offset), "==", len(data),
                 "start_axis + param.offset_size() == input_dim",
                 f"crop_param needs one offset per axis from {start} ({len(data) - start}), "
                 f"got {len(p.offset)}",
                 "number of offset values specified must be equal to the number of dimensions "
                 "following axis.")
    top = list(data)
    for i in range(start, len(data)):
        if i >= len(like):
            raise ctx.error(
                f"Crop's reference input {show(like)} has no axis {i} to take the size from",
                caffe_message=f"Check failed: axis_index < num_axes() ({i} vs. {len(like)})")
        offset = 0
        if len(p.offset) == 1:
            offset = i32(p.offset[0])
        elif len(p.offset) > 1:
            offset = i32(p.offset[i - start])
        check_op(ctx, data[i] - offset, ">=", like[i],
                 "bottom[0]->shape(i) - crop_offset >= bottom[1]->shape(i)",
                 f"crop of axis {i} is out of bounds: size {like[i]} at offset {offset} in "
                 f"{data[i]}",
                 f"the crop for dimension {i} is out-of-bounds with size {like[i]} and "
                 f"offset {offset}")
        top[i] = like[i]
    return LayerSetup(tops=[reshape_check(ctx, top)])
