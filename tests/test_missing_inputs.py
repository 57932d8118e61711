"""Tops whose shapes come from outside the prototxt: every needed one named in
one error, placeholders for those that feed no learnable blob and no draw,
and the stages that decide whether a bottom exists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import DATA

import caffefill
from caffefill.errors import ErrorKind, NetError
from caffefill.net.load import load_net

NET = DATA / "missing_inputs" / "faster_rcnn_like.prototxt"

#: Shapes a real run of the net's Python layers would give every top.
FULL = {"data": (1, 3, 32, 48), "im_info": (1, 3), "gt_boxes": (4, 5),
        "rpn_labels": (1, 1, 48, 24), "rpn_bbox_targets": (1, 12, 16, 24),
        "rpn_bbox_inside_weights": (1, 12, 16, 24), "rpn_bbox_outside_weights": (1, 12, 16, 24),
        "rpn_rois": (20, 5), "rois": (8, 5), "labels": (8,), "bbox_targets": (8, 12),
        "bbox_inside_weights": (8, 12), "bbox_outside_weights": (8, 12)}


def test_only_the_data_shape_is_needed_and_the_weights_are_those_of_full_shapes() -> None:
    alone = caffefill.init_net(NET, seed=5, inputs={"data": FULL["data"]})
    full = caffefill.init_net(NET, seed=5, inputs=FULL)
    assert list(alone) == list(full)
    for name in full:
        for a, b in zip(alone[name], full[name], strict=True):
            assert a.shape == b.shape and np.array_equal(a, b), name


def test_placeholders_are_said() -> None:
    src, model = load_net(NET, inputs={"data": FULL["data"]})
    assert set(model.placeholder_inputs) == set(FULL) - {"data"}
    assert any("gt_boxes" in w.message and "placeholder" in w.message for w in src.warnings)


def test_no_shape_names_the_one_needed_and_the_ones_not_needed() -> None:
    with pytest.raises(NetError) as info:
        load_net(NET)
    exc = info.value
    assert exc.kind is ErrorKind.MISSING_INPUT and exc.layer == "input-data"
    assert [n.top for n in exc.needed_inputs or []] == ["data"]
    assert "--input data=" in exc.message and "--input im_info" not in exc.message
    assert "rois" in exc.message and "need no shape" in exc.message


TWO_SOURCES = """
layer { name: "a" type: "Python" top: "a" top: "aux" }
layer { name: "b" type: "Python" top: "b" }
layer { name: "ca" type: "Convolution" bottom: "a" top: "ca"
  convolution_param { num_output: 2 kernel_size: 1 weight_filler { type: "xavier" } } }
layer { name: "ip" type: "InnerProduct" bottom: "b" top: "ip"
  inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "EuclideanLoss" bottom: "ca" bottom: "aux" top: "loss" }
"""


def test_every_needed_top_in_one_error(tmp_path: Path) -> None:
    path = tmp_path / "two.prototxt"
    path.write_text(TWO_SOURCES)
    with pytest.raises(NetError) as info:
        load_net(path)
    message = info.value.message
    assert "--input a=DIMS --input b=DIMS" in message
    assert [n.top for n in info.value.needed_inputs or []] == ["a", "b"]
    assert "aux feed no learnable blob" in message


CROP_REFERENCE = """
layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 1 dim: 2 dim: 9 dim: 9 } } }
layer { name: "ref" type: "Python" top: "ref" }
layer { name: "crop" type: "Crop" bottom: "data" bottom: "ref" top: "crop" }
layer { name: "ip" type: "InnerProduct" bottom: "crop" top: "ip"
  inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }
"""


def test_a_side_input_that_decides_a_blob_shape_stays_needed(tmp_path: Path) -> None:
    # By the graph a Crop's reference is a side input, but its shape decides the
    # crop's and so the InnerProduct's weights: two placeholders disagree.
    path = tmp_path / "crop.prototxt"
    path.write_text(CROP_REFERENCE)
    with pytest.raises(NetError) as info:
        load_net(path)
    assert [n.top for n in info.value.needed_inputs or []] == ["ref"]


STAGED = """
state { stage: "deploy" }
layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 1 dim: 2 } } }
layer { name: "feat" type: "InnerProduct" bottom: "data" top: "feat"
  include { stage: "train" } inner_product_param { num_output: 2 } }
layer { name: "noop" type: "ReLU" bottom: "data" top: "data2" exclude { not_stage: "x" } }
layer { name: "ip" type: "InnerProduct" bottom: "feat" top: "ip"
  inner_product_param { num_output: 2 } }
"""


def test_an_unknown_bottom_made_under_a_stage_lists_the_stages(tmp_path: Path) -> None:
    path = tmp_path / "staged.prototxt"
    path.write_text(STAGED)
    with pytest.raises(NetError) as info:
        load_net(path)
    message = info.value.message
    assert "unknown bottom blob 'feat'" in message
    assert "layer 'feat' makes 'feat' in some stages only" in message
    assert "the net defines stages deploy, train, x (pass --stage NAME)" in message
    load_net(path, stages=["train"])  # the stage makes the bottom


def test_the_audit_says_a_staged_bottom_needs_a_stage(tmp_path: Path) -> None:
    from caffefill.audit import AuditOptions, audit_text

    report = audit_text("staged.prototxt", STAGED, AuditOptions())
    assert not [f for f in report.findings if f.code == "CF100"]
    (note,) = [f for f in report.findings if f.severity == "note"]
    assert "the net defines stages deploy, train, x (pass --stage NAME)" in note.message


SIAMESE = """
layer { name: "pair" type: "Python" top: "pair" }
layer { name: "slice" type: "Slice" bottom: "pair" top: "a" top: "b"
  slice_param { slice_point: 1 } }
layer { name: "ca" type: "Convolution" bottom: "a" top: "ca"
  param { name: "w" } convolution_param { num_output: 2 kernel_size: 1 bias_term: false } }
layer { name: "cb" type: "Convolution" bottom: "b" top: "cb"
  param { name: "w" } convolution_param { num_output: 2 kernel_size: 1 bias_term: false } }
"""


def test_a_refusal_the_placeholder_causes_asks_for_the_shape(tmp_path: Path) -> None:
    # With a 3-channel placeholder the two halves differ and the shared weights
    # would not match: the real shape is needed, not a Caffe refusal.
    path = tmp_path / "siamese.prototxt"
    path.write_text(SIAMESE)
    with pytest.raises(NetError) as info:
        load_net(path)
    assert info.value.kind is ErrorKind.MISSING_INPUT
    assert [n.top for n in info.value.needed_inputs or []] == ["pair"]
    load_net(path, inputs={"pair": (1, 2, 4, 4)})


def test_the_check_build_reuses_the_set_ups_the_placeholders_do_not_reach(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # build_model sets the net up a second time with other placeholder shapes; a
    # layer that sees the same bottoms and inputs then is not set up again.
    import dataclasses

    from caffefill.net import registry

    registry.entry("Convolution")  # the built-ins registered
    calls: list[str] = []
    original = registry.REGISTRY["Convolution"]

    def counted(ctx: registry.LayerContext) -> registry.LayerSetup:
        calls.append(ctx.name)
        return original.setup(ctx)

    monkeypatch.setitem(registry.REGISTRY, "Convolution",
                        dataclasses.replace(original, setup=counted))
    _, model = load_net(NET, inputs={"data": FULL["data"]})
    assert model.placeholder_inputs
    convolutions = [layer.name for layer in model.layers if layer.type == "Convolution"]
    assert convolutions and sorted(calls) == sorted(convolutions)
