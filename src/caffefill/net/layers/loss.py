"""Caffe 1.0's losses and Accuracy: the scalar top, the label checks."""

from __future__ import annotations

from ..registry import LayerContext, Traits, register
from ..spec import LayerSetup, Shape
from ._base import (
    blob_counts,
    canonical_axis,
    check,
    check_op,
    count,
    legacy,
    num_tops,
    show,
)


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
    _singleton_axes(ctx, 1, label, (1, 2, 3), "MultinomialLogisticLoss labels must be [N] or "
                    f"[N, 1, 1, 1], got {show(label)}")
    return LayerSetup(tops=tops)


@register("ContrastiveLoss", traits=Traits("loss", reads=("contrastive_loss_param",)))
def contrastive_loss(ctx: LayerContext) -> LayerSetup:
    """ContrastiveLossLayer: two [N, C, 1, 1] features and a [N, 1, 1, 1] similarity."""
    tops = loss_tops(ctx, "ContrastiveLoss", exact_bottom=3)
    a, b, sim = ctx.bottoms
    check_op(ctx, legacy(ctx, a, 1), "==", legacy(ctx, b, 1),
             "bottom[0]->channels() == bottom[1]->channels()",
             f"ContrastiveLoss features {show(a)} and {show(b)} differ")
    for i, blob_shape in enumerate((a, b)):
        _singleton_axes(ctx, i, blob_shape, (2, 3), f"ContrastiveLoss bottom {i} must be "
                        f"[N, C, 1, 1], got {show(blob_shape)}")
    _singleton_axes(ctx, 2, sim, (1, 2, 3), "ContrastiveLoss's similarity must be "
                    f"[N, 1, 1, 1], got {show(sim)}")
    return LayerSetup(tops=tops)


_LEGACY_AXES = {1: "channels", 2: "height", 3: "width"}


def _singleton_axes(ctx: LayerContext, index: int, shape: Shape, axes: tuple[int, ...],
                    message: str) -> None:
    """Caffe's CHECK_EQ(bottom[index]->channels()/height()/width(), 1) for ``axes``."""
    for axis in axes:
        check_op(ctx, legacy(ctx, shape, axis), "==", 1,
                 f"bottom[{index}]->{_LEGACY_AXES[axis]}() == 1", message)


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
