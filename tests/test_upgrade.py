"""Caffe's V0/V1 -> V2 upgrade, checked against Caffe's own output and step by step."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DATA, SHARED

from caffefill._proto import caffefill_pb2 as pb
from caffefill.errors import NetError
from caffefill.net.reader import read_net
from caffefill.net.upgrade import (
    UpgradedNet,
    message_to_text,
    net_needs_upgrade,
    upgrade_net,
    upgraded_source,
    upgraded_text,
)

UPGRADE = DATA / "upgrade"


def upgrade_text(text: str) -> UpgradedNet:
    return upgrade_net(read_net("t.prototxt", text=text))


def v2(text: str) -> pb.NetParameter:
    source = read_net("expected", text=text)
    assert source.warnings == []
    return source.param


# ---------------------------------------------------------------- Caffe's own output


@pytest.mark.parametrize(("name", "legacy"), [("legacy_v0", "V0"), ("legacy_v1", "V1")])
def test_reference_legacy_nets(name: str, legacy: str) -> None:
    up = upgrade_net(read_net(UPGRADE / f"{name}.prototxt"))
    expected_text = (UPGRADE / f"{name}.upgraded.prototxt").read_text(encoding="utf-8")
    assert up.param == read_net("x", text=expected_text).param
    assert upgraded_text(up) == expected_text
    assert up.was_legacy == legacy
    assert up.warnings == []
    assert len(up.positions) == len(up.param.layer)
    # the Input layer sits at the 'input' declaration, the others at their 'layers' entry
    assert up.positions[0] == (2, 1)
    assert up.positions[1] == (7, 1)
    assert up.origins[:3] == [None, ("layers", 0), ("layers", 1)]


def _reference_pairs() -> list[tuple[Path, Path]]:
    upgraded = SHARED / "caffe-reference" / "upgraded"
    corpus = SHARED / "corpus"
    if not upgraded.exists() or not corpus.exists():
        return []
    pairs = []
    folders = [p.name for p in corpus.iterdir() if p.is_dir()]
    for ref in sorted(upgraded.glob("*.prototxt")):
        for folder in folders:
            if ref.name.startswith(folder + "_"):
                pairs.append((corpus / folder / ref.name[len(folder) + 1:], ref))
    return pairs


@pytest.mark.needs_shared
@pytest.mark.slow
def test_corpus_legacy_files_upgrade_like_caffe() -> None:
    pairs = _reference_pairs()
    assert len(pairs) == 7
    for source, ref in pairs:
        up = upgrade_net(read_net(source))
        expected = ref.read_text(encoding="utf-8")
        assert up.param == read_net(ref).param, source
        assert upgraded_text(up) == expected, source
        assert up.was_legacy in ("V0", "V1")
        assert len(up.positions) == len(up.param.layer)


@pytest.mark.needs_shared
@pytest.mark.slow
def test_every_corpus_file_upgrades() -> None:
    corpus = SHARED / "corpus"
    manifest = {}
    for line in (corpus / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        parts = line.split("\t")
        manifest[parts[0]] = parts[4]
    for name, syntax in manifest.items():
        source = read_net(corpus / name)
        up = upgrade_net(source)
        assert up.was_legacy == (None if syntax == "V2" else syntax), name
        assert len(up.param.layers) == 0 and len(up.param.input) == 0, name
        # (a BatchNorm layer with three param specs keeps them: Caffe 1.0 "upgrades"
        # such a net again on every read, and so do we)
        assert len(up.positions) == len(up.param.layer)
        if syntax == "V2" and not source.param.input:
            assert up.positions == source.layer_positions


# ---------------------------------------------------------------- V0


V0_PADDING = """name: "pad"
input: "data"
input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
layers { layer { name: "pad1" type: "padding" pad: 2 } bottom: "data" top: "pad1" }
layers { layer { name: "conv1" type: "conv" num_output: 4 kernelsize: 3 } bottom: "pad1"
         top: "conv1" }
layers { layer { name: "relu" type: "relu" } bottom: "conv1" top: "conv1" }
"""


def test_v0_padding_layers_fold_into_the_next_conv() -> None:
    up = upgrade_text(V0_PADDING)
    assert up.was_legacy == "V0"
    assert [layer.name for layer in up.param.layer] == ["input", "conv1", "relu"]
    conv = up.param.layer[1]
    assert list(conv.bottom) == ["data"]
    assert list(conv.convolution_param.pad) == [2]
    assert list(conv.convolution_param.kernel_size) == [3]
    assert up.positions == [(2, 1), (5, 1), (7, 1)]
    assert up.origins == [None, ("layers", 1), ("layers", 2)]
    assert any("padding layer 'pad1' folded into 'conv1'" in note for note in up.notes)


def test_v0_padding_into_a_non_conv_layer_is_refused() -> None:
    text = V0_PADDING.replace('name: "conv1" type: "conv" num_output: 4 kernelsize: 3',
                              'name: "conv1" type: "relu"')
    with pytest.raises(NetError) as info:
        upgrade_text(text)
    error = info.value
    assert error.message == ("Padding layer input to non-convolutional / non-pooling layer "
                             "type relu")
    assert (error.line, error.layer) == (5, "conv1")


def test_v0_padding_with_two_outputs_is_refused() -> None:
    text = V0_PADDING.replace('top: "pad1" }', 'top: "pad1" top: "other" }')
    with pytest.raises(NetError) as info:
        upgrade_text(text)
    assert info.value.message == "Padding Layer produces a single blob as output."
    assert info.value.caffe_message == ("Check failed: source_layer.top_size() == 1 (2 vs. 1) "
                                        "Padding Layer produces a single blob as output.")


def test_v0_unknown_blob_is_refused() -> None:
    text = 'layers { layer { name: "a" type: "relu" } bottom: "nowhere" top: "a" }'
    with pytest.raises(NetError) as info:
        upgrade_text(text)
    assert info.value.message == "Unknown blob input nowhere to layer 0"
    assert info.value.line == 1


def test_v0_unknown_layer_type_is_refused() -> None:
    text = 'input: "d"\nlayers {\n  layer { name: "x" type: "warp" }\n  bottom: "d" }'
    with pytest.raises(NetError) as info:
        upgrade_text(text)
    assert info.value.message == "Unknown layer name: warp"
    assert (info.value.line, info.value.column, info.value.layer) == (2, 1, "x")
    assert str(info.value).startswith("t.prototxt:2:1: layer 'x': Unknown layer name: warp")


def test_v0_flat_fields_go_to_their_layer_params() -> None:
    text = """layers { layer { name: "d" type: "data" source: "db" batchsize: 8 meanfile: "m"
  cropsize: 4 mirror: true scale: 0.5 rand_skip: 3 } top: "data" top: "label" }
layers { layer { name: "w" type: "window_data" source: "w" det_fg_threshold: 0.6
  det_bg_threshold: 0.4 det_fg_fraction: 0.3 det_context_pad: 16 det_crop_mode: "square" }
  top: "w" }
layers { layer { name: "im" type: "images" source: "l" shuffle_images: true new_height: 9
  new_width: 7 } top: "im" }
layers { layer { name: "p" type: "pool" pool: STOCHASTIC kernelsize: 2 stride: 2 pad: 1 }
  bottom: "data" top: "p" }
layers { layer { name: "ip" type: "innerproduct" num_output: 10 biasterm: false
  weight_filler { type: "xavier" } blobs_lr: 1 weight_decay: 0 } bottom: "p" top: "ip" }
layers { layer { name: "n" type: "lrn" local_size: 3 alpha: 2 beta: 0.5 k: 1.5 } bottom: "ip"
  top: "n" }
layers { layer { name: "c" type: "concat" concat_dim: 0 } bottom: "n" bottom: "n" top: "c" }
layers { layer { name: "dr" type: "dropout" dropout_ratio: 0.2 } bottom: "c" top: "c" }
layers { layer { name: "g" type: "conv" group: 2 stride: 3 num_output: 2 kernelsize: 1
  bias_filler { value: 1 } } bottom: "c" top: "g" }
layers { layer { name: "o" type: "hdf5_output" hdf5_output_param { file_name: "f" } }
  bottom: "g" }
"""
    up = upgrade_text(text)
    assert up.warnings == []
    expected = v2("""layer { name: "d" type: "Data" top: "data" top: "label"
  transform_param { scale: 0.5 mirror: true crop_size: 4 mean_file: "m" }
  data_param { source: "db" batch_size: 8 rand_skip: 3 } }
layer { name: "w" type: "WindowData" top: "w" window_data_param { source: "w"
  fg_threshold: 0.6 bg_threshold: 0.4 fg_fraction: 0.3 context_pad: 16 crop_mode: "square" } }
layer { name: "im" type: "ImageData" top: "im" image_data_param { source: "l" shuffle: true
  new_height: 9 new_width: 7 } }
layer { name: "p" type: "Pooling" bottom: "data" top: "p"
  pooling_param { pool: STOCHASTIC kernel_size: 2 stride: 2 pad: 1 } }
layer { name: "ip" type: "InnerProduct" bottom: "p" top: "ip" param { lr_mult: 1 decay_mult: 0 }
  inner_product_param { num_output: 10 bias_term: false weight_filler { type: "xavier" } } }
layer { name: "n" type: "LRN" bottom: "ip" top: "n"
  lrn_param { local_size: 3 alpha: 2 beta: 0.5 k: 1.5 } }
layer { name: "c" type: "Concat" bottom: "n" bottom: "n" top: "c" concat_param { concat_dim: 0 } }
layer { name: "dr" type: "Dropout" bottom: "c" top: "c" dropout_param { dropout_ratio: 0.2 } }
layer { name: "g" type: "Convolution" bottom: "c" top: "g" convolution_param { num_output: 2
  kernel_size: 1 group: 2 stride: 3 bias_filler { value: 1 } } }
layer { name: "o" type: "HDF5Output" bottom: "g" hdf5_output_param { file_name: "f" } }
""")
    assert up.param == expected


def test_v0_fields_that_do_not_apply_are_warnings() -> None:
    text = 'layers { layer { name: "r" type: "relu" num_output: 3 kernelsize: 2 } }'
    up = upgrade_text(text)
    assert [w.message for w in up.warnings] == [
        "Unknown parameter num_output for layer type relu",
        "Unknown parameter kernelsize for layer type relu",
    ]
    assert up.warnings[0].layer == "r"
    assert up.param.layer[0] == v2('layer { name: "r" type: "ReLU" }').layer[0]


def test_v0_upgrade_keeps_only_what_caffe_keeps() -> None:
    text = """name: "n" force_backward: true debug_info: true
input: "d" input_dim: 1 input_dim: 1 input_dim: 2 input_dim: 2
state { phase: TRAIN }
layers { layer { name: "r" type: "relu" } bottom: "d" top: "r" }
"""
    up = upgrade_text(text)
    assert up.param.name == "n"
    assert up.param.force_backward
    assert not up.param.HasField("debug_info")
    assert not up.param.HasField("state")
    assert sorted(w.message for w in up.warnings) == [
        "the V0 upgrade drops the net's 'debug_info' field, as Caffe's does",
        "the V0 upgrade drops the net's 'state' field, as Caffe's does",
    ]
    assert sorted(w.line for w in up.warnings) == [1, 3]


# ---------------------------------------------------------------- V1


def test_v1_layer_fields() -> None:
    text = """layers { name: "c" type: CONVOLUTION bottom: "a" top: "b"
  param: "w" param: "bias" blob_share_mode: PERMISSIVE
  blobs_lr: 1 blobs_lr: 2 weight_decay: 1 loss_weight: 0.5
  include { phase: TRAIN stage: "s" } convolution_param { num_output: 3 } }
layers { name: "e" type: ELTWISE exclude { not_stage: "x" } eltwise_param { operation: MAX } }
layers { name: "none" type: NONE }
layers { name: "notype" }
"""
    up = upgrade_text(text)
    assert up.was_legacy == "V1"
    expected = v2("""layer { name: "c" type: "Convolution" bottom: "a" top: "b"
  param { name: "w" share_mode: PERMISSIVE lr_mult: 1 decay_mult: 1 }
  param { name: "bias" lr_mult: 2 } loss_weight: 0.5
  include { phase: TRAIN stage: "s" } convolution_param { num_output: 3 } }
layer { name: "e" type: "Eltwise" exclude { not_stage: "x" } eltwise_param { operation: MAX } }
layer { name: "none" type: "" }
layer { name: "notype" }
""")
    assert up.param == expected
    assert up.param.layer[2].HasField("type")
    assert not up.param.layer[3].HasField("type")


def test_every_v1_type_has_a_name() -> None:
    for name, number in pb.V1LayerParameter.LayerType.items():
        up = upgrade_text(f'layers {{ name: "l" type: {name} }}')
        assert up.param.layer[0].type or number == 0


def test_v1_and_v2_layers_together_are_refused() -> None:
    text = 'layer { name: "a" type: "ReLU" }\nlayers { name: "b" type: RELU }'
    with pytest.raises(NetError) as info:
        upgrade_text(text)
    assert info.value.message.startswith("Refusing to upgrade inconsistent NetParameter "
                                         "input; the definition includes both 'layer' and "
                                         "'layers' fields.")
    assert info.value.line == 1


def test_v1_data_transformation_upgrade() -> None:
    text = """layers { name: "d" type: DATA top: "x" data_param { source: "s" scale: 0.25
  mirror: true crop_size: 3 mean_file: "m" } }
layers { name: "d2" type: IMAGE_DATA top: "y" }
layers { name: "d3" type: WINDOW_DATA top: "z" window_data_param { crop_size: 5 } }
layers { name: "r" type: RELU bottom: "x" top: "x" }
"""
    up = upgrade_text(text)
    expected = v2("""layer { name: "d" type: "Data" top: "x"
  transform_param { scale: 0.25 mirror: true crop_size: 3 mean_file: "m" }
  data_param { source: "s" } }
layer { name: "d2" type: "ImageData" top: "y" transform_param { } image_data_param { } }
layer { name: "d3" type: "WindowData" top: "z" transform_param { crop_size: 5 }
  window_data_param { } }
layer { name: "r" type: "ReLU" bottom: "x" top: "x" }
""")
    assert up.param == expected
    # Caffe leaves empty messages behind on every data layer once the upgrade runs
    assert up.param.layer[1].HasField("transform_param")
    assert up.param.layer[1].HasField("image_data_param")
    assert not up.param.layer[3].HasField("transform_param")


def test_v1_without_data_fields_adds_no_empty_messages() -> None:
    up = upgrade_text('layers { name: "d2" type: IMAGE_DATA top: "y" }')
    assert not up.param.layer[0].HasField("transform_param")


# ---------------------------------------------------------------- inputs, BatchNorm


def test_input_shape_upgrade_puts_the_input_layer_first() -> None:
    text = """layer { name: "r" type: "ReLU" bottom: "a" top: "r" }
input: "a" input: "b"
input_shape { dim: 1 dim: 2 }
input_shape { dim: 3 }
"""
    up = upgrade_text(text)
    assert up.was_legacy is None
    expected = v2("""layer { name: "input" type: "Input" top: "a" top: "b"
  input_param { shape { dim: 1 dim: 2 } shape { dim: 3 } } }
layer { name: "r" type: "ReLU" bottom: "a" top: "r" }
""")
    assert up.param == expected
    assert up.positions == [(2, 1), (1, 1)]
    assert up.origins == [None, ("layer", 0)]


def test_input_without_shapes_is_dropped() -> None:
    up = upgrade_text('input: "a"\nlayer { name: "r" type: "ReLU" }')
    assert [layer.name for layer in up.param.layer] == ["r"]
    assert len(up.param.input) == 0
    assert up.positions == [(2, 1)]


def test_input_dim_per_input() -> None:
    up = upgrade_text('input: "a" input: "b" input_dim: [1, 2, 3, 4, 5, 6, 7, 8, 9]')
    shapes = [list(s.dim) for s in up.param.layer[0].input_param.shape]
    assert shapes == [[1, 2, 3, 4], [5, 6, 7, 8]]


@pytest.mark.parametrize("text", [
    'input: "a" input: "b" input_dim: [1, 2, 3, 4, 5]',
    'input: "a" input: "b" input_shape { dim: 1 }',
])
def test_too_few_input_shapes_are_refused(text: str) -> None:
    with pytest.raises(NetError) as info:
        upgrade_text(text)
    assert (info.value.line, info.value.column) == (1, 1)
    assert "'b'" in info.value.message


def test_input_shape_without_input_is_left_alone() -> None:
    up = upgrade_text("input_shape { dim: 1 }")
    assert len(up.param.input_shape) == 1
    assert len(up.param.layer) == 0


def test_batch_norm_with_three_params_gets_zero_multipliers() -> None:
    text = """layer { name: "bn" type: "BatchNorm" param { lr_mult: 1 name: "m" } param { }
  param { decay_mult: 3 } }
layer { name: "bn2" type: "BatchNorm" param { lr_mult: 1 } }
"""
    up = upgrade_text(text)
    assert up.was_legacy is None
    bn = up.param.layer[0]
    assert len(bn.param) == 3
    assert [(p.lr_mult, p.decay_mult) for p in bn.param] == [(0, 0)] * 3
    assert bn.param[0].name == "m"
    assert all(p.HasField("lr_mult") and p.HasField("decay_mult") for p in bn.param)
    assert up.param.layer[1].param[0].lr_mult == 1
    assert any("BatchNorm" in note for note in up.notes)


def test_current_nets_are_unchanged() -> None:
    text = 'name: "n"\nlayer { name: "a" type: "ReLU" }\nlayer { name: "b" type: "TanH" }'
    source = read_net("t", text=text)
    up = upgrade_net(source)
    assert up.param == source.param
    assert up.param is not source.param
    assert up.was_legacy is None
    assert up.notes == []
    assert up.positions == [(2, 1), (3, 1)]
    assert not net_needs_upgrade(source.param)


def test_source_is_not_modified() -> None:
    source = read_net(UPGRADE / "legacy_v1.prototxt")
    before = source.param.SerializeToString()
    upgrade_net(source)
    assert source.param.SerializeToString() == before
    assert net_needs_upgrade(source.param)


def test_origins_map_filler_blocks_to_upgraded_layers() -> None:
    source = read_net(UPGRADE / "legacy_v1.prototxt")
    up = upgrade_net(source)
    for block in source.filler_blocks:
        index = up.origins.index((block.list_name, block.layer_index))
        layer = up.param.layer[index]
        assert layer.name == block.layer_name
        holder = layer
        for part in block.field_path.split("."):
            holder = getattr(holder, part)
        assert holder == block.filler


def test_bare_net_parameter_is_accepted() -> None:
    param = read_net(UPGRADE / "legacy_v0.prototxt").param
    up = upgrade_net(param)
    assert up.positions == [(0, 0)] * len(up.param.layer)
    assert up.param.layer[1].type == "Convolution"


# ---------------------------------------------------------------- text output


def test_text_output_formats_like_protobuf_cpp() -> None:
    param = pb.NetParameter(name='q"\n\t\\é')
    layer = param.layer.add(name="l", type="X", phase=pb.TEST)
    layer.loss_weight.extend([1.0, 0.1, 1e-5, 1e10, 123456789.0, 3.4028234663852886e38,
                              float("inf"), float("-inf")])
    layer.propagate_down.append(False)
    layer.convolution_param.weight_filler.std = 0.0001
    layer.input_param.shape.add().dim.extend([-1, 2**40])
    text = message_to_text(param)
    assert text == (
        'name: "q\\"\\n\\t\\\\\\303\\251"\n'
        "layer {\n"
        '  name: "l"\n'
        '  type: "X"\n'
        "  loss_weight: 1\n"
        "  loss_weight: 0.1\n"
        "  loss_weight: 1e-05\n"
        "  loss_weight: 1e+10\n"
        "  loss_weight: 123456792\n"
        "  loss_weight: 3.40282347e+38\n"
        "  loss_weight: inf\n"
        "  loss_weight: -inf\n"
        "  phase: TEST\n"
        "  propagate_down: false\n"
        "  convolution_param {\n"
        "    weight_filler {\n"
        "      std: 0.0001\n"
        "    }\n"
        "  }\n"
        "  input_param {\n"
        "    shape {\n"
        "      dim: -1\n"
        "      dim: 1099511627776\n"
        "    }\n"
        "  }\n"
        "}\n"
    )
    assert read_net("t", text=text).param == param


@pytest.mark.needs_shared
@pytest.mark.slow
def test_text_output_round_trips_the_corpus() -> None:
    corpus = SHARED / "corpus"
    for path in sorted(corpus.rglob("*.prototxt")):
        up = upgrade_net(read_net(path))
        assert read_net("t", text=upgraded_text(up)).param == up.param, path


COMMENTED_V1 = """\
# A V1 net with comments.
name: "Commented"  # its name

input: "data"   # the input
input_dim: 1
input_dim: 3
input_dim: 8
input_dim: 8

# the convolution
layers {
  name: "conv1"  # inside: moved above the layer
  type: CONVOLUTION bottom: "data" top: "conv1"
  convolution_param { num_output: 2 kernel_size: 3 }
}

layers { name: "relu1" type: RELU bottom: "conv1" top: "conv1" }
# the end
"""


def test_upgrade_keeps_the_comments_around_rewritten_layers() -> None:
    src = read_net("c.prototxt", text=COMMENTED_V1)
    up = upgrade_net(src)
    text, kept = upgraded_source(COMMENTED_V1, src, up)
    assert kept
    assert read_net("t", text=text).param == up.param
    assert text.startswith('# A V1 net with comments.\nname: "Commented"  # its name\n\n'
                           'layer {\n  name: "input"\n  type: "Input"\n')
    assert '}   # the input\n' in text
    assert '\n# the convolution\n# inside: moved above the layer\nlayer {\n  name: "conv1"\n' \
        in text
    assert text.endswith("}\n# the end\n")
    assert "# the input" in text


CURRENT = """\
# A current net: the upgrade changes nothing.
name: "Current"
layer { name: "data" type: "Input" top: "data"   # odd layout stays
        input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }

layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 2 kernel_size: 3 } }  # caffefill: ignore[CF101]
"""


def test_upgrade_of_a_current_net_is_the_file_itself() -> None:
    src = read_net("c.prototxt", text=CURRENT)
    assert upgraded_source(CURRENT, src, upgrade_net(src)) == (CURRENT, True)


@pytest.mark.parametrize("name", ["legacy_v0", "legacy_v1"])
def test_upgrade_without_comments_is_caffes_text(name: str) -> None:
    text = (UPGRADE / f"{name}.prototxt").read_text(encoding="utf-8")
    src = read_net(name, text=text)
    expected = (UPGRADE / f"{name}.upgraded.prototxt").read_text(encoding="utf-8")
    assert upgraded_source(text, src, upgrade_net(src)) == (expected, True)


def test_upgrade_to_standard_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    from caffefill.cli import main

    monkeypatch.chdir(tmp_path)
    net = tmp_path / "v1.prototxt"
    net.write_text(COMMENTED_V1)
    assert main(["upgrade", str(net), "-o", "-"]) == 0
    captured = capsys.readouterr()
    assert not (tmp_path / "-").exists()
    assert "# the convolution" in captured.out and "layer {" in captured.out
    assert "-: upgraded from V1 syntax, 3 layers" in captured.err
