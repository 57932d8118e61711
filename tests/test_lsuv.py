"""LSUV (``init --lsuv``): orthonormal start from Caffe's stream, then each
linear layer's output variance rescaled to 1 within the tolerance."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import caffefill
from caffefill._proto import caffefill_pb2 as pb
from caffefill.cli import main
from caffefill.init import prepare_net

ROOT = Path(__file__).resolve().parent.parent
FORWARD = ROOT / "tests" / "data" / "forward" / "nets"
DEEP_TANH = FORWARD / "deep_tanh_gauss001.prototxt"
DEEP_RELU = FORWARD / "deep_relu_gauss001.prototxt"
NETS = ROOT / "tests" / "data" / "nets"
CONV = FORWARD / "vision_ops.prototxt"  # conv, LRN, pooling, a frozen bilinear Deconvolution


def _digest(weights: caffefill.Weights) -> list[tuple[str, int, bytes]]:
    return [(name, i, np.ascontiguousarray(a, dtype=np.float32).tobytes())
            for name, blobs in weights.items() for i, a in enumerate(blobs)]


def measured_variances(net: Path, phase: str, weights: caffefill.Weights,
                       inputs: dict[str, np.ndarray]) -> dict[str, float]:
    """Each layer's first top's variance right after it ran, in a net built
    afresh (another seed) holding ``weights``, fed ``inputs``."""
    torch = pytest.importorskip("torch")
    from caffefill.torch import CaffeNet

    shapes = {name: value.shape for name, value in inputs.items()}
    fresh = CaffeNet(net, phase=phase, seed=12345, inputs=shapes)
    with torch.no_grad():
        for name, blobs in weights.items():
            for tensor, value in zip(fresh.layer(name).blobs(), blobs, strict=True):
                tensor.copy_(torch.from_numpy(np.asarray(value)))
        return {module.caffe_name: float(tops[0].double().var(unbiased=False))
                for module, tops in fresh.run(inputs, {})}


@pytest.mark.parametrize(("net", "phase", "tol", "rescaled"), [
    (DEEP_TANH, "TRAIN", 0.1, [f"fc{i}" for i in range(1, 11)]),
    (DEEP_RELU, "TRAIN", 0.02, [f"fc{i}" for i in range(1, 11)]),
    (CONV, "TEST", 0.05, ["conv1", "conv2", "conv3", "fc"]),
])
def test_every_layer_has_unit_variance_within_the_tolerance(
        net: Path, phase: str, tol: float, rescaled: list[str]) -> None:
    pytest.importorskip("torch")
    from caffefill.lsuv import lsuv

    prepared = prepare_net(net, phase, seed=1701)
    (name, shape), = ((top, s) for top, s in _input_shapes(net, phase).items())
    x = np.random.default_rng(7).standard_normal(shape).astype(np.float32) * 3 + 0.5
    result = lsuv(prepared, data={name: x}, tol=tol)
    assert [layer.layer for layer in result.layers] == rescaled
    assert all(layer.converged for layer in result.layers)
    variances = measured_variances(net, phase, result.weights(), {name: x})
    for layer in rescaled:
        assert abs(variances[layer] - 1) < tol, (layer, variances[layer])
    before = measured_variances(net, phase, caffefill.init_net(net, phase, seed=1701),
                                {name: x})
    assert any(abs(before[layer] - 1) >= tol for layer in rescaled)  # LSUV had work to do
    recorded = result.meta["lsuv"]
    assert recorded["tol"] == tol and recorded["data"] == "given arrays"
    assert [r["layer"] for r in recorded["layers"]] == rescaled
    for record in recorded["layers"]:
        assert record["converged"] and abs(record["variance"] - variances[record["layer"]]) < 1e-5


def _input_shapes(net: Path, phase: str) -> dict[str, tuple[int, ...]]:
    prepared = prepare_net(net, phase, seed=1)
    return {top: shape for layer in prepared.model.layers if layer.type == "Input"
            for top, shape in zip(layer.param.top, layer.top_shapes, strict=True)}


def test_the_start_is_orthogonal_from_caffes_stream_and_frozen_layers_keep_theirs() -> None:
    pytest.importorskip("torch")
    from caffefill.lsuv import lsuv

    result = lsuv(prepare_net(CONV, "TRAIN", seed=9), max_iter=0)
    # "up" is a bilinear Deconvolution with lr_mult 0: left alone.
    started = ["conv1", "conv2", "conv3", "fc"]
    assert result.meta["lsuv"]["start_layers"] == started
    want = caffefill.init_net(CONV, "TRAIN", seed=9,
                              fillers=[f"{name}=orthogonal" for name in started])
    assert _digest(result.weights()) == _digest(want)


def test_the_users_overrides_win_over_the_orthogonal_start() -> None:
    pytest.importorskip("torch")
    from caffefill.lsuv import lsuv

    prepared = prepare_net(DEEP_RELU, seed=4, fillers=["fc3=msra", "fc*.bias=constant"])
    result = lsuv(prepared, max_iter=0)
    assert "fc3" not in result.meta["lsuv"]["start_layers"]
    assert result.meta["fillers"][0]["layers"] == ["fc3"]
    names = [f"fc{i}" for i in range(1, 11) if i != 3]
    want = caffefill.init_net(DEEP_RELU, seed=4, fillers=[
        "fc3=msra", "fc*.bias=constant", *(f"{name}=orthogonal" for name in names)])
    assert _digest(result.weights()) == _digest(want)


def _meta(path: Path) -> dict[str, object]:
    return dict(caffefill.load_weights(path).meta)


@pytest.mark.parametrize("name", ["w.npz", "w", "w.h5", "w.safetensors", "w.caffemodel"])
def test_every_format_holds_the_result_and_its_record(name: str, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    if name.endswith(".h5"):
        pytest.importorskip("h5py")
    reference = tmp_path / "ref.npz"
    out = tmp_path / name
    args = ["init", str(DEEP_TANH), "--seed", "5", "--lsuv", "--lsuv-tol", "0.05"]
    assert main([*args, "-o", str(reference)]) == 0
    assert main([*args, "-o", str(out), *(["--format", "npy"] if name == "w" else [])]) == 0
    back, want = caffefill.load_weights(out), caffefill.load_weights(reference)
    assert _digest(back) == _digest(want)
    record = back.meta["lsuv"]
    assert record["tol"] == 0.05 and record["max_iter"] == 10
    assert record["data"].startswith("unit Gaussian")
    assert all(abs(layer["variance"] - 1) < 0.05 for layer in record["layers"])


def test_the_caffemodel_is_what_caffe_loads(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    lsuv_out, plain_out = tmp_path / "lsuv.caffemodel", tmp_path / "plain.caffemodel"
    assert main(["init", str(CONV), "--seed", "2", "--lsuv", "-o", str(lsuv_out)]) == 0
    assert main(["init", str(CONV), "--seed", "2", "-o", str(plain_out)]) == 0
    nets = []
    for path in (lsuv_out, plain_out):
        net = pb.NetParameter()
        net.ParseFromString(path.read_bytes())
        nets.append(net)
    lsuv_net, plain = nets
    assert lsuv_net.name == plain.name
    assert [(layer.name, layer.type, [tuple(b.shape.dim) for b in layer.blobs])
            for layer in lsuv_net.layer] == \
        [(layer.name, layer.type, [tuple(b.shape.dim) for b in layer.blobs])
         for layer in plain.layer]
    for layer in lsuv_net.layer:
        for blob in layer.blobs:
            assert len(blob.data) == int(np.prod(blob.shape.dim))
    layers = {layer.name: layer for layer in lsuv_net.layer}
    assert layers["conv2"].convolution_param.weight_filler.type == "orthogonal"
    assert layers["up"].convolution_param.weight_filler.type == "bilinear"
    assert json.loads(lsuv_net.caffefill_meta)["lsuv"]["layers"][0]["layer"] == "conv1"


def test_the_caffemodel_has_the_layout_caffe_itself_writes(tmp_path: Path) -> None:
    """Caffe's CopyTrainedLayersFrom matches layers by name and needs the same
    blob shapes: the LSUV file has the layers, types and blob shapes of the
    file real Caffe wrote for this net (tests/data/nets/nd_conv.TRAIN.1701)."""
    pytest.importorskip("torch")
    out = tmp_path / "w.caffemodel"
    assert main(["init", str(NETS / "nd_conv.prototxt"), "--seed", "1701", "--lsuv",
                 "-o", str(out)]) == 0
    ours, caffes = pb.NetParameter(), pb.NetParameter()
    ours.ParseFromString(out.read_bytes())
    caffes.ParseFromString((NETS / "nd_conv.TRAIN.1701.caffemodel").read_bytes())

    def layout(net: pb.NetParameter) -> list[tuple[str, str, list[tuple[int, ...]]]]:
        return [(layer.name, layer.type, [tuple(b.shape.dim) for b in layer.blobs])
                for layer in net.layer]

    assert ours.name == caffes.name and layout(ours) == layout(caffes)
    assert any(layer.blobs for layer in ours.layer)


def test_a_forward_pass_that_fails_is_one_located_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    out = tmp_path / "w.npz"
    # Embed takes indices; unit-Gaussian inputs are not.
    assert main(["init", str(NETS / "mixed_layers.prototxt"), "--seed", "1", "--lsuv",
                 "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mixed_layers.prototxt:26:1: layer 'embed': LSUV's forward" \
        in err
    assert not out.exists()


def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    outs = [tmp_path / "a.caffemodel", tmp_path / "b.caffemodel", tmp_path / "c.caffemodel"]
    for out, seed in zip(outs, ("3", "3", "4"), strict=True):
        assert main(["init", str(CONV), "--seed", seed, "--lsuv", "-o", str(out)]) == 0
    assert outs[0].read_bytes() == outs[1].read_bytes() != outs[2].read_bytes()


def test_layers_outside_the_tolerance_are_reported(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    out = tmp_path / "w.npz"
    assert main(["init", str(DEEP_TANH), "--seed", "1", "--lsuv", "--lsuv-iter", "0",
                 "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: LSUV: layer 'fc10': output variance" in err
    assert "after 0 rescalings, not within 0.1 of 1" in err
    record = _meta(out)["lsuv"]
    assert isinstance(record, dict)
    assert not record["layers"][-1]["converged"] and record["layers"][-1]["iterations"] == 0


def test_init_says_what_lsuv_did(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    out = tmp_path / "w.npz"
    assert main(["init", str(DEEP_TANH), "--seed", "1", "--lsuv", "-o", str(out)]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "LSUV:" in line]
    layers = _meta(out)["lsuv"]["layers"]  # type: ignore[index]
    assert lines == [f"caffefill: LSUV: {len(layers)} of {len(layers)} layers at output "
                     f"variance 1 within 0.1 (largest miss "
                     f"{max(abs(la['variance'] - 1) for la in layers):.2g}, at most "
                     f"{max(la['iterations'] for la in layers)} rescalings each)"]


DATA_NET = """name: "WithData"
layer { name: "data" type: "Data" top: "data" top: "label"
  data_param { source: "train_lmdb" batch_size: 8 backend: LMDB }
  transform_param { crop_size: 20 } }
layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
  inner_product_param { num_output: 30 weight_filler { type: "xavier" }
                        bias_filler { type: "constant" value: 0.3 } } }
layer { name: "relu" type: "ReLU" bottom: "ip1" top: "ip1" }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
  inner_product_param { num_output: 10 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }
"""


@pytest.mark.parametrize("kind", ["npy", "npz"])
def test_data_from_a_file_on_a_net_with_a_data_layer(kind: str, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    net = tmp_path / "net.prototxt"
    net.write_text(DATA_NET)
    x = np.random.default_rng(3).standard_normal((8, 3, 20, 20)).astype(np.float32) * 40 + 100
    data = tmp_path / f"x.{kind}"
    if kind == "npy":
        np.save(data, x)
    else:
        np.savez(data, data=x, label=np.arange(8) % 10)
    out = tmp_path / "w.npz"
    # The Data layer's shape comes from the array; the label is fed zeros (.npy) or given.
    assert main(["init", str(net), "--seed", "8", "--lsuv", "--lsuv-tol", "0.05",
                 "--data", str(data), "-o", str(out)]) == 0
    weights = caffefill.load_weights(out)
    record = weights.meta["lsuv"]
    assert record["data"] == str(data) and len(record["data_sha256"]) == 64
    variances = measured_variances(net, "TRAIN", weights,
                                   {"data": x, "label": np.zeros(8, np.float32)})
    for layer in ("ip1", "ip2"):
        assert abs(variances[layer] - 1) < 0.05, (layer, variances[layer])


def test_without_data_a_data_layer_takes_a_unit_gaussian(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    net = tmp_path / "net.prototxt"
    net.write_text(DATA_NET)
    out = tmp_path / "w.npz"
    assert main(["init", str(net), "--seed", "8", "--lsuv", "--input", "data=3,32,32",
                 "-o", str(out)]) == 0
    record = caffefill.load_weights(out).meta["lsuv"]
    assert record["data"].startswith("unit Gaussian") and "data_sha256" not in record
    assert [layer["converged"] for layer in record["layers"]] == [True, True]


@pytest.mark.parametrize("option", [["--lsuv-tol", "0.2"], ["--lsuv-iter", "3"],
                                    ["--data", "x.npy"]])
def test_lsuv_options_need_lsuv(option: list[str], tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "w.npz"
    assert main(["init", str(DEEP_TANH), "--seed", "1", *option, "-o", str(out)]) == 2
    assert f"{option[0]} goes with --lsuv" in capsys.readouterr().err and not out.exists()


def test_without_torch_one_line_and_nothing_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name == "torch" or name.startswith(("torch.", "caffefill.torch")):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    out = tmp_path / "w.npz"
    assert main(["init", str(DEEP_TANH), "--seed", "1", "--lsuv", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "install the torch extra" in err
    assert not out.exists() and not list(tmp_path.iterdir())
