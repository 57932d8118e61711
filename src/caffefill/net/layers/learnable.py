"""Caffe 1.0's layers with learnable blobs of their own: inner products,
embeddings, scales, biases, PReLU slopes, BatchNorm statistics, parameters.

Each entry mirrors the layer's ``LayerSetUp`` + ``Reshape`` in BVLC Caffe 1.0:
the same top shapes, the same learnable blobs with the same fillers in the
same order, and the same refusals.
"""

from __future__ import annotations

from ..._proto import caffefill_pb2 as pb
from ..registry import LayerContext, Traits, register
from ..spec import BlobSpec, LayerSetup, Shape
from ._base import (
    Fill,
    axis_dim,
    blob,
    blob_counts,
    canonical_axis,
    check_op,
    constant,
    count,
    filler,
    i32,
    legacy,
    reshape_check,
    show,
)


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


def _operand(ctx: LayerContext, p: pb.BiasParameter | pb.ScaleParameter,
             fill: Fill, what: str) -> tuple[list[BlobSpec], Shape]:
    """Bias's and Scale's operand: a learned blob over bottom[0] from ``axis``
    (its ``num_axes``), or, when there is one, the second bottom; the blob
    list and the operand's shape."""
    blob_counts(ctx, ctx.type, min_bottom=1, max_bottom=2, exact_top=1)
    if len(ctx.bottoms) > 1:
        return [], ctx.bottoms[1]
    _, shape = _param_shape(ctx, ctx.bottoms[0], p.axis, p.num_axes, what)
    return [blob(shape, fill, what)], shape


@register("Bias", traits=Traits("pass", signal="same", reads=("bias_param",)))
def bias(ctx: LayerContext) -> LayerSetup:
    """BiasLayer: a learned bias over bottom[0] from ``axis`` (unless a 2nd bottom)."""
    p = ctx.param.bias_param
    blobs, shape = _operand(ctx, p, filler(p, "filler", "bias_param.filler"), "bias")
    _check_broadcast(ctx, ctx.bottoms[0], shape, p.axis, "bias")
    return LayerSetup(tops=[ctx.bottoms[0]], blobs=blobs)


@register("Scale", traits=Traits("pass", signal="scale", reads=("scale_param",)))
def scale(ctx: LayerContext) -> LayerSetup:
    """ScaleLayer: a learned scale (default constant 1) and, with bias_term, a
    bias filled by an internal Bias layer from ``scale_param.bias_filler``."""
    p = ctx.param.scale_param
    blobs, shape = _operand(ctx, p, filler(p, "filler", "scale_param.filler", constant(1.0)),
                            "scale")
    bottom = ctx.bottoms[0]
    if p.bias_term:
        # The internal Bias layer sees bottom[0] only; its num_axes is the
        # second bottom's axis count when there is one.
        bias_axes = len(ctx.bottoms[1]) if len(ctx.bottoms) > 1 else p.num_axes
        _, bias_shape = _param_shape(ctx, bottom, p.axis, bias_axes, "bias")
        blobs.append(blob(bias_shape, filler(p, "bias_filler", "scale_param.bias_filler"),
                          "bias"))
    _check_broadcast(ctx, bottom, shape, p.axis, "scale")
    return LayerSetup(tops=[bottom], blobs=blobs)


@register("PReLU", traits=Traits("relu", signal="prelu", reads=("prelu_param",)))
def prelu(ctx: LayerContext) -> LayerSetup:
    """PReLULayer: slopes [C] (a scalar when channel_shared), default 0.25."""
    p = ctx.param.prelu_param
    return per_channel(ctx, p.channel_shared,
                       filler(p, "filler", "prelu_param.filler", constant(0.25)), "slope")


def per_channel(ctx: LayerContext, shared: bool, fill: Fill,
                role: str) -> LayerSetup:
    """PReLU and SSD's Normalize: one blob over the channels of an input with at
    least 2 axes (a scalar when ``shared``); the top is the input's shape."""
    blob_counts(ctx, ctx.type, exact_bottom=1, exact_top=1)
    (bottom,) = ctx.bottoms
    check_op(ctx, len(bottom), ">=", 2, "bottom[0]->num_axes() >= 2",
             f"{ctx.type} needs an input with at least 2 axes, got {show(bottom)}",
             "Number of axes of bottom blob must be >=2.")
    shape: Shape = () if shared else (legacy(ctx, bottom, 1),)
    return LayerSetup(tops=[bottom], blobs=[blob(shape, fill, role)])


@register("BatchNorm", traits=Traits("normalizing", reads=("batch_norm_param",),
                                     statistics=True))
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
