"""caffefill.forward and CaffeNet against real Caffe's forward passes
(tests/data/forward: 13 nets x 2 phases x 2 seeds, made by Caffe 1.0)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import DATA, SHARED, load_jsonl

torch = pytest.importorskip("torch")

from caffefill.torch import CaffeNet, forward  # noqa: E402

FORWARD = DATA / "forward"
CASES = load_jsonl(FORWARD / "forward.jsonl")
TOLERANCE = 1e-4  # relative, as the reference README gives for another engine's sums


def close(got: float, want: float, scale: float) -> bool:
    return abs(got - want) <= TOLERANCE * max(abs(want), scale) + 1e-30


def check_blob(name: str, value: np.ndarray, ref: dict[str, Any], folder: Path) -> None:
    assert value.dtype == np.float32, name
    assert list(value.shape) == ref["shape"], name
    flat = value.reshape(-1).astype(np.float64)
    scale = ref["abs_mean"]
    stats = {"mean": flat.mean(), "std": flat.std(), "min": flat.min(), "max": flat.max(),
             "abs_mean": np.abs(flat).mean()}
    for key, got in stats.items():
        assert close(got, ref[key], scale), (name, key, got, ref[key])
    assert abs(float((flat == 0).mean()) - ref["frac_zero"]) <= 1e-3, name
    sample = flat[ref["sample_index"]]
    want = np.asarray(ref["sample"])
    assert np.all(np.abs(sample - want) <= TOLERANCE * np.maximum(np.abs(want), scale)), name
    data_file = ref.get("data_file")
    for base in (folder, SHARED / "caffe-reference" / "forward"):
        if data_file and (base / data_file).exists():
            full = np.fromfile(base / data_file, dtype="<f4").astype(np.float64)
            err = np.abs(flat - full) - TOLERANCE * np.maximum(np.abs(full), scale)
            assert err.max() <= 0, (name, int(err.argmax()))
            break


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_forward_matches_caffe(case: dict[str, Any]) -> None:
    blobs = forward(FORWARD / "nets" / case["prototxt"], phase=case["phase"], seed=case["seed"])
    assert list(blobs) == [b["name"] for b in case["blobs"]]  # Caffe's blob order
    for ref in case["blobs"]:
        check_blob(ref["name"], blobs[ref["name"]], ref, FORWARD)


def test_module_layout_and_autograd() -> None:
    net = CaffeNet(FORWARD / "nets" / "bn_resnet_block.prototxt", phase="TRAIN", seed=1701)
    names = [name for name, _ in net.named_children()]
    assert names[:4] == ["data", "data_data_0_split", "conv1", "bn1"]
    assert set(net.state_dict()) >= {"conv1.weight", "bn1.mean", "bn1.variance",
                                     "bn1.moving_average_factor", "scale1.scale", "scale1.bias"}
    # statistics are buffers, the rest parameters
    assert "bn1.mean" not in dict(net.named_parameters())
    import caffefill

    params = caffefill.init_net(FORWARD / "nets" / "bn_resnet_block.prototxt", phase="TRAIN",
                                seed=1701)
    for layer, arrays in params.items():
        for got, want in zip(net.layer(layer).blobs(), arrays, strict=False):
            np.testing.assert_array_equal(got.detach().numpy(), want)
    x = torch.randn(4, 16, 12, 12, requires_grad=True)
    out = net(data=x)
    out["prob"][:, 0].sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert net.conv1.weight.grad is not None  # type: ignore[union-attr]
    # TRAIN BatchNorm keeps Caffe's moving averages in its blobs
    assert float(net.bn1.moving_average_factor[0]) == 1.0  # type: ignore[union-attr,index]
    doubled = net.double()
    assert doubled(data=x.double())["prob"].dtype == torch.float64


def test_in_place_blobs_hold_last_value_and_run_yields_each_layer() -> None:
    net = CaffeNet(FORWARD / "nets" / "bn_resnet_block.prototxt", phase="TEST", seed=3)
    blobs: dict[str, Any] = {}
    x = torch.randn(4, 16, 12, 12)
    steps = [(module.caffe_name, tops) for module, tops in net.run({"data": x}, blobs)]
    by_layer = dict(steps)
    # conv1 is written by conv1, bn1, scale1, relu1: the blob holds relu1's output
    assert torch.equal(blobs["conv1"], by_layer["relu1"][0])
    assert not torch.equal(by_layer["conv1"][0], by_layer["relu1"][0])
    assert float(by_layer["relu1"][0].detach().min()) >= 0


def test_refuses_layer_without_forward_before_drawing(tmp_path: Path) -> None:
    import caffefill

    net = tmp_path / "roi.prototxt"
    net.write_text('layer { name: "data" type: "Input" top: "data" top: "rois" input_param {'
                   ' shape { dim: 1 dim: 3 dim: 8 dim: 8 } shape { dim: 2 dim: 5 } } }\n'
                   'layer { name: "roi" type: "ROIPooling" bottom: "data" bottom: "rois" '
                   'top: "pooled" roi_pooling_param { pooled_h: 2 pooled_w: 2 } }\n')
    with pytest.raises(caffefill.NetError) as info:
        CaffeNet(net)
    assert info.value.layer == "roi"
    assert "ROIPooling" in str(info.value) and "\n" not in str(info.value)


def test_wrong_input_shape_is_refused() -> None:
    import caffefill

    net = CaffeNet(FORWARD / "nets" / "lenet.prototxt", seed=1)
    with pytest.raises(caffefill.NetError, match="shape"):
        net(data=torch.zeros(1, 1, 5, 5))
    with pytest.raises(caffefill.NetError, match="not an input"):
        net(data=torch.zeros(net.input_shapes["data"]), label=torch.zeros(1))


def test_forward_lives_in_the_registry_entry_and_user_types_bring_theirs(tmp_path: Path) -> None:
    from caffefill.net.registry import REGISTRY, LayerSetup, entry, register

    found = entry("Convolution")
    assert found is not None and found.forward is not None

    def make(layer: Any, env: Any) -> Any:
        gain = float(layer.param.scale_param.filler.value)
        return lambda bottoms, blobs: [bottoms[0] * gain]

    @register("TimesGain", forward=make)
    def times_gain(ctx: Any) -> LayerSetup:
        return LayerSetup(tops=[ctx.bottoms[0]])

    try:
        net = tmp_path / "gain.prototxt"
        net.write_text('layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 '
                       'dim: 3 } } }\nlayer { name: "g" type: "TimesGain" bottom: "x" top: "y" '
                       'scale_param { filler { value: 3 } } }\n')
        x = torch.randn(2, 3)
        assert torch.equal(CaffeNet(net)(x=x)["y"], x * 3)
    finally:
        REGISTRY.pop("TimesGain")


def test_which_blobs_are_buffers_comes_from_the_layer_traits() -> None:
    import dataclasses

    from caffefill.net.registry import REGISTRY, entry

    found = entry("BatchNorm")
    assert found is not None and found.traits.statistics
    path = FORWARD / "nets" / "bn_resnet_block.prototxt"
    REGISTRY["BatchNorm"] = dataclasses.replace(
        found, traits=dataclasses.replace(found.traits, statistics=False))
    try:
        learned = dict(CaffeNet(path, phase="TRAIN", seed=1701).named_parameters())
    finally:
        REGISTRY["BatchNorm"] = found
    assert "bn1.mean" in learned
    assert "bn1.mean" not in dict(CaffeNet(path, phase="TRAIN", seed=1701).named_parameters())
