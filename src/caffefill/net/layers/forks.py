"""Layers of popular Caffe forks.

* SSD (weiliu89/caffe, branch ssd): Normalize, PriorBox, Permute,
  DetectionOutput, DetectionEvaluate, MultiBoxLoss, SmoothL1Loss;
* SegNet (alexgkendall/caffe-segnet): BN, Upsample;
* PSPNet/DeepLab-v2 (hszhao/PSPNet): BN (its 4-blob variant), Interp,
  SegAccuracy;
* Fast/Faster R-CNN (rbgirshick/caffe-fast-rcnn): ROIPooling, SmoothL1Loss;
* R-FCN (daijifeng001/caffe-rfcn): PSROIPooling, BoxAnnotatorOHEM;
* depthwise convolutions: ``DepthwiseConvolution`` (a ConvolutionLayer
  subclass: same blobs as Convolution) and ``ConvolutionDepthwise``
  (weights [C, 1, kh, kw], bias [C], from the input's channels).
"""

from __future__ import annotations

import math

from ..._proto import caffefill_pb2 as pb
from ...float32 import f32
from ..registry import LayerContext, Traits, register
from ..spec import BlobSpec, LayerSetup, Shape, Window
from ._base import (
    blob,
    blob_counts,
    cdiv,
    check,
    check_op,
    constant,
    filler,
    i32,
    legacy,
    nchw,
    reshape_check,
    show,
)
from .learnable import per_channel
from .loss import loss_tops
from .vision import convolution_setup

# ----------------------------------------------------------------- SSD


@register("Normalize", traits=Traits("normalizing", signal="normalize", reads=("norm_param",)))
def normalize(ctx: LayerContext) -> LayerSetup:
    """SSD NormalizeLayer: scale [C] (a scalar when channel_shared), default 1."""
    p = ctx.param.norm_param
    return per_channel(ctx, p.channel_shared,
                       filler(p, "scale_filler", "norm_param.scale_filler", constant(1.0)),
                       "scale")


def prior_aspect_ratios(p: pb.PriorBoxParameter) -> list[float]:
    """PriorBoxLayer's aspect ratios: 1, then each new ``aspect_ratio`` (and
    its inverse with ``flip``), as float32 values."""
    ratios = [1.0]
    for ar in p.aspect_ratio:
        a = f32(ar)
        if any(abs(a - r) < 1e-6 for r in ratios):
            continue
        ratios.append(a)
        if p.flip:
            # 1./ar in double, as Caffe computes it: an aspect ratio of 0 gives inf.
            ratios.append(f32(1.0 / a) if a else math.copysign(math.inf, a))
    return ratios


@register("PriorBox", traits=Traits("sink", reads=("prior_box_param",)))
def prior_box(ctx: LayerContext) -> LayerSetup:
    """SSD PriorBoxLayer: [1, 2, H * W * num_priors * 4]."""
    blob_counts(ctx, "PriorBox", exact_top=1)
    p = ctx.param.prior_box_param
    check_op(ctx, len(p.min_size), ">", 0, "prior_box_param.min_size_size() > 0",
             "prior_box_param needs min_size", "must provide min_size.")
    for m in p.min_size:
        check_op(ctx, float(m), ">", 0.0, "min_sizes_.back() > 0",
                 "prior_box_param.min_size must be positive", "min_size must be positive.")
    num_priors = len(prior_aspect_ratios(p)) * len(p.min_size)
    if len(p.max_size) > 0:
        check_op(ctx, len(p.min_size), "==", len(p.max_size),
                 "prior_box_param.min_size_size() == prior_box_param.max_size_size()",
                 "prior_box_param needs as many max_size as min_size")
        for lo, hi in zip(p.min_size, p.max_size, strict=False):
            check_op(ctx, float(hi), ">", float(lo), "max_sizes_[i] > min_sizes_[i]",
                     "prior_box_param.max_size must be greater than min_size",
                     "max_size must be greater than min_size.")
            num_priors += 1
    if len(p.variance) > 1:
        check_op(ctx, len(p.variance), "==", 4, "prior_box_param.variance_size() == 4",
                 "prior_box_param takes 1 or 4 variance values")
    for v in p.variance:
        check_op(ctx, float(v), ">", 0.0, "prior_box_param.variance(i) > 0",
                 "prior_box_param.variance must be positive")
    if p.HasField("img_h") or p.HasField("img_w"):
        check(ctx, not p.HasField("img_size"), "give img_size or img_h/img_w, not both",
              "!prior_box_param.has_img_size() Either img_size or img_h/img_w should be "
              "specified; not both.")
        check_op(ctx, i32(p.img_h), ">", 0, "img_h_ > 0", "prior_box_param.img_h must be positive",
                 "img_h should be larger than 0.")
        check_op(ctx, i32(p.img_w), ">", 0, "img_w_ > 0", "prior_box_param.img_w must be positive",
                 "img_w should be larger than 0.")
    elif p.HasField("img_size"):
        check_op(ctx, i32(p.img_size), ">", 0, "img_size > 0",
                 "prior_box_param.img_size must be positive", "img_size should be larger than 0.")
    if p.HasField("step_h") or p.HasField("step_w"):
        check(ctx, not p.HasField("step"), "give step or step_h/step_w, not both",
              "!prior_box_param.has_step() Either step or step_h/step_w should be specified; "
              "not both.")
        check_op(ctx, float(p.step_h), ">", 0.0, "step_h_ > 0.",
                 "prior_box_param.step_h must be positive", "step_h should be larger than 0.")
        check_op(ctx, float(p.step_w), ">", 0.0, "step_w_ > 0.",
                 "prior_box_param.step_w must be positive", "step_w should be larger than 0.")
    elif p.HasField("step"):
        check_op(ctx, float(p.step), ">", 0.0, "step > 0",
                 "prior_box_param.step must be positive", "step should be larger than 0.")
    check(ctx, len(ctx.bottoms) >= 1, "PriorBox needs the feature map as bottom 0",
          "bottom.size() >= 1")
    bottom = ctx.bottoms[0]
    h, w = legacy(ctx, bottom, 2), legacy(ctx, bottom, 3)
    size = w * h * num_priors * 4
    check_op(ctx, size, ">", 0, "top_shape[2] > 0", "PriorBox would produce no boxes")
    return LayerSetup(tops=[reshape_check(ctx, (1, 2, size))])


@register("Permute", traits=Traits("move", reads=("permute_param",)))
def permute(ctx: LayerContext) -> LayerSetup:
    """SSD PermuteLayer: axes reordered; unnamed axes keep their order after."""
    blob_counts(ctx, "Permute", exact_bottom=1, exact_top=1)
    (bottom,) = ctx.bottoms
    n = len(bottom)
    orders: list[int] = []
    for o in ctx.param.permute_param.order:
        check_op(ctx, int(o), "<", n, "order < num_axes_",
                 f"permute_param.order {o} is out of range for the {n}-D input",
                 "order should be less than the input dimension.")
        if o in orders:
            raise ctx.error(f"permute_param.order repeats axis {o}",
                            caffe_message="there are duplicate orders")
        orders.append(int(o))
    orders += [i for i in range(n) if i not in orders]
    return LayerSetup(tops=[tuple(bottom[o] for o in orders)])


def _detection_counts(ctx: LayerContext, what: str, num_classes: int, share_location: bool
                      ) -> None:
    loc, conf, prior = ctx.bottoms[0], ctx.bottoms[1], ctx.bottoms[2]
    check_op(ctx, legacy(ctx, loc, 0), "==", legacy(ctx, conf, 0),
             "bottom[0]->num() == bottom[1]->num()",
             f"{what}: location {show(loc)} and confidence {show(conf)} differ in batch")
    num_priors = cdiv(legacy(ctx, prior, 2), 4)
    loc_classes = 1 if share_location else num_classes
    check_op(ctx, num_priors * loc_classes * 4, "==", legacy(ctx, loc, 1),
             "num_priors_ * num_loc_classes_ * 4 == bottom[0]->channels()",
             f"{what}: {num_priors} priors need {num_priors * loc_classes * 4} location "
             f"values per item, got {show(loc)}",
             "Number of priors must match number of location predictions.")
    check_op(ctx, num_priors * num_classes, "==", legacy(ctx, conf, 1),
             "num_priors_ * num_classes_ == bottom[1]->channels()",
             f"{what}: {num_priors} priors and {num_classes} classes need "
             f"{num_priors * num_classes} confidences per item, got {show(conf)}",
             "Number of priors must match number of confidence predictions.")


@register("DetectionOutput", traits=Traits("sink", reads=("detection_output_param",)))
def detection_output(ctx: LayerContext) -> LayerSetup:
    """SSD DetectionOutputLayer: [1, 1, 1, 7] at setup (the kept-box count is
    only known after NMS)."""
    blob_counts(ctx, "DetectionOutput", min_bottom=3, max_bottom=4, exact_top=1)
    p = ctx.param.detection_output_param
    check(ctx, p.HasField("num_classes"), "detection_output_param needs num_classes",
          "detection_output_param.has_num_classes() Must specify num_classes")
    nms = p.nms_param
    check_op(ctx, float(nms.nms_threshold), ">=", 0.0, "nms_threshold_ >= 0.",
             "nms_param.nms_threshold must be non-negative", "nms_threshold must be non negative.")
    check_op(ctx, float(nms.eta), ">", 0.0, "eta_ > 0.", "nms_param.eta must be in (0, 1]")
    check_op(ctx, float(nms.eta), "<=", 1.0, "eta_ <= 1.", "nms_param.eta must be in (0, 1]")
    _detection_counts(ctx, "DetectionOutput", i32(p.num_classes), p.share_location)
    return LayerSetup(tops=[(1, 1, 1, 7)])


@register("DetectionEvaluate", traits=Traits("sink", reads=("detection_evaluate_param",)))
def detection_evaluate(ctx: LayerContext) -> LayerSetup:
    """SSD DetectionEvaluateLayer: [1, 1, positive classes + detections, 5]."""
    blob_counts(ctx, "DetectionEvaluate", exact_top=1)
    check(ctx, len(ctx.bottoms) >= 2, "DetectionEvaluate takes detections and ground truth",
          "bottom.size() >= 2")
    p = ctx.param.detection_evaluate_param
    check(ctx, p.HasField("num_classes"), "detection_evaluate_param needs num_classes",
          "detection_evaluate_param.has_num_classes() Must provide num_classes.")
    check_op(ctx, float(p.overlap_threshold), ">", 0.0, "overlap_threshold_ > 0.",
             "detection_evaluate_param.overlap_threshold must be positive",
             "overlap_threshold must be non negative.")
    det, gt = ctx.bottoms[0], ctx.bottoms[1]
    for shape, index, width in ((det, 0, 7), (gt, 1, 8)):
        n, c, _, w = nchw(ctx, shape)
        check_op(ctx, n, "==", 1, f"bottom[{index}]->num() == 1",
                 f"DetectionEvaluate bottom {index} must be [1, 1, R, {width}], got {show(shape)}")
        check_op(ctx, c, "==", 1, f"bottom[{index}]->channels() == 1",
                 f"DetectionEvaluate bottom {index} must be [1, 1, R, {width}], got {show(shape)}")
        check_op(ctx, w, "==", width, f"bottom[{index}]->width() == {width}",
                 f"DetectionEvaluate bottom {index} must be [1, 1, R, {width}], got {show(shape)}")
    classes = i32(p.num_classes)
    positive = classes if p.background_label_id == -1 else classes - 1
    # At setup the detections are zero-initialised rows, all counted as valid.
    return LayerSetup(tops=[reshape_check(ctx, (1, 1, positive + legacy(ctx, det, 2), 5))])


@register("MultiBoxLoss", traits=Traits("loss", reads=("multibox_loss_param", "loss_param")))
def multibox_loss(ctx: LayerContext) -> LayerSetup:
    """SSD MultiBoxLossLayer: scalar loss over (loc, conf, priors, ground truth)."""
    tops = loss_tops(ctx, "MultiBoxLoss", exact_bottom=4)
    p = ctx.param.multibox_loss_param
    check(ctx, p.HasField("num_classes"), "multibox_loss_param needs num_classes",
          "multibox_loss_param.has_num_classes() Must provide num_classes.")
    classes = i32(p.num_classes)
    check_op(ctx, classes, ">=", 1, "num_classes_ >= 1",
             "multibox_loss_param.num_classes must be at least 1",
             "num_classes should not be less than 1.")
    mining = p.mining_type != pb.MultiBoxLossParameter.NONE
    if p.HasField("do_neg_mining"):
        check_op(ctx, bool(p.do_neg_mining), "==", mining,
                 "do_neg_mining_ == mining_type_ != MultiBoxLossParameter_MiningType_NONE",
                 "multibox_loss_param.do_neg_mining contradicts mining_type")
    if mining:
        check(ctx, p.share_location, "negative mining needs share_location: true",
              "share_location_ Currently only support negative mining if share_location is "
              "true.")
    if p.conf_loss_type == pb.MultiBoxLossParameter.SOFTMAX:
        bg = p.background_label_id
        check_op(ctx, bg, ">=", 0, "background_label_id_ >= 0",
                 "multibox_loss_param.background_label_id must be in [0, num_classes)",
                 "background_label_id should be within [0, num_classes) for Softmax.")
        check_op(ctx, bg, "<", classes, "background_label_id_ < num_classes_",
                 "multibox_loss_param.background_label_id must be in [0, num_classes)",
                 "background_label_id should be within [0, num_classes) for Softmax.")
    _detection_counts(ctx, "MultiBoxLoss", classes, p.share_location)
    return LayerSetup(tops=tops)


@register("SmoothL1Loss", traits=Traits("loss", reads=("smooth_l1_loss_param",)))
def smooth_l1_loss(ctx: LayerContext) -> LayerSetup:
    """SmoothL1LossLayer (Fast R-CNN, SSD and R-FCN variants): scalar loss,
    optional per-item loss [N, 1, H, W]; weights must match the input."""
    blob_counts(ctx, "SmoothL1Loss", min_bottom=2, max_bottom=4)
    a = ctx.bottoms[0]
    tops = loss_tops(ctx, "SmoothL1Loss", exact_bottom=-1, min_bottom=2, max_bottom=4,
                     max_top=2, extra=[(legacy(ctx, a, 0), 1, legacy(ctx, a, 2),
                                        legacy(ctx, a, 3))])
    _, c, h, w = nchw(ctx, a)
    for i, other in enumerate(ctx.bottoms[1:], start=1):
        _, oc, oh, ow = nchw(ctx, other)
        for mine, theirs, name in ((c, oc, "channels"), (h, oh, "height"), (w, ow, "width")):
            check_op(ctx, mine, "==", theirs, f"bottom[0]->{name}() == bottom[{i}]->{name}()",
                     f"SmoothL1Loss bottom {i} {show(other)} does not match {show(a)}")
    return LayerSetup(tops=tops)


# ----------------------------------------------------------------- SegNet / PSPNet

_PSPNET_BN_FIELDS = ("slope_filler", "bias_filler", "momentum", "eps", "frozen", "engine")


def is_pspnet_bn(p: pb.BNParameter) -> bool:
    """Whether a ``BN`` layer is PSPNet's (it sets one of PSPNet's own fields)
    rather than SegNet's."""
    return any(p.HasField(f) for f in _PSPNET_BN_FIELDS)


@register("BN", traits=Traits("normalizing", reads=("bn_param",)))
def bn(ctx: LayerContext) -> LayerSetup:
    """``BN``: SegNet's (scale and shift [1, C, 1, 1] from scale_filler and
    shift_filler) unless PSPNet's own fields are used (slope_filler,
    bias_filler, momentum, eps, frozen, engine): then PSPNet's four blobs,
    slope, bias, mean (zeros) and variance (zeros, or ones when frozen)."""
    p = ctx.param.bn_param
    pspnet = is_pspnet_bn(p)
    if pspnet:
        blob_counts(ctx, "BN", exact_bottom=1, exact_top=1)
    else:
        blob_counts(ctx, "BN", exact_bottom=1, min_top=1)
    (bottom,) = ctx.bottoms
    n, c, h, w = nchw(ctx, bottom)
    shape = (1, c, 1, 1)
    if pspnet:
        slope = filler(p, "slope_filler", "bn_param.slope_filler")
        if not p.HasField("slope_filler") and p.HasField("scale_filler"):
            slope = filler(p, "scale_filler", "bn_param.scale_filler")
        bias = filler(p, "bias_filler", "bn_param.bias_filler")
        if not p.HasField("bias_filler") and p.HasField("shift_filler"):
            bias = filler(p, "shift_filler", "bn_param.shift_filler")
        blobs: list[BlobSpec] = [
            blob(shape, slope, "slope"),
            blob(shape, bias, "bias"),
            BlobSpec(shape, None, "mean"),
            BlobSpec(shape, constant(1.0) if p.frozen else None, "variance"),
        ]
        return LayerSetup(tops=[bottom], blobs=blobs)
    blobs = [blob(shape, filler(p, "scale_filler", "bn_param.scale_filler"), "scale"),
             blob(shape, filler(p, "shift_filler", "bn_param.shift_filler"), "shift")]
    tops: list[Shape] = [(n, c, h, w)]
    tops += [shape] * (min(len(ctx.param.top), 3) - 1)
    return LayerSetup(tops=tops, blobs=blobs)


@register("Upsample", traits=Traits("move", side_inputs=True, reads=("upsample_param",)))
def upsample(ctx: LayerContext) -> LayerSetup:
    """SegNet UpsampleLayer: max-unpooling to upsample_h x upsample_w, or the
    input times scale (minus 1 with pad_out)."""
    blob_counts(ctx, "Upsample", exact_bottom=2, exact_top=1)
    p = ctx.param.upsample_param
    check(ctx, (p.HasField("upsample_h") and p.HasField("upsample_w"))
          or (not p.HasField("scale") and p.HasField("scale_h") and p.HasField("scale_w"))
          or (not p.HasField("scale_h") and not p.HasField("scale_w")),
          "give upsample_h and upsample_w, or scale, or scale_h and scale_w",
          "upsample_h & upsample_w are required, else (DEPRECATED) scale OR scale_h & scale_w "
          "are required.")
    data, mask = ctx.bottoms
    check_op(ctx, 4, "==", len(data), "4 == bottom[0]->num_axes()",
             f"Upsample needs a 4-D input, got {show(data)}",
             "Input must have 4 axes, corresponding to (num, channels, height, width)")
    check_op(ctx, 4, "==", len(mask), "4 == bottom[1]->num_axes()",
             f"Upsample needs a 4-D mask, got {show(mask)}",
             "Input mask must have 4 axes, corresponding to (num, channels, height, width)")
    for i, name in enumerate(("num", "channels", "height", "width")):
        check_op(ctx, data[i], "==", mask[i], f"bottom[0]->{name}() == bottom[1]->{name}()",
                 f"Upsample's input {show(data)} and mask {show(mask)} differ")
    if p.HasField("upsample_h") and p.HasField("upsample_w"):
        out_h, out_w = i32(p.upsample_h), i32(p.upsample_w)
        check_op(ctx, out_h, ">", 1, "upsample_h_ > 1", "upsample_param.upsample_h must be > 1")
        check_op(ctx, out_w, ">", 1, "upsample_w_ > 1", "upsample_param.upsample_w must be > 1")
    else:
        if p.HasField("scale_h"):
            sh, sw = i32(p.scale_h), i32(p.scale_w)
        else:
            sh = sw = i32(p.scale)
        check_op(ctx, sh, ">", 1, "scale_h_ > 1", "upsample_param scale must be > 1")
        check_op(ctx, sw, ">", 1, "scale_w_ > 1", "upsample_param scale must be > 1")
        check(ctx, not p.pad_out_h or sh == 2, "pad_out_h needs scale_h 2",
              "!pad_out_h_ || scale_h_ == 2 Output height padding compensation requires "
              "scale_h == 2, otherwise the output size is ill-defined.")
        check(ctx, not p.pad_out_w or sw == 2, "pad_out_w needs scale_w 2",
              "!pad_out_w_ || scale_w_ == 2 Output width padding compensation requires "
              "scale_w == 2, otherwise the output size is ill-defined.")
        out_h = data[2] * sh - int(p.pad_out_h)
        out_w = data[3] * sw - int(p.pad_out_w)
    return LayerSetup(tops=[reshape_check(ctx, (data[0], data[1], out_h, out_w))])


@register("Interp", traits=Traits("move", side_inputs=True, reads=("interp_param",)))
def interp(ctx: LayerContext) -> LayerSetup:
    """PSPNet InterpLayer: bilinear resize by shrink/zoom factors or to height x width."""
    blob_counts(ctx, "Interp", exact_bottom=1, exact_top=1)
    p = ctx.param.interp_param
    check_op(ctx, p.pad_beg, "<=", 0, "pad_beg_ <= 0", "interp_param.pad_beg must be <= 0",
             "Only supports non-pos padding (cropping) for now")
    check_op(ctx, p.pad_end, "<=", 0, "pad_end_ <= 0", "interp_param.pad_end must be <= 0",
             "Only supports non-pos padding (cropping) for now")
    n, c, h, w = nchw(ctx, ctx.bottoms[0])
    h_eff = h + p.pad_beg + p.pad_end
    w_eff = w + p.pad_beg + p.pad_end
    shrink, zoom = p.HasField("shrink_factor"), p.HasField("zoom_factor")
    if shrink:
        check_op(ctx, p.shrink_factor, ">=", 1, "shrink_factor >= 1",
                 "interp_param.shrink_factor must be positive", "Shrink factor must be positive")
    if zoom:
        check_op(ctx, p.zoom_factor, ">=", 1, "zoom_factor >= 1",
                 "interp_param.zoom_factor must be positive", "Zoom factor must be positive")
    if shrink and not zoom:
        out_h = cdiv(h_eff - 1, p.shrink_factor) + 1
        out_w = cdiv(w_eff - 1, p.shrink_factor) + 1
    elif zoom and not shrink:
        out_h = h_eff + (h_eff - 1) * (p.zoom_factor - 1)
        out_w = w_eff + (w_eff - 1) * (p.zoom_factor - 1)
    elif p.HasField("height") and p.HasField("width"):
        out_h, out_w = p.height, p.width
    elif shrink and zoom:
        out_h = cdiv(h_eff - 1, p.shrink_factor) + 1
        out_w = cdiv(w_eff - 1, p.shrink_factor) + 1
        out_h = out_h + (out_h - 1) * (p.zoom_factor - 1)
        out_w = out_w + (out_w - 1) * (p.zoom_factor - 1)
    else:
        raise ctx.error("interp_param needs height and width, zoom_factor or shrink_factor",
                        caffe_message="Check failed: (LOG(FATAL) in InterpLayer::Reshape)")
    for value, what in ((h_eff, "height"), (w_eff, "width"), (out_h, "height"),
                        (out_w, "width")):
        check_op(ctx, value, ">", 0, f"{what} > 0", f"Interp {what} must be positive",
                 f"{what} should be positive")
    return LayerSetup(tops=[reshape_check(ctx, (n, c, out_h, out_w))])


@register("SegAccuracy", traits=Traits("sink", reads=("seg_accuracy_param",)))
def seg_accuracy(ctx: LayerContext) -> LayerSetup:
    """PSPNet SegAccuracyLayer: [1, 1, 1, 3]."""
    blob_counts(ctx, "SegAccuracy", exact_bottom=2, exact_top=1)
    data, label = ctx.bottoms
    dn, dc, dh, dw = nchw(ctx, data)
    ln, lc, lh, lw = nchw(ctx, label)
    check_op(ctx, 1, "<=", dc, "1 <= bottom[0]->channels()", "SegAccuracy needs class scores")
    check_op(ctx, dn, "==", ln, "bottom[0]->num() == bottom[1]->num()",
             f"SegAccuracy: scores {show(data)} and labels {show(label)} differ in batch")
    check_op(ctx, lc, "==", 1, "bottom[1]->channels() == 1",
             f"SegAccuracy labels must have one channel, got {show(label)}")
    check_op(ctx, dh, "==", lh, "bottom[0]->height() == bottom[1]->height()",
             f"SegAccuracy: scores {show(data)} and labels {show(label)} differ in height")
    check_op(ctx, dw, "==", lw, "bottom[0]->width() == bottom[1]->width()",
             f"SegAccuracy: scores {show(data)} and labels {show(label)} differ in width")
    return LayerSetup(tops=[(1, 1, 1, 3)])


# ----------------------------------------------------------------- R-CNN family


@register("ROIPooling", traits=Traits("move", side_inputs=True, reads=("roi_pooling_param",)))
def roi_pooling(ctx: LayerContext) -> LayerSetup:
    """Fast R-CNN ROIPoolingLayer: [R, C, pooled_h, pooled_w]."""
    blob_counts(ctx, "ROIPooling", min_bottom=2, max_bottom=2, min_top=1, max_top=1)
    p = ctx.param.roi_pooling_param
    ph, pw = i32(p.pooled_h), i32(p.pooled_w)
    check_op(ctx, ph, ">", 0, "roi_pool_param.pooled_h() > 0",
             "roi_pooling_param.pooled_h must be positive", "pooled_h must be > 0")
    check_op(ctx, pw, ">", 0, "roi_pool_param.pooled_w() > 0",
             "roi_pooling_param.pooled_w must be positive", "pooled_w must be > 0")
    feat, rois = ctx.bottoms
    return LayerSetup(tops=[(legacy(ctx, rois, 0), legacy(ctx, feat, 1), ph, pw)])


@register("PSROIPooling", traits=Traits("move", side_inputs=True, reads=("psroi_pooling_param",)))
def psroi_pooling(ctx: LayerContext) -> LayerSetup:
    """R-FCN PSROIPoolingLayer: [R, output_dim, group_size, group_size]."""
    blob_counts(ctx, "PSROIPooling", min_bottom=2, max_bottom=2, min_top=1, max_top=1)
    p = ctx.param.psroi_pooling_param
    dim, group = p.output_dim, p.group_size
    check_op(ctx, dim, ">", 0, "psroi_pooling_param.output_dim() > 0",
             "psroi_pooling_param.output_dim must be positive", "output_dim must be > 0")
    check_op(ctx, group, ">", 0, "psroi_pooling_param.group_size() > 0",
             "psroi_pooling_param.group_size must be positive", "group_size must be > 0")
    feat, rois = ctx.bottoms
    check_op(ctx, legacy(ctx, feat, 1), "==", dim * group * group,
             "channels_ == output_dim_*group_size_*group_size_",
             f"PSROIPooling needs output_dim x group_size^2 = {dim * group * group} input "
             f"channels, got {show(feat)}",
             "input channel number does not match layer parameters")
    return LayerSetup(tops=[(legacy(ctx, rois, 0), dim, group, group)])


@register("BoxAnnotatorOHEM", traits=Traits("sink", reads=("box_annotator_ohem_param",)))
def box_annotator_ohem(ctx: LayerContext) -> LayerSetup:
    """R-FCN BoxAnnotatorOHEMLayer: labels [N, 1, H, W], bbox weights [N, B, H, W]."""
    blob_counts(ctx, "BoxAnnotatorOHEM", exact_bottom=4, exact_top=2)
    check_op(ctx, i32(ctx.param.box_annotator_ohem_param.roi_per_img), ">", 0, "roi_per_img_ > 0",
             "box_annotator_ohem_param.roi_per_img must be positive")
    loss, labels, weights, bbox = (nchw(ctx, b) for b in ctx.bottoms)
    n, c, h, w = loss
    check_op(ctx, 5, "==", c, "5 == bottom[0]->channels()",
             f"BoxAnnotatorOHEM bottom 0 must have 5 channels, got {show(ctx.bottoms[0])}")
    for index, shape in ((1, labels), (2, weights)):
        if shape != (n, 1, h, w):
            raise ctx.error(f"BoxAnnotatorOHEM bottom {index} must be {show((n, 1, h, w))}, got "
                            f"{show(ctx.bottoms[index])}",
                            caffe_message=f"Check failed: bottom[{index}] shape")
    if (bbox[0], bbox[2], bbox[3]) != (n, h, w):
        raise ctx.error(f"BoxAnnotatorOHEM bottom 3 {show(ctx.bottoms[3])} does not match "
                        f"{show(ctx.bottoms[0])}", caffe_message="Check failed: bottom[3] shape")
    return LayerSetup(tops=[(n, 1, h, w), (n, bbox[1], h, w)])


# ----------------------------------------------------------------- depthwise


@register("DepthwiseConvolution", traits=Traits("linear", reads=("convolution_param",)))
def depthwise_convolution(ctx: LayerContext) -> LayerSetup:
    """DepthwiseConvolution (a ConvolutionLayer subclass): Convolution's blobs."""
    return convolution_setup(ctx, False, "DepthwiseConvolution")


@register("ConvolutionDepthwise", traits=Traits("linear", reads=("convolution_param",)))
def convolution_depthwise(ctx: LayerContext) -> LayerSetup:
    """ConvolutionDepthwiseLayer: weight [C, 1, kh, kw], bias [C] (C = input
    channels; num_output and group are not read)."""
    blob_counts(ctx, "ConvolutionDepthwise", exact_bottom=1, exact_top=1)
    p = ctx.param.convolution_param
    (bottom,) = ctx.bottoms
    n, c, h, w = nchw(ctx, bottom)

    def pair(h_field: str, w_field: str, values: object, default: int) -> tuple[int, int]:
        if p.HasField(h_field) and p.HasField(w_field):
            return i32(getattr(p, h_field)), i32(getattr(p, w_field))
        seq = list(values)  # type: ignore[call-overload]
        if not seq:
            return default, default
        if len(seq) == 1:
            return i32(seq[0]), i32(seq[0])
        return i32(seq[0]), i32(seq[1])

    kh, kw = pair("kernel_h", "kernel_w", p.kernel_size, 0)
    sh, sw = pair("stride_h", "stride_w", p.stride, 1)
    ph, pw = pair("pad_h", "pad_w", p.pad, 0)
    dl = list(p.dilation)
    dh, dw = (1, 1) if not dl else ((i32(dl[0]), i32(dl[0])) if len(dl) == 1
                                    else (i32(dl[0]), i32(dl[1])))
    check(ctx, kh > 0 and kw > 0, "ConvolutionDepthwise needs a positive kernel size",
          "kernel_h_ > 0 && kernel_w_ > 0")
    check(ctx, sh > 0 and sw > 0, "ConvolutionDepthwise needs a positive stride",
          "stride_h_ > 0 && stride_w_ > 0")
    blobs = [blob((c, 1, kh, kw), filler(p, "weight_filler", "convolution_param.weight_filler"),
                  "weight")]
    if p.bias_term:
        blobs.append(blob((c,), filler(p, "bias_filler", "convolution_param.bias_filler"),
                          "bias"))
    out_h = cdiv(h + 2 * ph - (dh * (kh - 1) + 1), sh) + 1
    out_w = cdiv(w + 2 * pw - (dw * (kw - 1) + 1), sw) + 1
    if out_h <= 0 or out_w <= 0:
        raise ctx.error(
            f"ConvolutionDepthwise output is empty: input {h}x{w}, kernel {kh}x{kw}, pad "
            f"{ph}x{pw}, stride {sh}x{sw} give {out_h}x{out_w}",
            caffe_message=f"Check failed: shape[i] > 0 ({min(out_h, out_w)} vs. 0)")
    return LayerSetup(tops=[reshape_check(ctx, (n, c, out_h, out_w))], blobs=blobs,
                      window=Window((kh, kw), (sh, sw)))
