"""The net model against real Caffe: layer order, blob shapes, and the
SHA-256 of every blob after running all the nets' draws, in net order, on
one CaffeRNG(seed) -- what Net<float>(prototxt, phase) produces."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED
from google.protobuf import text_format

from caffefill._proto import caffefill_pb2 as pb
from caffefill.errors import ErrorKind, FillerError, NeededInput, NetError
from caffefill.fillers import fill_blob
from caffefill.net.load import load_net
from caffefill.net.model import NetModel, build_model
from caffefill.net.spec import FillDraw
from caffefill.rng import CaffeRNG

DATA = Path(__file__).parent / "data" / "nets"
REFERENCE = SHARED / "caffe-reference"
CORPUS = SHARED / "corpus"


# ----------------------------------------------------------------- helpers


def _meets(rule: pb.NetStateRule, phase: int) -> bool:
    """Net::StateMeetsRule for a state with this phase, level 0, no stages."""
    if rule.HasField("phase") and rule.phase != phase:
        return False
    if rule.HasField("min_level") and rule.min_level > 0:
        return False
    if rule.HasField("max_level") and rule.max_level < 0:
        return False
    return len(rule.stage) == 0


def filtered(net: pb.NetParameter, phase: int) -> pb.NetParameter:
    """A tiny Net::FilterNet (phase only; no stages, level 0)."""
    out = pb.NetParameter()
    out.CopyFrom(net)
    del out.layer[:]
    for layer in net.layer:
        if len(layer.include) == 0:
            keep = not any(_meets(r, phase) for r in layer.exclude)
        else:
            keep = any(_meets(r, phase) for r in layer.include)
        if keep:
            out.layer.add().CopyFrom(layer)
    return out


def with_input_layer(net: pb.NetParameter) -> pb.NetParameter:
    """Net-level ``input``/``input_shape``/``input_dim`` as an Input layer,
    as Caffe's upgrade does."""
    if len(net.input) == 0:
        return net
    out = pb.NetParameter()
    out.CopyFrom(net)
    del out.input[:]
    del out.input_shape[:]
    del out.input_dim[:]
    del out.layer[:]
    layer = out.layer.add()
    layer.name = "input"
    layer.type = "Input"
    for i, name in enumerate(net.input):
        layer.top.append(name)
        shape = layer.input_param.shape.add()
        if len(net.input_shape):
            shape.CopyFrom(net.input_shape[i])
        else:
            shape.dim.extend(net.input_dim[4 * i:4 * i + 4])
    for other in net.layer:
        out.layer.add().CopyFrom(other)
    return out


def read_net(path: Path) -> pb.NetParameter:
    net = pb.NetParameter()
    text_format.Parse(path.read_text(), net)
    return net


def parse(text: str) -> pb.NetParameter:
    net = pb.NetParameter()
    text_format.Parse(text, net)
    return net


def fill_all(model: NetModel, seed: int) -> dict[tuple[int, int], np.ndarray]:
    """Run every draw of the net, in order, on one stream (what init does);
    the values kept by each owned blob."""
    rng = CaffeRNG(seed)
    values: dict[tuple[int, int], np.ndarray] = {}
    for layer in model.layers:
        for draw in layer.draws:
            if isinstance(draw, FillDraw):
                arr = np.empty(draw.shape, np.float32)
                fill_blob(draw.filler, arr, rng)
                if draw.blob is not None:
                    values[(layer.index, draw.blob)] = arr
    return values


def blob_values(model: NetModel, values: Mapping[tuple[int, int], np.ndarray],
                layer_index: int, blob_index: int) -> np.ndarray:
    """A blob's values: its own fill, the owner's when shared, zeros when
    Caffe sets it without a filler."""
    key = model.shared_owner(layer_index, blob_index) or (layer_index, blob_index)
    if key in values:
        return values[key]
    spec = model.layers[key[0]].blobs[key[1]]
    assert spec.filler is None, (layer_index, blob_index)
    return np.zeros(spec.shape, np.float32)


def reference_shape(blob: Mapping[str, object]) -> tuple[int, ...]:
    """Caffe writes a 0-axis blob's shape as legacy [0, 0, 0, 0] (count 1)."""
    shape = tuple(int(d) for d in blob["shape"])  # type: ignore[attr-defined]
    if shape == (0, 0, 0, 0) and blob["count"] == 1:
        return ()
    return shape


def check_against_reference(model: NetModel, record: Mapping[str, object]) -> None:
    ref_layers = record["layers"]
    learnable = model.learnable_layers()
    assert [(layer.name, layer.type) for layer in learnable] == \
        [(x["name"], x["type"]) for x in ref_layers]  # type: ignore[attr-defined]
    for layer, ref in zip(learnable, ref_layers, strict=False):  # type: ignore[call-overload]
        assert [b.shape for b in layer.blobs] == [reference_shape(b) for b in ref["blobs"]], \
            layer.name
    assert model.total_params() == record["params"]
    values = fill_all(model, int(record["seed"]))  # type: ignore[call-overload]
    for layer, ref in zip(learnable, ref_layers, strict=False):  # type: ignore[call-overload]
        for i, blob in enumerate(ref["blobs"]):
            arr = blob_values(model, values, layer.index, i)
            digest = hashlib.sha256(arr.astype("<f4").tobytes()).hexdigest()
            assert digest == blob["sha256"], (layer.name, i)


def _records(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ----------------------------------------------------------------- reference nets


NET_RECORDS = _records(DATA / "nets.jsonl")


@pytest.mark.parametrize("record", NET_RECORDS, ids=[str(r["id"]) for r in NET_RECORDS])
def test_reference_net(record: dict[str, object]) -> None:
    # The whole pipeline: read, upgrade (legacy_v0/v1), filter, splits, set-up.
    _, model = load_net(DATA / str(record["prototxt"]), phase=str(record["phase"]))
    if record["expect"] == "error":
        with pytest.raises(FillerError) as info:
            fill_all(model, int(record["seed"]))  # type: ignore[call-overload]
        assert info.value.caffe_message == record["error"]
        return
    check_against_reference(model, record)


def test_reference_set_is_covered() -> None:
    assert len(NET_RECORDS) == 60


# ----------------------------------------------------------------- corpus


CORPUS_RECORDS = _records(REFERENCE / "corpus_nets.jsonl")
needs_shared = pytest.mark.needs_shared


def _corpus_net(rel: str) -> pb.NetParameter:
    """A corpus file as V2: V0/V1 files from Caffe's own upgrade of them
    (caffe-reference/upgraded)."""
    net = read_net(CORPUS / rel)
    if len(net.layers) or (not len(net.layer) and not len(net.input)):
        net = read_net(REFERENCE / "upgraded" / rel.replace("/", "_"))
    return with_input_layer(net)


@needs_shared
@pytest.mark.slow
@pytest.mark.parametrize("record", CORPUS_RECORDS, ids=[str(r["id"]) for r in CORPUS_RECORDS])
def test_corpus_reference_net(record: dict[str, object]) -> None:
    path = os.path.normpath(REFERENCE / str(record["prototxt"]))
    rel = os.path.relpath(path, CORPUS)
    phase = pb.TRAIN if record["phase"] == "TRAIN" else pb.TEST
    model = build_model(filtered(_corpus_net(rel), phase), phase=phase, path=rel)
    check_against_reference(model, record)


# Shapes for the tops that come from data sources (what --input would give).
IMAGENET = {"data": (3, 256, 256)}
FASTER_RCNN = {
    "data": (1, 3, 600, 1000), "im_info": (1, 3), "gt_boxes": (1, 5),
    "rpn_labels": (1, 1, 342, 63), "rpn_bbox_targets": (1, 36, 38, 63),
    "rpn_bbox_inside_weights": (1, 36, 38, 63), "rpn_bbox_outside_weights": (1, 36, 38, 63),
    "rpn_rois": (2000, 5), "rois": (128, 5), "labels": (128,), "bbox_targets": (128, 84),
    "bbox_inside_weights": (128, 84), "bbox_outside_weights": (128, 84),
}
FCN = {"data": (1, 3, 500, 500), "label": (1, 1, 500, 500)}
CORPUS_INPUTS: dict[str, Mapping[str, Sequence[int]]] = {
    "BVLC__caffe/examples__cifar10__cifar10_full_sigmoid_train_test_bn.prototxt":
        {"data": (3, 32, 32)},
    "BVLC__caffe/examples__cifar10__cifar10_full_train.prototxt": {"data": (3, 32, 32)},
    "BVLC__caffe/examples__cifar10__cifar10_full_train_test.prototxt": {"data": (3, 32, 32)},
    "BVLC__caffe/examples__cifar10__cifar10_quick_train_test.prototxt": {"data": (3, 32, 32)},
    "BVLC__caffe/examples__hdf5_classification__nonlinear_auto_train.prototxt":
        {"data": (10, 4), "label": (10,)},
    "BVLC__caffe/examples__hdf5_classification__train_val.prototxt":
        {"data": (10, 4), "label": (10,)},
    "BVLC__caffe/examples__lenet__lenet_train.prototxt": {"data": (1, 28, 28)},
    "BVLC__caffe/examples__mnist__lenet_train_test.V1_at_11a4c16.prototxt": {"data": (1, 28, 28)},
    "BVLC__caffe/examples__mnist__lenet_train_test.prototxt": {"data": (1, 28, 28)},
    "BVLC__caffe/examples__mnist__mnist_autoencoder.prototxt": {"data": (1, 28, 28)},
    "BVLC__caffe/examples__pycaffe__linreg.prototxt": {"loss": ()},
    "BVLC__caffe/examples__siamese__mnist_siamese_train_test.prototxt": {"pair_data": (2, 28, 28)},
    "BVLC__caffe/models__bvlc_alexnet__train_val.prototxt": IMAGENET,
    "BVLC__caffe/models__bvlc_googlenet__train_val.V1_at_11a4c16.prototxt": IMAGENET,
    "BVLC__caffe/models__bvlc_googlenet__train_val.prototxt": IMAGENET,
    "BVLC__caffe/models__bvlc_reference_caffenet__train_val.V1_at_11a4c16.prototxt": IMAGENET,
    "BVLC__caffe/models__bvlc_reference_caffenet__train_val.prototxt": IMAGENET,
    "DeepScale__SqueezeNet/SqueezeNet_v1.0__train_val.prototxt": IMAGENET,
    "mqingkui__vgg-prototxt/VGG_ILSVRC_16_layers_train_val.prototxt": IMAGENET,
    "alexgkendall__SegNet-Tutorial/Models__segnet_train.prototxt": {"data": (3, 360, 480)},
    "rbgirshick__py-faster-rcnn/models__pascal_voc__VGG16__faster_rcnn_end2end__train.prototxt":
        FASTER_RCNN,
    "soeaver__caffe-model/det__faster_rcnn__models__pascal_voc__mobilenet__"
    "faster_voc_mobilenet-dw.prototxt": FASTER_RCNN,
    "shelhamer__fcn.berkeleyvision.org/voc-fcn32s__train.prototxt": FCN,
    "shelhamer__fcn.berkeleyvision.org/voc-fcn8s-atonce__train.prototxt": FCN,
    "shelhamer__fcn.berkeleyvision.org/voc-fcn8s__train.prototxt": FCN,
    "xzgz__caffe-ssd/models__VGGNet__VOC0712__SSD_300x300__train.prototxt":
        {"data": (3, 375, 500)},
}
# Nets whose layers are chosen by stages (the tiny filter here has none).
NEEDS_STAGES = {"BVLC__caffe/examples__coco_caption__lrcn.prototxt"}

CORPUS_FILES = sorted(str(p.relative_to(CORPUS)) for p in CORPUS.glob("**/*.prototxt")) \
    if CORPUS.exists() else []


@needs_shared
@pytest.mark.slow
@pytest.mark.parametrize("rel", CORPUS_FILES)
def test_corpus_file_infers_shapes(rel: str) -> None:
    """Every corpus file sets up (TEST phase; TRAIN for train-only files
    whose TEST net has no data layer)."""
    if rel in NEEDS_STAGES:
        for stage in ("factored", "unfactored"):
            # 20 time steps x 100 streams of word indices (HDF5 data).
            sentences = {name: (20, 100) for name in
                         ("cont_sentence", "input_sentence", "target_sentence")}
            _, model = load_net(CORPUS / rel, phase="TRAIN", stages=[stage], inputs=sentences)
            assert model.learnable_layers()
        return
    net = _corpus_net(rel)
    inputs = CORPUS_INPUTS.get(rel, {})
    try:
        model = build_model(filtered(net, pb.TEST), phase=pb.TEST, inputs=inputs, path=rel)
    except NetError as exc:
        if "unknown bottom blob" not in exc.message:
            raise
        model = build_model(filtered(net, pb.TRAIN), phase=pb.TRAIN, inputs=inputs, path=rel)
    assert model.learnable_layers()
    assert model.total_params() > 0


# ----------------------------------------------------------------- model behaviour


INPUT = 'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 ' \
        'dim: 8 dim: 8 } } }\n'


def conv(name: str, bottom: str, top: str, extra: str = "", num_output: int = 4) -> str:
    return (f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{top}" {extra} '
            f'convolution_param {{ num_output: {num_output} kernel_size: 3 }} }}\n')


def test_layers_blobs_and_in_place() -> None:
    net = parse(INPUT + conv("c1", "data", "c1") +
                'layer { name: "r" type: "ReLU" bottom: "c1" top: "c1" }\n' +
                'layer { name: "ip" type: "InnerProduct" bottom: "c1" top: "ip" '
                'inner_product_param { num_output: 5 } }\n')
    model = build_model(net, phase=pb.TEST, path="x.prototxt")
    assert [layer.name for layer in model.layers] == ["data", "c1", "r", "ip"]
    relu = model.layers[2]
    assert relu.bottom_shapes == [(2, 4, 6, 6)] and relu.top_shapes == [(2, 4, 6, 6)]
    assert [layer.name for layer in model.learnable_layers()] == ["c1", "ip"]
    assert model.total_params() == 4 * 3 * 9 + 4 + 5 * 144 + 5
    assert model.layers[3].blobs[0].shape == (5, 144)
    assert model.blob_shapes["ip"] == (2, 5)
    assert model.layers[1].param_specs == ["", ""]
    assert model.shared_owner(1, 0) is None
    assert model.path == "x.prototxt" and model.phase == pb.TEST


def test_unknown_bottom_and_type() -> None:
    with pytest.raises(NetError) as info:
        build_model(parse(INPUT + conv("c1", "nope", "c1")), phase=pb.TEST,
                    positions=[(1, 1), (2, 1)], path="n.prototxt")
    e = info.value
    assert e.message == "unknown bottom blob 'nope' (layer 'c1', bottom index 0)"
    assert (e.path, e.line, e.column, e.layer) == ("n.prototxt", 2, 1, "c1")
    with pytest.raises(NetError) as info:
        build_model(parse(INPUT + 'layer { name: "x" type: "Convolutoin" bottom: "data" '
                          'top: "x" }'), phase=pb.TEST)
    assert "Convolutoin" in info.value.message and "'Convolution'" in info.value.message
    assert info.value.kind is ErrorKind.UNKNOWN_LAYER_TYPE and e.kind is ErrorKind.UNKNOWN_BOTTOM


def test_top_from_two_layers_is_refused() -> None:
    with pytest.raises(NetError) as info:
        build_model(parse(INPUT + conv("c1", "data", "c") + conv("c2", "data", "c")),
                    phase=pb.TEST)
    assert info.value.caffe_message == "Top blob 'c' produced by multiple sources."


def test_shared_params() -> None:
    shared = 'param { name: "w" } param { name: "b" }'
    net = parse(INPUT + conv("a", "data", "a", shared) + conv("b", "data", "b", shared))
    model = build_model(net, phase=pb.TEST)
    assert model.shared_owner(2, 0) == (1, 0) and model.shared_owner(2, 1) == (1, 1)
    assert model.layers[2].param_specs == ["w", "b"]
    assert model.total_params() == 2 * model.total_params(unique=True)
    # Sharers still draw their own fill (Caffe fills before sharing).
    assert len(model.layers[2].draws) == 2
    with pytest.raises(NetError) as info:
        build_model(parse(INPUT + conv("a", "data", "a", 'param { name: "w" }') +
                          conv("b", "data", "b", 'param { name: "w" }', num_output=5)),
                    phase=pb.TEST)
    assert "shape mismatch" in (info.value.caffe_message or "")
    assert info.value.layer == "b"
    # PERMISSIVE only compares counts.
    a = ('layer { name: "a" type: "InnerProduct" bottom: "data" top: "a" param { name: "w" } '
         'inner_product_param { num_output: 6 bias_term: false } }\n')
    b = ('layer { name: "b" type: "InnerProduct" bottom: "data" top: "b" param { name: "w" '
         'share_mode: PERMISSIVE } inner_product_param { num_output: 18 bias_term: false '
         'transpose: true axis: 2 } }\n')
    model = build_model(parse(INPUT + a + b), phase=pb.TEST)
    assert model.layers[1].blobs[0].shape == (6, 192)
    assert model.layers[2].blobs[0].shape == (64, 18)
    assert model.shared_owner(2, 0) == (1, 0)
    with pytest.raises(NetError) as info:
        build_model(parse(INPUT + conv("a", "data", "a", 'param { name: "w" lr_mult: 1 }') +
                          conv("b", "data", "b", 'param { name: "w" lr_mult: 2 }')),
                    phase=pb.TEST)
    assert "mismatched lr_mult" in (info.value.caffe_message or "")


def test_too_many_param_specs() -> None:
    with pytest.raises(NetError) as info:
        build_model(parse(INPUT + conv("a", "data", "a", "param {} param {} param {}")),
                    phase=pb.TEST)
    assert info.value.caffe_message == ("Check failed: param_size <= num_param_blobs (3 vs. 2) "
                                        "Too many params specified for layer a")


def test_layer_names() -> None:
    # Two learnable layers under one name would collide in the weights file.
    with pytest.raises(NetError) as info:
        build_model(parse(INPUT + conv("c", "data", "c1") + conv("c", "data", "c2")),
                    phase=pb.TEST)
    assert "already used" in info.value.message
    # Blob-less layers may repeat names.
    net = parse(INPUT + conv("c", "data", "c1") +
                'layer { name: "relu" type: "ReLU" bottom: "c1" top: "c1" }\n'
                'layer { name: "relu" type: "ReLU" bottom: "c1" top: "c1" }\n')
    assert len(build_model(net, phase=pb.TEST).layers) == 4


def test_blob_limits() -> None:
    big = ('layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" '
           'inner_product_param { num_output: 20000000 } }')
    with pytest.raises(NetError) as info:
        build_model(parse(INPUT + big), phase=pb.TEST)
    assert "int32" in info.value.message
    zero = 'layer { name: "d" type: "Input" top: "d" input_param { shape { dim: 2 dim: 0 } } }'
    with pytest.raises(NetError) as info:
        build_model(parse(zero), phase=pb.TEST)
    assert "positive" in info.value.message


def test_loss_layer_gets_an_automatic_top() -> None:
    net = parse('layer { name: "d" type: "Input" top: "x" top: "y" input_param { shape { '
                'dim: 4 dim: 10 } shape { dim: 4 } } }\n'
                'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "x" bottom: "y" }')
    model = build_model(net, phase=pb.TRAIN)
    assert model.layers[1].tops == ["(automatic)"] and model.layers[1].top_shapes == [()]


def test_data_layer_inputs() -> None:
    net = parse('layer { name: "d" type: "Data" top: "data" top: "label" data_param { '
                'batch_size: 8 } }\n' + conv("c", "data", "c"))
    with pytest.raises(NetError) as info:
        build_model(net, phase=pb.TRAIN, positions=[(3, 1), (4, 1)])
    assert "--input data=" in info.value.message and info.value.line == 3
    assert info.value.kind is ErrorKind.MISSING_INPUT
    assert info.value.needed_input == NeededInput("data", "N,C,H,W", one_record=True)
    model = build_model(net, phase=pb.TRAIN, inputs={"data": (3, 32, 32), "dtaa": (1,)})
    assert model.layers[0].top_shapes == [(8, 3, 32, 32), (8,)]
    assert model.unused_inputs == ["dtaa"]
    assert model.layers[1].blobs[0].shape == (4, 3, 3, 3)


def test_legacy_nets_are_refused() -> None:
    with pytest.raises(NetError):
        build_model(parse('layers { name: "c" type: CONVOLUTION }'), phase=pb.TEST)
    with pytest.raises(NetError):
        build_model(parse('input: "data" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8'),
                    phase=pb.TEST)


def test_propagate_down_count() -> None:
    with pytest.raises(NetError) as info:
        build_model(parse(INPUT + conv("c", "data", "c", "propagate_down: true "
                                       "propagate_down: false")), phase=pb.TEST)
    assert "propagate_down" in info.value.message
