"""Layer registry entries: top shapes, blobs, fillers, draws and refusals,
one layer at a time (the shapes and messages are Caffe 1.0's)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from google.protobuf import text_format

from caffefill._proto import caffefill_pb2 as pb
from caffefill.errors import NetError
from caffefill.net.registry import LayerContext, known_types, lookup, nearest_type
from caffefill.net.spec import FillDraw, LayerSetup

BVLC_1_0_TYPES = [
    "AbsVal", "Accuracy", "ArgMax", "BNLL", "BatchNorm", "BatchReindex", "Bias", "Concat",
    "ContrastiveLoss", "Convolution", "Crop", "Data", "Deconvolution", "Dropout", "DummyData",
    "ELU", "Eltwise", "Embed", "EuclideanLoss", "Exp", "Filter", "Flatten", "HDF5Data",
    "HDF5Output", "HingeLoss", "Im2col", "ImageData", "InfogainLoss", "InnerProduct", "Input",
    "LRN", "LSTM", "LSTMUnit", "Log", "MVN", "MemoryData", "MultinomialLogisticLoss", "PReLU",
    "Parameter", "Pooling", "Power", "Python", "RNN", "ReLU", "Reduction", "Reshape", "SPP",
    "Scale", "Sigmoid", "SigmoidCrossEntropyLoss", "Silence", "Slice", "Softmax",
    "SoftmaxWithLoss", "Split", "TanH", "Threshold", "Tile", "WindowData",
]

FORK_TYPES = [
    "Normalize", "PriorBox", "Permute", "DetectionOutput", "DetectionEvaluate", "MultiBoxLoss",
    "SmoothL1Loss", "AnnotatedData", "VideoData", "BN", "Upsample", "DenseImageData", "Interp",
    "ImageSegData", "SegAccuracy", "ROIPooling", "PSROIPooling", "BoxAnnotatorOHEM",
    "ConvolutionDepthwise", "DepthwiseConvolution",
]


def run(text: str, *bottoms: Sequence[int], inputs: dict[str, Sequence[int]] | None = None,
        phase: int = pb.TEST, add_top: bool = True) -> LayerSetup:
    """Set up the layer given as LayerParameter text on ``bottoms`` (with a
    top "y" added when the text names none, unless ``add_top`` is false)."""
    lp = pb.LayerParameter()
    text_format.Parse(text, lp)
    if add_top and not lp.top and lp.type not in ("Silence", "HDF5Output"):
        lp.top.append("y")
    fn = lookup(lp.type)
    assert fn is not None, lp.type
    ctx = LayerContext(param=lp, bottoms=[tuple(b) for b in bottoms], phase=phase,
                       inputs={k: tuple(v) for k, v in (inputs or {}).items()})
    return fn(ctx)


def refused(text: str, *bottoms: Sequence[int], **kw: object) -> NetError:
    with pytest.raises(NetError) as info:
        run(text, *bottoms, **kw)  # type: ignore[arg-type]
    return info.value


def shapes(setup: LayerSetup) -> list[tuple[int, ...]]:
    return [b.shape for b in setup.blobs]


# ----------------------------------------------------------------- registry


def test_every_caffe_1_0_and_fork_type_is_registered() -> None:
    types = set(known_types())
    missing = [t for t in BVLC_1_0_TYPES + FORK_TYPES if t not in types]
    assert missing == []


def test_nearest_type_suggests_a_registered_type() -> None:
    assert nearest_type("convolution") == "Convolution"
    assert nearest_type("InnerProdcut") == "InnerProduct"


# ----------------------------------------------------------------- convolution


CONV = 'name: "c" type: "Convolution" bottom: "x" top: "y" '


def test_convolution_shapes_and_default_fillers() -> None:
    s = run(CONV + "convolution_param { num_output: 16 kernel_size: 3 pad: 1 stride: 2 }",
            (2, 3, 17, 16))
    assert s.tops == [(2, 16, 9, 8)]
    assert shapes(s) == [(16, 3, 3, 3), (16,)]
    weight, bias = s.blobs
    # A missing filler is Caffe's default FillerParameter: constant 0.
    assert weight.filler is not None and weight.filler.type == "constant"
    assert weight.filler.value == 0 and weight.filler_field == ""
    assert bias.role == "bias" and bias.filler_field == ""
    draws = s.draw_sequence()
    assert [d.blob for d in draws if isinstance(d, FillDraw)] == [0, 1]


def test_convolution_filler_field_is_recorded() -> None:
    s = run(CONV + 'convolution_param { num_output: 4 kernel_size: 1 bias_term: false '
            'weight_filler { type: "xavier" } }', (1, 2, 5, 5))
    assert len(s.blobs) == 1
    assert s.blobs[0].filler_field == "convolution_param.weight_filler"
    assert s.blobs[0].filler is not None and s.blobs[0].filler.type == "xavier"


def test_convolution_group_dilation_kernel_hw() -> None:
    s = run(CONV + "convolution_param { num_output: 12 kernel_h: 3 kernel_w: 5 pad_h: 1 "
            "pad_w: 2 stride_h: 2 stride_w: 1 group: 3 }", (2, 6, 17, 15))
    assert s.tops == [(2, 12, 9, 15)]
    assert shapes(s) == [(12, 2, 3, 5), (12,)]
    s = run(CONV + "convolution_param { num_output: 8 kernel_size: 3 dilation: 2 pad: 2 }",
            (2, 12, 9, 15))
    assert s.tops == [(2, 8, 9, 15)]


def test_convolution_nd_and_axis() -> None:
    s = run(CONV + "convolution_param { num_output: 3 kernel_size: 3 kernel_size: 1 "
            "kernel_size: 2 }", (1, 2, 5, 6, 7))
    assert s.tops == [(1, 3, 3, 6, 6)]
    assert shapes(s) == [(3, 2, 3, 1, 2), (3,)]
    s = run(CONV + "convolution_param { num_output: 4 kernel_size: 3 axis: 2 }", (5, 2, 3, 8))
    assert s.tops == [(5, 2, 4, 6)]
    assert shapes(s)[0] == (4, 3, 3)


def test_convolution_truncates_like_cpp_division() -> None:
    # (2 - 3) / 2 + 1 is 1 in C++ (truncation), not 0.
    s = run(CONV + "convolution_param { num_output: 1 kernel_size: 3 stride: 2 }", (1, 1, 2, 5))
    assert s.tops == [(1, 1, 1, 2)]


def test_convolution_refusals() -> None:
    e = refused(CONV + "convolution_param { kernel_size: 3 }", (1, 3, 8, 8))
    assert e.caffe_message == "Check failed: num_output_ > 0 (0 vs. 0)"
    e = refused(CONV + "convolution_param { num_output: 4 kernel_size: 3 group: 2 }",
                (1, 3, 8, 8))
    assert e.caffe_message == "Check failed: channels_ % group_ == 0 (1 vs. 0)"
    e = refused(CONV + "convolution_param { num_output: 3 kernel_size: 3 group: 2 }",
                (1, 4, 8, 8))
    assert "Number of output should be multiples of group." in (e.caffe_message or "")
    e = refused(CONV + "convolution_param { num_output: 3 kernel_size: 9 }", (1, 4, 8, 8))
    assert "output is empty" in e.message
    e = refused(CONV + "convolution_param { num_output: 3 }", (1, 4, 8, 8))
    assert "kernel_size specified 0 times; 2 spatial dims" in (e.caffe_message or "")
    e = refused(CONV + "convolution_param { num_output: 3 kernel_size: 3 kernel_h: 3 "
                "kernel_w: 3 }", (1, 4, 8, 8))
    assert "not both" in (e.caffe_message or "")
    e = refused(CONV + "convolution_param { num_output: 3 kernel_size: 3 group: 0 }",
                (1, 4, 8, 8))
    assert "group" in e.message
    e = refused('name: "c" type: "Convolution" bottom: "x" top: "y" top: "z" '
                "convolution_param { num_output: 3 kernel_size: 3 }", (1, 4, 8, 8))
    assert "one top blob as output for each bottom blob" in (e.caffe_message or "")
    assert e.layer == "c"


def test_deconvolution_weight_is_channels_first() -> None:
    s = run('name: "d" type: "Deconvolution" convolution_param { num_output: 4 '
            "kernel_size: 3 stride: 1 }", (2, 8, 9, 9))
    assert s.tops == [(2, 4, 11, 11)]
    assert shapes(s) == [(8, 4, 3, 3), (4,)]
    s = run('name: "u" type: "Deconvolution" convolution_param { num_output: 8 group: 8 '
            "kernel_size: 4 stride: 2 pad: 1 bias_term: false }", (2, 8, 9, 15))
    assert s.tops == [(2, 8, 18, 30)]
    assert shapes(s) == [(8, 1, 4, 4)]


def test_im2col() -> None:
    s = run('name: "i" type: "Im2col" convolution_param { kernel_size: 3 stride: 1 }',
            (2, 3, 5, 5))
    assert s.tops == [(2, 27, 3, 3)]
    assert s.blobs == []


def test_depthwise_convolution_types() -> None:
    s = run('name: "dw" type: "ConvolutionDepthwise" convolution_param { num_output: 32 '
            "group: 32 kernel_size: 3 pad: 1 stride: 2 }", (1, 32, 15, 15))
    assert s.tops == [(1, 32, 8, 8)]
    assert shapes(s) == [(32, 1, 3, 3), (32,)]
    s = run('name: "dw" type: "DepthwiseConvolution" convolution_param { num_output: 32 '
            "group: 32 kernel_size: 3 pad: 1 bias_term: false }", (1, 32, 15, 15))
    assert s.tops == [(1, 32, 15, 15)]
    assert shapes(s) == [(32, 1, 3, 3)]


# ----------------------------------------------------------------- pooling


POOL = 'name: "p" type: "Pooling" '


def test_pooling_rounds_up() -> None:
    s = run(POOL + "pooling_param { pool: MAX kernel_size: 3 stride: 2 }", (1, 96, 55, 55))
    assert s.tops == [(1, 96, 27, 27)]
    s = run(POOL + "pooling_param { pool: MAX kernel_size: 2 stride: 2 }", (1, 8, 75, 125))
    assert s.tops == [(1, 8, 38, 63)]
    s = run(POOL + "pooling_param { pool: MAX kernel_size: 2 stride: 2 round_mode: FLOOR }",
            (1, 8, 75, 125))
    assert s.tops == [(1, 8, 37, 62)]


def test_pooling_last_window_starts_inside() -> None:
    # ceil((6 + 2 - 3) / 2) + 1 = 4; (4 - 1) * 2 = 6 < 6 + 1: kept.
    s = run(POOL + "pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 }", (1, 1, 6, 6))
    assert s.tops == [(1, 1, 4, 4)]
    s = run(POOL + "pooling_param { pool: MAX kernel_size: 2 stride: 2 pad: 1 }", (1, 1, 4, 4))
    # ceil((4 + 2 - 2) / 2) + 1 = 3; (3 - 1) * 2 = 4 < 4 + 1: kept.
    assert s.tops == [(1, 1, 3, 3)]
    s = run(POOL + "pooling_param { pool: MAX kernel_size: 3 stride: 3 pad: 2 }", (1, 1, 4, 4))
    # ceil((4 + 4 - 3) / 3) + 1 = 3; (3 - 1) * 3 = 6 >= 4 + 2: clipped to 2.
    assert s.tops == [(1, 1, 2, 2)]


def test_global_pooling_and_mask_top() -> None:
    s = run(POOL + 'top: "a" top: "b" pooling_param { pool: MAX global_pooling: true }',
            (2, 7, 5, 3))
    assert s.tops == [(2, 7, 1, 1), (2, 7, 1, 1)]
    e = refused(POOL + "pooling_param { global_pooling: true kernel_size: 2 }", (2, 7, 5, 3))
    assert "Filter size cannot specified" in (e.caffe_message or "")


def test_pooling_refusals() -> None:
    e = refused(POOL + "pooling_param { pool: MAX }", (1, 3, 8, 8))
    assert "kernel" in e.message
    e = refused(POOL + "pooling_param { pool: MAX kernel_size: 2 pad: 2 }", (1, 3, 8, 8))
    assert e.caffe_message == "Check failed: pad_h_ < kernel_h_ (2 vs. 2)"
    e = refused(POOL + "pooling_param { pool: STOCHASTIC kernel_size: 3 pad: 1 }", (1, 3, 8, 8))
    assert "Padding implemented only for average and max pooling." in (e.caffe_message or "")
    e = refused(POOL + "pooling_param { pool: MAX kernel_size: 3 }", (3, 8, 8))
    assert "Input must have 4 axes" in (e.caffe_message or "")
    e = refused(POOL + 'top: "a" top: "b" pooling_param { pool: AVE kernel_size: 3 }',
                (1, 3, 8, 8))
    assert "at most 1 top blob" in (e.caffe_message or "")


def test_spp_and_lrn() -> None:
    s = run('name: "s" type: "SPP" spp_param { pyramid_height: 3 }', (2, 4, 13, 9))
    assert s.tops == [(2, 4 * (1 + 4 + 16))]
    s = run('name: "s" type: "SPP" spp_param { pyramid_height: 1 }', (2, 4, 13, 9))
    assert s.tops == [(2, 4, 1, 1)]
    assert run('name: "n" type: "LRN" lrn_param { local_size: 5 }', (1, 3, 4, 4)).tops == \
        [(1, 3, 4, 4)]
    e = refused('name: "n" type: "LRN" lrn_param { local_size: 4 }', (1, 3, 4, 4))
    assert "LRN only supports odd values for local_size" in (e.caffe_message or "")


def test_crop() -> None:
    s = run('name: "c" type: "Crop" crop_param { axis: 2 offset: 19 }', (1, 21, 540, 540),
            (1, 3, 500, 500))
    assert s.tops == [(1, 21, 500, 500)]
    e = refused('name: "c" type: "Crop" crop_param { axis: 2 offset: 50 }', (1, 21, 540, 540),
                (1, 3, 500, 500))
    assert "out-of-bounds" in (e.caffe_message or "")
    e = refused('name: "c" type: "Crop"', (1, 2, 3, 3))
    assert "Crop Layer takes 2 bottom blob(s) as input." in (e.caffe_message or "")


# ----------------------------------------------------------------- learnable


def test_inner_product_axis_and_transpose() -> None:
    s = run('name: "ip" type: "InnerProduct" inner_product_param { num_output: 7 axis: 2 }',
            (2, 4, 8, 20))
    assert s.tops == [(2, 4, 7)]
    assert shapes(s) == [(7, 160), (7,)]
    s = run('name: "ip" type: "InnerProduct" inner_product_param { num_output: 9 '
            "transpose: true bias_term: false }", (2, 4, 8, 20))
    assert s.tops == [(2, 9)]
    assert shapes(s) == [(640, 9)]
    e = refused('name: "ip" type: "InnerProduct" inner_product_param { num_output: 3 axis: 4 }',
                (2, 4, 8, 20))
    assert "out of range for 4-D Blob" in (e.caffe_message or "")


def test_embed() -> None:
    s = run('name: "e" type: "Embed" embed_param { input_dim: 100 num_output: 16 }', (2, 5))
    assert s.tops == [(2, 5, 16)]
    assert shapes(s) == [(100, 16), (16,)]
    e = refused('name: "e" type: "Embed" embed_param { num_output: 16 }', (2, 5))
    assert "EmbedLayer input_dim must be positive." in (e.caffe_message or "")


def test_scale_defaults_and_bias() -> None:
    s = run('name: "s" type: "Scale" scale_param { bias_term: true }', (2, 8, 4, 4))
    assert shapes(s) == [(8,), (8,)]
    scale, bias = s.blobs
    assert scale.filler is not None and scale.filler.type == "constant"
    assert scale.filler.value == 1.0 and scale.filler_field == ""
    assert bias.filler is not None and bias.filler.value == 0.0
    s = run('name: "s" type: "Scale" scale_param { bias_term: true filler { type: "gaussian" } '
            'bias_filler { type: "constant" value: 0.1 } }', (2, 8, 4, 4))
    assert [b.filler_field for b in s.blobs] == ["scale_param.filler", "scale_param.bias_filler"]
    s = run('name: "s" type: "Scale" scale_param { axis: 2 num_axes: 1 }', (2, 5, 16))
    assert shapes(s) == [(16,)]
    s = run('name: "s" type: "Scale" scale_param { num_axes: -1 }', (2, 5, 3))
    assert shapes(s) == [(5, 3)]
    s = run('name: "s" type: "Scale" scale_param { num_axes: 0 }', (2, 5, 3))
    assert shapes(s) == [()]


def test_scale_with_second_bottom() -> None:
    s = run('name: "s" type: "Scale"', (2, 8, 4, 4), (8,))
    assert s.blobs == [] and s.tops == [(2, 8, 4, 4)]
    s = run('name: "s" type: "Scale" scale_param { bias_term: true }', (2, 8, 4, 4), (8, 4))
    assert shapes(s) == [(8, 4)]  # the bias spans bottom[1]'s axis count from ``axis``
    e = refused('name: "s" type: "Scale"', (2, 8, 4, 4), (7,))
    assert "dimension mismatch" in (e.caffe_message or "")


def test_bias_prelu_batchnorm_parameter() -> None:
    s = run('name: "b" type: "Bias" bias_param { filler { type: "gaussian" std: 0.3 } }',
            (2, 4, 3, 3))
    assert shapes(s) == [(4,)] and s.blobs[0].filler_field == "bias_param.filler"
    s = run('name: "p" type: "PReLU"', (2, 8, 3, 3))
    assert shapes(s) == [(8,)]
    assert s.blobs[0].filler is not None and s.blobs[0].filler.value == pytest.approx(0.25)
    s = run('name: "p" type: "PReLU" prelu_param { channel_shared: true }', (2, 8, 3, 3))
    assert shapes(s) == [()]
    s = run('name: "bn" type: "BatchNorm"', (2, 8, 3, 3))
    assert shapes(s) == [(8,), (8,), (1,)]
    assert all(b.filler is None for b in s.blobs) and s.draw_sequence() == []
    e = refused('name: "bn" type: "BatchNorm" param { lr_mult: 1 }', (2, 8, 3, 3))
    assert "Cannot configure batch normalization statistics" in (e.caffe_message or "")
    s = run('name: "w" type: "Parameter" top: "w" parameter_param { shape { dim: 3 dim: 4 } }')
    assert s.tops == [(3, 4)] and shapes(s) == [(3, 4)] and s.blobs[0].filler is None


# ----------------------------------------------------------------- plumbing


def test_concat_and_slice() -> None:
    s = run('name: "c" type: "Concat"', (2, 3, 4), (2, 5, 4))
    assert s.tops == [(2, 8, 4)]
    e = refused('name: "c" type: "Concat"', (2, 3, 4), (2, 5, 5))
    assert "All inputs must have the same shape, except at concat_axis." in (
        e.caffe_message or "")
    e = refused('name: "c" type: "Concat"', (2, 3, 4), (2, 5))
    assert "All inputs must have the same #axes." in (e.caffe_message or "")
    s = run('name: "s" type: "Slice" top: "a" top: "b" top: "c" slice_param { axis: 1 '
            "slice_point: 1 slice_point: 4 }", (2, 6, 3))
    assert s.tops == [(2, 1, 3), (2, 3, 3), (2, 2, 3)]
    s = run('name: "s" type: "Slice" top: "a" top: "b"', (2, 6, 3))
    assert s.tops == [(2, 3, 3), (2, 3, 3)]
    e = refused('name: "s" type: "Slice" top: "a" top: "b" top: "c" top: "d"', (2, 6, 3))
    assert "should evenly divide input slice axis (6)" in (e.caffe_message or "")


def test_eltwise() -> None:
    assert run('name: "e" type: "Eltwise"', (2, 3), (2, 3)).tops == [(2, 3)]
    e = refused('name: "e" type: "Eltwise"', (2, 3, 4), (2, 3, 5))
    assert e.caffe_message == ("Check failed: bottom[0]->shape() == bottom[i]->shape() "
                               "bottom[0]: 2 3 4 (24), bottom[1]: 2 3 5 (30)")
    e = refused('name: "e" type: "Eltwise"', (2, 3))
    assert "at least 2 bottom blob(s)" in (e.caffe_message or "")
    e = refused('name: "e" type: "Eltwise" eltwise_param { coeff: 1 }', (2, 3), (2, 3))
    assert "one coefficient per bottom" in (e.caffe_message or "")


def test_reshape() -> None:
    s = run('name: "r" type: "Reshape" top: "y" bottom: "x" reshape_param { shape { dim: 0 '
            "dim: 2 dim: -1 dim: 0 } }", (1, 18, 38, 63))
    assert s.tops == [(1, 2, 342, 63)]
    s = run('name: "r" type: "Reshape" top: "y" bottom: "x" reshape_param { axis: 1 '
            "num_axes: 2 shape { dim: -1 } }", (2, 3, 4, 5))
    assert s.tops == [(2, 12, 5)]
    e = refused('name: "r" type: "Reshape" top: "y" bottom: "x" reshape_param { shape { '
                "dim: 7 dim: -1 } }", (2, 3, 4))
    assert "must be divisible by the product of the specified dimensions (7)" in (
        e.caffe_message or "")
    e = refused('name: "r" type: "Reshape" top: "y" bottom: "x" reshape_param { shape { '
                "dim: -1 dim: -1 } }", (2, 3, 4))
    assert "multiple -1 dims" in (e.caffe_message or "")
    e = refused('name: "r" type: "Reshape" top: "x" bottom: "x" reshape_param { shape { '
                "dim: -1 } }", (2, 3, 4))
    assert "does not allow in-place computation" in (e.caffe_message or "")


def test_flatten_tile_reduction_argmax_softmax() -> None:
    assert run('name: "f" type: "Flatten" top: "y" bottom: "x"', (2, 3, 4, 5)).tops == \
        [(2, 60)]
    assert run('name: "f" type: "Flatten" top: "y" bottom: "x" flatten_param { axis: 1 '
               "end_axis: 2 }", (2, 3, 4, 5)).tops == [(2, 12, 5)]
    assert run('name: "t" type: "Tile" tile_param { axis: 1 tiles: 3 }', (2, 3)).tops == \
        [(2, 9)]
    e = refused('name: "t" type: "Tile"', (2, 3))
    assert "Number of tiles must be specified" in (e.caffe_message or "")
    assert run('name: "r" type: "Reduction" reduction_param { axis: 1 }', (2, 3, 4)).tops == \
        [(2,)]
    assert run('name: "r" type: "Reduction"', (2, 3, 4)).tops == [()]
    assert run('name: "a" type: "ArgMax"', (5, 10)).tops == [(5, 1, 1)]
    assert run('name: "a" type: "ArgMax" argmax_param { top_k: 3 out_max_val: true }',
               (5, 10)).tops == [(5, 2, 3)]
    assert run('name: "a" type: "ArgMax" argmax_param { axis: 1 top_k: 2 }',
               (5, 10, 4)).tops == [(5, 2, 4)]
    assert run('name: "s" type: "Softmax"', (5, 10)).tops == [(5, 10)]
    assert run('name: "m" type: "MVN"', (5, 10)).tops == [(5, 10, 1, 1)]


def test_split_silence_neurons() -> None:
    s = run('name: "s" type: "Split" bottom: "x" top: "a" top: "b"', (2, 3))
    assert s.tops == [(2, 3), (2, 3)]
    assert run('name: "s" type: "Silence" bottom: "x"', (2, 3)).tops == []
    for t in ("ReLU", "Sigmoid", "TanH", "Dropout", "Power", "AbsVal", "BNLL", "ELU", "Exp",
              "Log", "Threshold"):
        assert run(f'name: "n" type: "{t}" bottom: "x" top: "x"', (2, 3, 4)).tops == \
            [(2, 3, 4)]
    e = refused('name: "n" type: "ReLU" bottom: "x" top: "x"', (2, 3), (2, 3))
    assert e.caffe_message == ("Check failed: ExactNumBottomBlobs() == bottom.size() (1 vs. 2) "
                               "ReLU Layer takes 1 bottom blob(s) as input.")


def test_losses_and_accuracy() -> None:
    s = run('name: "l" type: "SoftmaxWithLoss" top: "loss"', (4, 10), (4,))
    assert s.tops == [()]
    # Caffe adds the loss top when none is named.
    assert run('name: "l" type: "SoftmaxWithLoss"', (4, 10), (4,), add_top=False).tops == [()]
    s = run('name: "l" type: "SoftmaxWithLoss" top: "loss" top: "prob"', (4, 10), (4,))
    assert s.tops == [(), (4, 10)]
    e = refused('name: "l" type: "SoftmaxWithLoss" top: "loss"', (4, 10), (5,))
    assert "same first dimension" in (e.caffe_message or "")
    e = refused('name: "l" type: "SoftmaxWithLoss" top: "loss"', (4, 10, 2), (4,))
    assert "Number of labels must match number of predictions" in (e.caffe_message or "")
    assert run('name: "l" type: "EuclideanLoss" top: "l"', (4, 3), (4, 3)).tops == [()]
    assert run('name: "a" type: "Accuracy" top: "a"', (4, 10), (4,)).tops == [()]
    assert run('name: "a" type: "Accuracy" top: "a" top: "c"', (4, 10), (4,)).tops == \
        [(), (10,)]
    e = refused('name: "a" type: "Accuracy" top: "a" accuracy_param { top_k: 11 }',
                (4, 10), (4,))
    assert "top_k must be less than or equal to the number of classes." in (
        e.caffe_message or "")
    assert run('name: "c" type: "ContrastiveLoss" top: "l"', (4, 2), (4, 2), (4,)).tops == [()]


# ----------------------------------------------------------------- data


def test_input_and_dummy_data() -> None:
    s = run('name: "d" type: "Input" top: "a" top: "b" input_param { shape { dim: 2 dim: 3 } '
            "shape { dim: 2 } }")
    assert s.tops == [(2, 3), (2,)]
    s = run('name: "d" type: "Input" top: "a" top: "b" input_param { shape { dim: 2 } }')
    assert s.tops == [(2,), (2,)]
    e = refused('name: "d" type: "Input" top: "a"')
    assert "--input a=" in e.message
    assert run('name: "d" type: "Input" top: "a"', inputs={"a": (1, 2)}).tops == [(1, 2)]
    # At setup Caffe fills only the constant tops (the others refill each forward).
    s = run('name: "d" type: "DummyData" top: "x" top: "y" dummy_data_param { shape { dim: 3 '
            'dim: 4 } shape { dim: 3 } data_filler { type: "gaussian" } data_filler { '
            'type: "constant" value: 2 } }')
    assert s.tops == [(3, 4), (3,)] and s.blobs == []
    draws = s.draw_sequence()
    assert len(draws) == 1
    assert isinstance(draws[0], FillDraw) and draws[0].shape == (3,) and draws[0].blob is None
    s = run('name: "d" type: "DummyData" top: "x" top: "y" dummy_data_param { num: 2 '
            "channels: 3 height: 4 width: 5 }")
    assert s.tops == [(2, 3, 4, 5), (2, 3, 4, 5)]
    assert len(s.draw_sequence()) == 2  # the default filler is constant 0
    e = refused('name: "d" type: "DummyData" top: "x" top: "y" top: "z" dummy_data_param { '
                'shape { dim: 1 } data_filler {} data_filler {} }')
    assert "Number of data fillers must be 0, 1 or equal to the number of tops" in (
        e.caffe_message or "")


def test_data_layers_take_shapes_from_inputs() -> None:
    data = ('name: "mnist" type: "Data" top: "data" top: "label" data_param { batch_size: 64 '
            "} transform_param { crop_size: 24 }")
    e = refused(data)
    assert "top 'data'" in e.message and "--input data=" in e.message
    assert run(data, inputs={"data": (1, 28, 28)}).tops == [(64, 1, 24, 24), (64,)]
    assert run(data, inputs={"data": (8, 1, 28, 28)}).tops == [(8, 1, 28, 28), (64,)]
    e = refused(data, inputs={"data": (1, 20, 28)})
    assert "smaller than the crop" in e.message
    one = 'name: "src" type: "HDF5Data" top: "x" hdf5_data_param { batch_size: 10 }'
    assert run(one, inputs={"src": (10, 4)}).tops == [(10, 4)]
    image = ('name: "i" type: "ImageData" top: "data" top: "label" image_data_param { '
             "batch_size: 5 new_height: 256 new_width: 300 } transform_param { crop_size: 227 }")
    assert run(image).tops == [(5, 3, 227, 227), (5,)]
    image = ('name: "i" type: "ImageData" top: "data" top: "label" image_data_param { '
             "batch_size: 5 new_height: 256 new_width: 300 is_color: false }")
    assert run(image).tops == [(5, 1, 256, 300), (5,)]
    memory = ('name: "m" type: "MemoryData" top: "data" top: "label" memory_data_param { '
              "batch_size: 4 channels: 3 height: 8 width: 9 }")
    assert run(memory).tops == [(4, 3, 8, 9), (4,)]
    e = refused('name: "m" type: "MemoryData" top: "data" top: "label"')
    assert "must be specified and positive in memory_data_param" in (e.caffe_message or "")
    e = refused('name: "py" type: "Python" top: "a" top: "b"', inputs={"a": (1,)})
    assert "top 'b'" in e.message


def test_fork_data_layers() -> None:
    ssd = ('name: "d" type: "AnnotatedData" top: "data" top: "label" data_param { batch_size: '
           "32 } transform_param { resize_param { resize_mode: WARP height: 300 width: 300 } }")
    assert run(ssd, inputs={"data": (3, 375, 500)}).tops == [(32, 3, 300, 300), (1, 1, 1, 8)]
    seg = ('name: "d" type: "ImageSegData" top: "data" top: "label" image_data_param { '
           "batch_size: 2 } transform_param { crop_size: 513 }")
    assert run(seg).tops == [(2, 3, 513, 513), (2, 1, 513, 513), (2, 1, 1, 2)]
    dense = ('name: "d" type: "DenseImageData" top: "data" top: "label" '
             "dense_image_data_param { batch_size: 4 }")
    assert run(dense, inputs={"data": (3, 360, 480)}).tops == [(4, 3, 360, 480),
                                                              (4, 1, 360, 480)]


# ----------------------------------------------------------------- recurrent


def test_lstm_unrolled_draws() -> None:
    s = run('name: "lstm" type: "LSTM" recurrent_param { num_output: 6 weight_filler { '
            'type: "uniform" } }', (5, 2, 8), (5, 2))
    assert s.tops == [(5, 2, 6)]
    assert shapes(s) == [(24, 8), (24,), (24, 6)]
    assert [b.role for b in s.blobs] == ["W_xc", "b_c", "W_hc"]
    draws = s.draw_sequence()
    assert [(d.shape, d.blob) for d in draws if isinstance(d, FillDraw)] == [
        ((24, 8), 0), ((24,), 1), ((24, 6), 2)] + [((24, 6), None)] * 4
    s = run('name: "lstm" type: "LSTM" top: "h" top: "h_T" top: "c_T" '
            'recurrent_param { num_output: 6 expose_hidden: true }',
            (3, 2, 8), (3, 2), (2, 7), (1, 2, 6), (1, 2, 6))
    assert s.tops == [(3, 2, 6), (1, 2, 6), (1, 2, 6)]
    assert shapes(s) == [(24, 8), (24,), (24, 7), (24, 6)]


def test_rnn_unrolled_draws() -> None:
    s = run('name: "rnn" type: "RNN" recurrent_param { num_output: 4 }', (3, 2, 6), (3, 2))
    assert s.tops == [(3, 2, 4)]
    assert shapes(s) == [(4, 6), (4,), (4, 4), (4, 4), (4,)]
    assert [b.role for b in s.blobs] == ["W_xh", "b_h", "W_hh", "W_ho", "b_o"]
    draws = [d for d in s.draw_sequence() if isinstance(d, FillDraw)]
    assert [d.blob for d in draws] == [0, 1, 2, 3, 4] + [None] * 6
    e = refused('name: "rnn" type: "RNN" recurrent_param { num_output: 4 }', (3, 2, 6), (4, 2))
    assert e.caffe_message == "Check failed: T_ == bottom[1]->shape(0) (3 vs. 4)"
    e = refused('name: "rnn" type: "RNN"', (3, 2, 6), (3, 2))
    assert "num_output must be positive" in (e.caffe_message or "")


# ----------------------------------------------------------------- forks


def test_ssd_layers() -> None:
    s = run('name: "n" type: "Normalize" norm_param { channel_shared: false }', (1, 16, 5, 5))
    assert shapes(s) == [(16,)]
    assert s.blobs[0].filler is not None and s.blobs[0].filler.value == 1.0
    s = run('name: "n" type: "Normalize"', (1, 16, 5, 5))
    assert shapes(s) == [()]
    s = run('name: "p" type: "PriorBox" prior_box_param { min_size: 30 max_size: 60 '
            "aspect_ratio: 2 flip: true }", (1, 512, 38, 38), (1, 3, 300, 300))
    assert s.tops == [(1, 2, 38 * 38 * 4 * 4)]
    s = run('name: "p" type: "Permute" permute_param { order: 0 order: 2 order: 3 order: 1 }',
            (1, 16, 38, 38))
    assert s.tops == [(1, 38, 38, 16)]
    s = run('name: "d" type: "DetectionOutput" detection_output_param { num_classes: 21 }',
            (2, 8 * 4), (2, 8 * 21), (1, 2, 8 * 4))
    assert s.tops == [(1, 1, 1, 7)]
    s = run('name: "m" type: "MultiBoxLoss" top: "l" multibox_loss_param { num_classes: 21 }',
            (2, 8 * 4), (2, 8 * 21), (1, 2, 8 * 4), (1, 1, 3, 8))
    assert s.tops == [()]
    e = refused('name: "m" type: "MultiBoxLoss" top: "l" multibox_loss_param { num_classes: '
                "21 }", (2, 8 * 4), (2, 8 * 20), (1, 2, 8 * 4), (1, 1, 3, 8))
    assert "Number of priors must match number of confidence predictions." in (
        e.caffe_message or "")


def test_segnet_and_pspnet_layers() -> None:
    s = run('name: "bn" type: "BN" bn_param { scale_filler { type: "constant" value: 1 } '
            'shift_filler { type: "constant" value: 0.001 } }', (2, 64, 8, 8))
    assert shapes(s) == [(1, 64, 1, 1), (1, 64, 1, 1)]
    assert [b.filler_field for b in s.blobs] == ["bn_param.scale_filler",
                                                 "bn_param.shift_filler"]
    s = run('name: "bn" type: "BN" bn_param { slope_filler { type: "constant" value: 1 } '
            "frozen: true }", (2, 64, 8, 8))
    assert shapes(s) == [(1, 64, 1, 1)] * 4
    assert s.blobs[2].filler is None
    assert s.blobs[3].filler is not None and s.blobs[3].filler.value == 1.0
    s = run('name: "u" type: "Upsample" upsample_param { scale: 2 }', (1, 64, 23, 30),
            (1, 64, 23, 30))
    assert s.tops == [(1, 64, 46, 60)]
    s = run('name: "u" type: "Upsample" upsample_param { upsample_h: 45 upsample_w: 60 }',
            (1, 64, 23, 30), (1, 64, 23, 30))
    assert s.tops == [(1, 64, 45, 60)]
    s = run('name: "i" type: "Interp" interp_param { height: 64 width: 64 }', (1, 8, 3, 3))
    assert s.tops == [(1, 8, 64, 64)]
    s = run('name: "i" type: "Interp" interp_param { zoom_factor: 8 }', (1, 8, 65, 65))
    assert s.tops == [(1, 8, 513, 513)]
    s = run('name: "i" type: "Interp" interp_param { shrink_factor: 2 }', (1, 8, 65, 65))
    assert s.tops == [(1, 8, 33, 33)]


def test_rcnn_layers() -> None:
    s = run('name: "r" type: "ROIPooling" roi_pooling_param { pooled_h: 7 pooled_w: 7 '
            "spatial_scale: 0.0625 }", (1, 512, 38, 63), (128, 5))
    assert s.tops == [(128, 512, 7, 7)]
    e = refused('name: "r" type: "ROIPooling"', (1, 512, 38, 63), (128, 5))
    assert "pooled_h must be > 0" in (e.caffe_message or "")
    s = run('name: "r" type: "PSROIPooling" psroi_pooling_param { output_dim: 21 group_size: 7 '
            "spatial_scale: 0.0625 }", (1, 21 * 49, 38, 63), (300, 5))
    assert s.tops == [(300, 21, 7, 7)]
    s = run('name: "l" type: "SmoothL1Loss" top: "l"', (1, 36, 38, 63), (1, 36, 38, 63),
            (1, 36, 38, 63), (1, 36, 38, 63))
    assert s.tops == [()]
    e = refused('name: "l" type: "SmoothL1Loss" top: "l"', (1, 36, 38, 63), (1, 35, 38, 63))
    assert "SmoothL1Loss" in e.message


# ----------------------------------------------------------------- windows


@pytest.mark.parametrize(("text", "bottom", "kernel", "stride"), [
    ('type: "Convolution" convolution_param { num_output: 2 kernel_size: 3 stride: 2 }',
     (1, 3, 9, 9), (3, 3), (2, 2)),
    ('type: "Deconvolution" convolution_param { num_output: 2 kernel_h: 4 kernel_w: 2 '
     "stride_h: 2 stride_w: 1 }", (1, 3, 5, 5), (4, 2), (2, 1)),
    ('type: "Convolution" convolution_param { num_output: 2 kernel_size: 1 kernel_size: 2 '
     "kernel_size: 3 stride: 3 }", (1, 3, 6, 6, 6), (1, 2, 3), (3, 3, 3)),
    ('type: "ConvolutionDepthwise" convolution_param { kernel_size: 3 stride: 2 }',
     (1, 3, 9, 9), (3, 3), (2, 2)),
    ('type: "Pooling" pooling_param { pool: MAX kernel_size: 3 stride: 2 }',
     (1, 3, 9, 9), (3, 3), (2, 2)),
    ('type: "Pooling" pooling_param { pool: AVE kernel_h: 2 kernel_w: 4 stride_h: 1 '
     "stride_w: 2 }", (1, 3, 9, 9), (2, 4), (1, 2)),
    ('type: "Pooling" pooling_param { pool: AVE global_pooling: true }',
     (1, 3, 7, 5), (7, 5), (1, 1)),
])
def test_the_setup_records_the_sliding_window(text: str, bottom: tuple[int, ...],
                                              kernel: tuple[int, ...],
                                              stride: tuple[int, ...]) -> None:
    setup = run(f'name: "w" bottom: "x" {text}', bottom)
    assert setup.window is not None
    assert (setup.window.kernel, setup.window.stride) == (kernel, stride)
