"""Filler overrides (``--filler PATTERN=FILLER``, ``fillers=[...]``): the same
weights, to the byte, as the prototxt edited by hand to hold the filler."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import caffefill
from caffefill._proto import caffefill_pb2 as pb
from caffefill.cli import main
from caffefill.errors import FillerError, NetError
from caffefill.overrides import FillerOverride, parse_override

ROOT = Path(__file__).resolve().parent.parent
LENET = ROOT / "examples" / "lenet.prototxt"
NETS = ROOT / "tests" / "data" / "nets"


def digest(weights: caffefill.Weights) -> str:
    """SHA-256 of every blob's name, shape and float32 bytes, in net order."""
    h = hashlib.sha256()
    for name, blobs in weights.items():
        for index, array in enumerate(blobs):
            h.update(f"{name}/{index}{array.shape}".encode())
            h.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
    return h.hexdigest()


def edited(source: Path, tmp_path: Path, *edits: tuple[str, str, str]) -> Path:
    """``source`` edited by hand: each (anchor, old, new) replaces the first
    ``old`` after the first ``anchor``."""
    text = source.read_text()
    for anchor, old, new in edits:
        start = text.index(anchor)
        at = text.index(old, start)
        text = text[:at] + new + text[at + len(old):]
    out = tmp_path / f"edited_{source.name}"
    out.write_text(text)
    return out


# (net, overrides, hand edits of the prototxt that say the same)
CASES = [
    pytest.param(LENET, ["conv*=msra"], [
        ('name: "conv1"', 'weight_filler { type: "xavier" }', 'weight_filler { type: "msra" }'),
        ('name: "conv2"', 'weight_filler { type: "xavier" }', 'weight_filler { type: "msra" }'),
    ], id="lenet-glob-bare-word"),
    pytest.param(LENET, ['type: "gaussian" std: 0.01', 'ip2=type: "uniform" min: -0.2 max: 0.3',
                         'conv1.bias=type: "constant" value: 0.5'], [
        ('name: "conv1"', 'weight_filler { type: "xavier" }',
         'weight_filler { type: "gaussian" std: 0.01 }'),
        ('name: "conv1"', 'bias_filler { type: "constant" }',
         'bias_filler { type: "constant" value: 0.5 }'),
        ('name: "conv2"', 'weight_filler { type: "xavier" }',
         'weight_filler { type: "gaussian" std: 0.01 }'),
        ('name: "ip1"', 'weight_filler { type: "xavier" }',
         'weight_filler { type: "gaussian" std: 0.01 }'),
        ('name: "ip2"', 'weight_filler { type: "xavier" }',
         'weight_filler { type: "uniform" min: -0.2 max: 0.3 }'),
    ], id="lenet-every-layer-then-last-wins-and-a-bias"),
    pytest.param(NETS / "mixed_layers.prototxt", [
        'ip_default=type: "gaussian" std: 0.3', 'ip_default.bias=uniform',
        'scale.bias=type: "constant" value: 0.7', 'prelu=type: "constant" value: 0.1',
        'bias.bias=type: "gaussian" std: 2', 'up=orthogonal', 'ip_sparse=trunc_normal',
    ], [
        ('name: "ip_default"', "num_output: 3 }",
         'num_output: 3 weight_filler { type: "gaussian" std: 0.3 } '
         'bias_filler { type: "uniform" } }'),
        ('name: "scale"', 'bias_filler { type: "constant" value: 0.1 }',
         'bias_filler { type: "constant" value: 0.7 }'),
        ('name: "prelu"', 'top: "conv_d" }',
         'top: "conv_d" prelu_param { filler { type: "constant" value: 0.1 } } }'),
        ('name: "bias"', 'filler { type: "gaussian" std: 0.3 }',
         'filler { type: "gaussian" std: 2 }'),
        ('name: "up"', 'weight_filler { type: "bilinear" }',
         'weight_filler { type: "orthogonal" }'),
        ('name: "ip_sparse"', 'weight_filler { type: "gaussian" std: 0.2 sparse: 4 }',
         'weight_filler { type: "trunc_normal" }'),
    ], id="mixed-layers-defaults-scale-prelu-bias-caffefill-fillers"),
    pytest.param(NETS / "recurrent.prototxt", [
        'lstm=type: "gaussian" std: 0.05', "rnn.bias=msra"], [
        ('name: "lstm"', 'weight_filler { type: "uniform" min: -0.08 max: 0.08 }',
         'weight_filler { type: "gaussian" std: 0.05 }'),
        ('name: "rnn"', 'bias_filler { type: "uniform" min: -0.5 max: 0.5 }',
         'bias_filler { type: "msra" }'),
    ], id="recurrent-unrolled-draws"),
    pytest.param(NETS / "legacy_v1.prototxt", ["conv2=msra"], [
        ('name: "conv2"', 'weight_filler { type: "gaussian" std: 0.01 }',
         'weight_filler { type: "msra" }'),
    ], id="v1-syntax"),
    pytest.param(NETS / "shared_params.prototxt", ["conv_b=xavier", "ip_?.bias=gaussian"], [
        ('name: "conv_b"', 'weight_filler { type: "msra" }', 'weight_filler { type: "xavier" }'),
        ('name: "ip_a"', 'bias_filler { type: "constant" value: 1 }',
         'bias_filler { type: "gaussian" }'),
        ('name: "ip_b"', 'bias_filler { type: "constant" value: 1 }',
         'bias_filler { type: "gaussian" }'),
    ], id="shared-params"),
]


@pytest.mark.parametrize(("net", "overrides", "edits"), CASES)
@pytest.mark.parametrize("phase", ["TRAIN", "TEST"])
def test_override_equals_the_prototxt_edited_by_hand(
        net: Path, overrides: list[str], edits: list[tuple[str, str, str]], phase: str,
        tmp_path: Path) -> None:
    by_hand = caffefill.init_net(edited(net, tmp_path, *edits), phase, seed=1701)
    overridden = caffefill.init_net(net, phase, seed=1701, fillers=overrides)
    original = caffefill.init_net(net, phase, seed=1701)
    assert digest(overridden) == digest(by_hand)
    assert digest(overridden) != digest(original)  # the override did something
    assert overridden.meta["fillers"] == [
        {**parse_override(text).record(()), "layers": records["layers"]}
        for text, records in zip(overrides, overridden.meta["fillers"], strict=True)]
    assert "fillers" not in original.meta
    # The net as set up carries the edited fillers (what a .caffemodel writes).
    assert overridden.model is not None and by_hand.model is not None
    for mine, theirs in zip(overridden.model.layers, by_hand.model.layers, strict=True):
        assert [b.filler for b in mine.blobs] == [b.filler for b in theirs.blobs]


def test_parsed_overrides_are_accepted_and_recorded() -> None:
    parsed = parse_override("conv*.weight=msra")
    assert (parsed.pattern, parsed.target, parsed.filler.type) == ("conv*", "weight", "msra")
    weights = caffefill.init_net(LENET, seed=3, fillers=[parsed, "ip*.bias=constant"])
    assert weights.meta["fillers"] == [
        {"pattern": "conv*", "target": "weight", "filler": 'type: "msra"',
         "layers": ["conv1", "conv2"]},
        {"pattern": "ip*", "target": "bias", "filler": 'type: "constant"',
         "layers": ["ip1", "ip2"]}]


def test_a_layer_named_like_a_target_is_reached_by_naming_the_target() -> None:
    parsed = parse_override("odd.bias.weight=msra")
    assert (parsed.pattern, parsed.target) == ("odd.bias", "weight")
    assert parse_override("msra") == FillerOverride("*", "weight", parsed.filler, "msra")


@pytest.mark.parametrize(("text", "message"), [
    ("conv1=msrra", 'unknown filler type "msrra": did you mean "msra"?'),
    ('conv1=type: "Gaussian"', 'did you mean "gaussian"?'),
    ('conv1=type: "msra" std: 0.1', "msra does not read 'std' (it reads variance_norm)"),
    ('conv1=value: 2 std: 1', "constant does not read 'std'"),  # type defaults to constant
    ("conv1=type: \"gaussian\" stdd: 1", "stdd"),
    ("=msra", "empty pattern"),
    (".bias=msra", "no layer pattern"),
    ("conv1=", "no filler after '='"),
])
def test_bad_overrides_are_refused_before_the_net_is_read(text: str, message: str) -> None:
    with pytest.raises(FillerError) as info:
        caffefill.init_net("/nonexistent.prototxt", seed=1, fillers=[text])
    assert message in str(info.value) and text in str(info.value)


@pytest.mark.parametrize(("text", "message"), [
    ("cnv1=msra", "no layer of this net matches 'cnv1' and has a weight filler; "
                  "did you mean 'conv1'?"),
    ("fc*=msra", "no layer of this net matches 'fc*' and has a weight filler; "
                 "layers with one: conv1, conv2, ip1, ip2"),
    ("relu1=msra", "no layer of this net matches 'relu1'"),  # a layer without blobs
])
def test_an_override_that_matches_nothing_is_an_error(text: str, message: str) -> None:
    with pytest.raises(NetError) as info:
        caffefill.init_net(LENET, seed=1, fillers=["conv1=xavier", text])
    assert message in str(info.value) and str(LENET) in str(info.value)


def test_a_target_the_layer_lacks_does_not_count_as_a_match() -> None:
    # The Bias layer's one blob is a bias: it has no weight filler to replace.
    with pytest.raises(NetError, match="'bias' and has a weight filler"):
        caffefill.init_net(NETS / "mixed_layers.prototxt", seed=1, fillers=["bias=msra"])
    # conv_d has no bias term.
    with pytest.raises(NetError, match="has a bias filler"):
        caffefill.init_net(NETS / "mixed_layers.prototxt", seed=1, fillers=["conv_d.bias=msra"])


def test_a_filler_the_blob_refuses_is_refused_before_drawing_and_says_so() -> None:
    with pytest.raises(FillerError) as info:
        caffefill.init_net(LENET, seed=1, fillers=["ip1=bilinear"])
    text = str(info.value)
    assert "layer 'ip1'" in text and "bilinear needs a 4-D" in text and "'ip1=bilinear'" in text


def test_caffenet_takes_overrides() -> None:
    torch_module = pytest.importorskip("caffefill.torch")
    net = torch_module.CaffeNet(LENET, phase="TRAIN", seed=5, fillers=["conv*=msra"])
    want = caffefill.init_net(LENET, "TRAIN", seed=5, fillers=["conv*=msra"])
    got = net.layer("conv2").blobs()[0].detach().numpy()
    np.testing.assert_array_equal(got, want["conv2"][0])


# ---------------------------------------------------------------- command line


def _meta(path: Path, fmt: str) -> dict[str, object]:
    if fmt == "npz":
        with zipfile.ZipFile(path) as archive, archive.open("__meta__.npy") as member:
            return dict(json.loads(str(np.lib.format.read_array(member))))
    if fmt == "npy":
        return dict(json.loads((path / "meta.json").read_text()))
    if fmt == "h5":
        h5py = pytest.importorskip("h5py")
        with h5py.File(path, "r") as handle:
            return dict(json.loads(handle.attrs["caffefill_meta"]))
    if fmt == "safetensors":
        header = path.read_bytes()
        size = int.from_bytes(header[:8], "little")
        return dict(json.loads(json.loads(header[8:8 + size])["__metadata__"]["caffefill"]))
    net = pb.NetParameter()
    net.ParseFromString(path.read_bytes())
    return dict(json.loads(net.caffefill_meta))


@pytest.mark.parametrize(("fmt", "name"), [("npz", "w.npz"), ("npy", "w"), ("h5", "w.h5"),
                                           ("safetensors", "w.safetensors"),
                                           ("caffemodel", "w.caffemodel")])
def test_every_format_records_the_overrides(fmt: str, name: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    if fmt == "h5":
        pytest.importorskip("h5py")
    out = tmp_path / name
    code = main(["init", str(LENET), "--seed", "7", "-o", str(out), "--format", fmt,
                 "--filler", "conv*=msra", "--filler", 'ip1.bias=type: "constant" value: 0.25'])
    assert code == 0, capsys.readouterr().err
    meta = _meta(out, fmt)
    assert meta["fillers"] == [
        {"pattern": "conv*", "target": "weight", "filler": 'type: "msra"',
         "layers": ["conv1", "conv2"]},
        {"pattern": "ip1", "target": "bias", "filler": 'type: "constant" value: 0.25',
         "layers": ["ip1"]}]
    back = caffefill.load_weights(out)
    want = caffefill.init_net(LENET, seed=7, fillers=["conv*=msra",
                                                       'ip1.bias=type: "constant" value: 0.25'])
    assert digest(back) == digest(want)


def test_caffemodel_layers_carry_the_overridden_fillers(tmp_path: Path) -> None:
    out = tmp_path / "w.caffemodel"
    assert main(["init", str(LENET), "--seed", "7", "-o", str(out), "--filler", "conv2=msra",
                 "--filler", "*.bias=type: \"constant\" value: 0.1"]) == 0
    net = pb.NetParameter()
    net.ParseFromString(out.read_bytes())
    layers = {layer.name: layer for layer in net.layer}
    assert layers["conv2"].convolution_param.weight_filler.type == "msra"
    assert layers["conv1"].convolution_param.weight_filler.type == "xavier"
    for name in ("conv1", "conv2"):
        assert layers[name].convolution_param.bias_filler.value == pytest.approx(0.1)
    assert layers["ip2"].inner_product_param.bias_filler.value == pytest.approx(0.1)
    assert [tuple(b.shape.dim) for b in layers["conv2"].blobs] == [(50, 20, 5, 5), (50,)]


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "w.npz"
    for bad in ("cnv*=msra", "conv1=msrra", "conv1=type: \"msra\" std: 2"):
        assert main(["init", str(LENET), "--seed", "1", "-o", str(out), "--filler", bad]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("caffefill: error: ") and bad in err
        assert not out.exists()


def test_show_applies_the_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(LENET), "--json", "--filler", "ip*=msra"]) == 0
    rows = json.loads(capsys.readouterr().out)
    rows = rows["blobs"] if isinstance(rows, dict) else rows
    fillers = {(row["layer"], row["index"]): row["filler"] for row in rows}
    assert fillers[("ip1", 0)].startswith("msra") and fillers[("conv1", 0)].startswith("xavier")
