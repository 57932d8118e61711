"""Caffe 1.0's neuron layers (one bottom, one top of the same shape), Softmax
and MVN."""

from __future__ import annotations

from ..registry import LayerContext, Traits, register
from ..spec import LayerSetup
from ._base import (
    blob_counts,
    canonical_axis,
    nchw,
)


def _neuron(ctx: LayerContext) -> LayerSetup:
    """NeuronLayer: one bottom, one top of the same shape."""
    blob_counts(ctx, ctx.type, exact_bottom=1, exact_top=1)
    return LayerSetup(tops=[ctx.bottoms[0]])


"""Caffe 1.0's general-purpose layers: inner products, scales, shape plumbing,
neurons, losses.

Each entry mirrors the layer's ``LayerSetUp`` + ``Reshape`` in BVLC Caffe 1.0:
the same top shapes, the same learnable blobs with the same fillers in the
same order, and the same refusals.
"""
register("ReLU", traits=Traits("relu", signal="relu", reads=("relu_param",)))(_neuron)
register("ELU", traits=Traits("relu", signal="elu", reads=("elu_param",)))(_neuron)
register("Swish", traits=Traits("relu", signal="swish", reads=("swish_param",)))(_neuron)
register("Sigmoid", traits=Traits("saturating", signal="sigmoid", reads=("sigmoid_param",))
         )(_neuron)
register("TanH", traits=Traits("saturating", signal="tanh", reads=("tanh_param",)))(_neuron)
register("Dropout", traits=Traits("pass", signal="dropout", reads=("dropout_param",)))(_neuron)
register("AbsVal", traits=Traits("transform", signal="absval"))(_neuron)
register("Power", traits=Traits("transform", signal="power", reads=("power_param",)))(_neuron)
register("BNLL", traits=Traits("transform", signal="bnll"))(_neuron)
register("Exp", traits=Traits("transform", reads=("exp_param",)))(_neuron)
register("Log", traits=Traits("transform", reads=("log_param",)))(_neuron)
register("Threshold", traits=Traits("transform", reads=("threshold_param",)))(_neuron)
register("Clip", traits=Traits("transform", reads=("clip_param",)))(_neuron)


@register("Softmax", traits=Traits("transform", signal="none", reads=("softmax_param",)))
def softmax(ctx: LayerContext) -> LayerSetup:
    """SoftmaxLayer: same shape."""
    blob_counts(ctx, "Softmax", exact_bottom=1, exact_top=1)
    (bottom,) = ctx.bottoms
    canonical_axis(ctx, bottom, ctx.param.softmax_param.axis)
    return LayerSetup(tops=[bottom])


@register("MVN", traits=Traits("normalizing", signal="mvn", reads=("mvn_param",)))
def mvn(ctx: LayerContext) -> LayerSetup:
    """MVNLayer: the top is the input's legacy 4-D shape."""
    blob_counts(ctx, "MVN", exact_bottom=1, exact_top=1)
    (bottom,) = ctx.bottoms
    return LayerSetup(tops=[nchw(ctx, bottom)])
