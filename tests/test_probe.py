"""caffefill probe: its forward statistics against real Caffe's forward passes
(tests/data/forward), its verdicts on the deep stacks, its JSON, its figure,
and its errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import DATA, load_jsonl

torch = pytest.importorskip("torch")

from caffefill.cli import main  # noqa: E402
from caffefill.probe import ProbeResult, measure  # noqa: E402

FORWARD = DATA / "forward"
NETS = FORWARD / "nets"
CASES = [c for c in load_jsonl(FORWARD / "forward.jsonl") if c["seed"] == 1701]
TOLERANCE = 1e-4  # relative, the README's tolerance for another engine's sums


def close(got: float | None, want: float, scale: float) -> bool:
    return got is not None and abs(got - want) <= TOLERANCE * max(abs(want), scale) + 1e-30


def golden_stats(ref: dict[str, Any]) -> dict[str, float]:
    """Mean, std, min, max and zero share of a golden blob: from its raw values
    when they are in tests/data, else as the reference records them."""
    data_file = ref.get("data_file")
    if data_file and (FORWARD / data_file).exists():
        flat = np.fromfile(FORWARD / data_file, dtype="<f4").astype(np.float64)
        return {"mean": flat.mean(), "std": flat.std(), "min": flat.min(), "max": flat.max(),
                "zero": float((flat == 0).mean()), "abs_mean": np.abs(flat).mean()}
    return {"mean": ref["mean"], "std": ref["std"], "min": ref["min"], "max": ref["max"],
            "zero": ref["frac_zero"], "abs_mean": ref["abs_mean"]}


def last_writers(result: ProbeResult) -> dict[str, int]:
    """Top name -> index of the probed layer that wrote it last (the value Caffe's
    blob holds after Forward())."""
    return {p.top: i for i, p in enumerate(result.layers)}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_forward_statistics_are_caffes(case: dict[str, Any]) -> None:
    result = measure(NETS / case["prototxt"], phase=case["phase"], seed=case["seed"])
    assert result.phase == case["phase"] and result.seed == case["seed"]
    refs = {b["name"]: b for b in case["blobs"]}
    compared = 0
    for top, index in last_writers(result).items():
        probe = result.layers[index]
        want = golden_stats(refs[top])
        scale = want["abs_mean"]
        for key in ("mean", "std", "min", "max"):
            assert close(getattr(probe, key), want[key], scale), (probe.layer, key)
        assert probe.nonfinite == 0
        if probe.dead is not None:
            assert abs(probe.dead - want["zero"]) <= 1e-3, probe.layer
        compared += 1
    # every computed blob of the net was compared (data and Split tops aside)
    split_tops = {t for b in case["blobs"] for t in [b["name"]] if "_split_" in t}
    inputs = {b["name"] for b in case["blobs"][:1]}
    assert compared >= len(refs) - len(split_tops) - len(inputs) - 1


@pytest.mark.parametrize(("net", "verdict"), [
    ("deep_sigmoid_gauss1", "saturates"), ("deep_tanh_gauss001", "vanishes"),
    ("deep_relu_gauss001", "vanishes"), ("deep_relu_msra", "steady"),
    ("deep_tanh_xavier", "steady"), ("deep_sigmoid_xavier", "steady")])
@pytest.mark.parametrize("seed", [1701, 3])
def test_verdicts_on_the_deep_stacks(net: str, verdict: str, seed: int) -> None:
    result = measure(NETS / f"{net}.prototxt", seed=seed)
    assert result.verdict.name == verdict, result.verdict.reason


def test_in_place_layers_are_measured_right_after_they_ran() -> None:
    result = measure(NETS / "bn_resnet_block.prototxt", phase="TEST", seed=3)
    rows = {p.layer: p for p in result.layers}
    # conv1 is rewritten in place by bn1, scale1, relu1: each row is its own output
    assert [rows[n].top for n in ("conv1", "bn1", "scale1", "relu1")] == ["conv1"] * 4
    assert rows["conv1"].min is not None and rows["conv1"].min < 0
    assert rows["relu1"].min == 0 and rows["relu1"].dead is not None
    assert rows["relu1"].dead > 0.2 and rows["conv1"].dead is None
    assert rows["conv1"].std != rows["bn1"].std
    assert "data_data_0_split" not in rows and "data" not in rows  # no Split, no data layer


def test_saturated_and_dead_come_from_the_layer_traits(tmp_path: Path) -> None:
    from caffefill.net.registry import REGISTRY, LayerSetup, Traits, register

    @register("MyRectifier", traits=Traits("relu", signal="relu"),
              forward=lambda layer, env: lambda bottoms, blobs: [bottoms[0].clamp(min=0)])
    def my_rectifier(ctx: Any) -> LayerSetup:
        return LayerSetup(tops=[ctx.bottoms[0]])

    try:
        net = tmp_path / "mine.prototxt"
        net.write_text('layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 64 '
                       'dim: 100 } } }\nlayer { name: "r" type: "MyRectifier" bottom: "x" '
                       'top: "y" }\nlayer { name: "t" type: "TanH" bottom: "y" top: "z" }\n'
                       'layer { name: "p" type: "Power" bottom: "z" top: "w" '
                       'power_param { scale: 100 } }\nlayer { name: "s" type: "Sigmoid" '
                       'bottom: "w" top: "v" }\n')
        rows = {p.layer: p for p in measure(net, seed=5).layers}
    finally:
        REGISTRY.pop("MyRectifier")
    x = rows["r"]
    assert x.dead is not None and 0.4 < x.dead < 0.6 and x.saturated is None
    assert rows["t"].dead is None and rows["t"].saturated is not None
    assert rows["t"].saturated < 0.2  # tanh of a half-normal: few within 0.01 of 1
    assert rows["p"].dead is None and rows["p"].saturated is None
    # sigmoid(100 tanh(relu(x))): 0.5 where x <= 0, within 0.01 of 1 for most x > 0
    assert rows["s"].saturated is not None and 0.4 < rows["s"].saturated < 0.55


def test_gradient_is_the_fixed_gaussian_through_the_last_layer() -> None:
    result = measure(NETS / "deep_relu_msra.prototxt", seed=1701)
    assert result.loss == "gaussian"
    from caffefill.torch import CaffeNet
    from caffefill.torch.run import fill_inputs

    net = CaffeNet(NETS / "deep_relu_msra.prototxt", phase="TRAIN", seed=1701)
    with torch.no_grad():
        blobs = net(fill_inputs(net))
    gaussian = np.random.default_rng(1701).standard_normal((64, 256), dtype=np.float32)
    # act10 (ReLU) passes the Gaussian back where its input was positive
    want = (gaussian * (blobs["fc10"].numpy() > 0)).astype(np.float64).std()
    last = result.layers[-1]
    assert last.layer == "act10" and last.grad_std is not None
    assert abs(last.grad_std - want) <= 1e-6 * want
    first = result.layers[0]
    assert first.grad_std is not None and first.gradients is not None
    assert first.ratio is not None and first.std is not None
    assert abs(first.ratio - first.std) < 0.05 * first.std  # over its unit Gaussian input


def test_the_nets_own_loss_drives_the_backward_pass(tmp_path: Path) -> None:
    net = tmp_path / "loss.prototxt"
    net.write_text(
        'layer { name: "in" type: "Input" top: "data" top: "label" input_param { shape { '
        'dim: 16 dim: 20 } shape { dim: 16 } } }\n'
        'layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param '
        '{ num_output: 5 weight_filler { type: "xavier" } } }\n'
        'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" '
        'top: "loss" }\n')
    result = measure(net, seed=2)
    assert result.loss == "net"
    rows = {p.layer: p for p in result.layers}
    assert rows["ip"].grad_std is not None and rows["ip"].grad_std > 0
    assert not rows["loss"].signal and rows["loss"].nonfinite == 0
    assert result.verdict.name == "steady"


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["probe", str(NETS / "deep_tanh_xavier.prototxt"), "--seed", "7",
                            "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["verdict"] == "steady" and doc["seed"] == 7 and doc["phase"] == "TRAIN"
    assert doc["net"] == "DeepTanhXavier" and doc["loss"] == "gaussian"
    assert len(doc["layers"]) == 20
    for row in doc["layers"]:
        assert {"layer", "top", "mean", "std", "min", "max", "dead", "saturated", "nonfinite",
                "grad_std", "ratio"} <= set(row)
        for key in ("dead", "saturated", "nonfinite"):
            assert row[key] is None or 0 <= row[key] <= 1
    assert doc["layers"][0]["layer"] == "fc1" and doc["layers"][1]["saturated"] is not None
    assert doc["layers"][1]["dead"] is None


def test_text_report_and_flags(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["probe", str(NETS / "deep_sigmoid_gauss1.prototxt"), "--seed",
                              "1701", "--threshold", "20"], capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[-1].startswith("verdict: saturates")
    assert sum("grows" in line or "shrinks" in line for line in lines) == 1  # act1, 1/22
    code, out, _ = run_cli(["probe", str(NETS / "deep_sigmoid_gauss1.prototxt"), "--seed",
                            "1701"], capsys)
    assert sum("grows" in line or "shrinks" in line for line in out.splitlines()) == 10


def deep_prototxt(path: Path, depth: int) -> Path:
    lines = ['layer { name: "data" type: "Input" top: "h0" input_param { shape { dim: 8 '
             'dim: 32 } } }']
    for i in range(1, depth + 1):
        lines.append(f'layer {{ name: "fc{i}" type: "InnerProduct" bottom: "h{i - 1}" '
                     f'top: "h{i}" inner_product_param {{ num_output: 32 weight_filler '
                     f'{{ type: "msra" }} }} }}')
        lines.append(f'layer {{ name: "relu{i}" type: "ReLU" bottom: "h{i}" top: "h{i}" }}')
    path.write_text("\n".join(lines) + "\n")
    return path


def test_plot_of_a_deep_net(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.image

    from caffefill.probe.plot import MAX_PANELS, figure, pick, write_plot

    net = deep_prototxt(tmp_path / "deep.prototxt", 75)  # 150 layers
    result = measure(net, seed=1)
    assert len(result.layers) == 150
    chosen = pick(result.layers, MAX_PANELS)
    assert len(chosen) == MAX_PANELS and chosen[0] == 0 and chosen[-1] == 149
    assert all(result.layers[i].type == "ReLU" for i in chosen[1:])  # activations
    fig = figure([result])
    hist = [ax for ax in fig.axes if ax.get_ylabel() != "std" and ax.get_ylabel()
            != "dead / saturated share"]
    assert len(hist) == 2 * MAX_PANELS  # outputs and gradients per chosen layer
    depth = next(ax for ax in fig.axes if ax.get_ylabel() == "std")
    assert len(depth.get_lines()[0].get_xdata()) == 150  # the std line shows every layer
    out = tmp_path / "deep.png"
    write_plot([result], str(out), "png")
    image = matplotlib.image.imread(out)
    width, height = fig.get_size_inches() * fig.dpi
    assert image.shape[:2] == (round(height), round(width))
    assert image.shape[1] >= 1200 and image.std() > 0.05  # drawn, not blank


def test_plot_svg_and_small_net(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "p.svg"
    code, _, _ = run_cli(["probe", str(NETS / "deep_sigmoid_gauss1.prototxt"), "--seed", "1",
                          "--plot", str(out)], capsys)
    assert code == 0 and "<svg" in out.read_text()[:2000]
    from caffefill.probe.plot import figure

    fig = figure([measure(NETS / "deep_sigmoid_gauss1.prototxt", seed=1)])
    assert len(fig.axes) == 2 * 10 + 2  # every layer, outputs and gradients; std + twin


def one_error_line(code: int, err: str) -> str:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_bad_data_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "x.npy"
    np.save(data, np.zeros((3, 100), np.float32))
    code, out, err = run_cli(["probe", str(NETS / "deep_sigmoid_gauss1.prototxt"), "--data",
                              str(data)], capsys)
    line = one_error_line(code, err)
    assert str(data) in line and "[3, 100]" in line and "[64, 100]" in line and out == ""
    npz = tmp_path / "x.npz"
    np.savez(npz, nope=np.zeros((64, 100), np.float32))
    line = one_error_line(*run_cli(["probe", str(NETS / "deep_sigmoid_gauss1.prototxt"),
                                    "--data", str(npz)], capsys)[::2])
    assert "'nope'" in line and "data" in line


def test_data_is_used(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "x.npz"
    np.savez(data, data=np.full((64, 100), 2.0, np.float32))
    result = measure(NETS / "deep_sigmoid_gauss1.prototxt", seed=1, data=data)
    # constant rows: every unit of fc1 sees the same input, so each column is constant
    assert result.layers[0].std is not None and result.layers[0].std > 0
    x = np.full((64, 100), 2.0, np.float32)
    import caffefill

    weights = caffefill.init_net(NETS / "deep_sigmoid_gauss1.prototxt", seed=1)
    want = (x @ weights["fc1"][0].T + weights["fc1"][1]).astype(np.float64)
    assert abs(result.layers[0].mean - want.mean()) <= 1e-4 * abs(want).mean()


def test_data_gives_a_data_layer_its_shape(tmp_path: Path) -> None:
    net = tmp_path / "data.prototxt"
    net.write_text('layer { name: "d" type: "Data" top: "data" top: "label" data_param { '
                   'source: "x" batch_size: 4 backend: LMDB } }\n'
                   'layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" '
                   'inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }\n'
                   'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" '
                   'top: "loss" }\n')
    data = tmp_path / "x.npy"
    np.save(data, np.ones((4, 2, 5, 5), np.float32))
    result = measure(net, seed=1, data=data)
    assert result.loss == "net" and result.layers[0].layer == "ip"
    assert result.layers[0].grad_std is not None


def test_missing_torch_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    line = one_error_line(*run_cli(["probe", str(NETS / "lenet.prototxt")], capsys)[::2])
    assert "caffefill[torch]" in line


def test_missing_matplotlib_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "p.png"
    line = one_error_line(*run_cli(["probe", str(NETS / "lenet.prototxt"), "--plot",
                                    str(out)], capsys)[::2])
    assert "caffefill[plot]" in line and not out.exists()


def test_plot_never_replaces_without_force(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "p.png"
    out.write_bytes(b"mine")
    net = str(NETS / "deep_sigmoid_gauss1.prototxt")
    line = one_error_line(*run_cli(["probe", net, "--plot", str(out)], capsys)[::2])
    assert "--force" in line and out.read_bytes() == b"mine"
    line = one_error_line(*run_cli(["probe", net, "--plot", str(tmp_path / "p.jpg")],
                                   capsys)[::2])
    assert ".png" in line
    assert run_cli(["probe", net, "--seed", "1", "--plot", str(out), "--force"], capsys)[0] == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png"]  # no temporary left


def test_filler_overrides_and_compare(capsys: pytest.CaptureFixture[str]) -> None:
    net = str(NETS / "deep_tanh_gauss001.prototxt")
    code, out, _ = run_cli(["probe", net, "--seed", "1701", "--filler", "fc*=xavier",
                            "--json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["verdict"] == "steady"  # the override replaced std 0.01
    assert doc["fillers"][0]["layers"] == [f"fc{i}" for i in range(1, 11)]
    code, out, _ = run_cli(["probe", net, "--seed", "1701", "--compare",
                            'type: "gaussian" std: 0.01', 'type: "gaussian" std: 1', "xavier",
                            "--json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["seed"] == 1701
    assert [(v["filler"], v["verdict"]) for v in doc["variants"]] == [
        ('type: "gaussian" std: 0.01', "vanishes"), ('type: "gaussian" std: 1', "saturates"),
        ("xavier", "steady")]
    # the first variant is the prototxt's own filler: the same numbers as no override
    plain = measure(net, seed=1701)
    assert [r["std"] for r in doc["variants"][0]["layers"]] == [p.std for p in plain.layers]
    code, out, _ = run_cli(["probe", net, "--seed", "1701", "--compare", "xavier", "msra"],
                           capsys)
    assert code == 0 and out.splitlines()[-2:] == ["xavier: steady", "msra: steady"]


def test_compare_refuses_a_bad_filler_before_running(capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    line = one_error_line(*run_cli(["probe", str(NETS / "deep_tanh_gauss001.prototxt"),
                                    "--compare", "xavier", "type: \"nosuch\""], capsys)[::2])
    assert "nosuch" in line
    line = one_error_line(*run_cli(["probe", str(NETS / "deep_tanh_gauss001.prototxt"),
                                    "--compare", "conv*=xavier"], capsys)[::2])
    assert "conv*" in line


def test_plot_of_a_comparison(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from caffefill.probe.plot import COLUMNS, figure, variant_name

    net = NETS / "deep_tanh_gauss001.prototxt"
    runs = [measure(net, seed=1, fillers=[spec], label=spec)
            for spec in ('type: "gaussian" std: 0.01', "xavier")]
    fig = figure(runs)
    assert len(fig.axes) == 2 * 2 * COLUMNS + 2  # outputs and gradients per run; std + twin
    depth = next(ax for ax in fig.axes if ax.get_ylabel() == "std")
    solid = [line for line in depth.get_lines() if line.get_linestyle() == "-"]
    assert len(solid) == 2  # one std line per run
    assert variant_name('type: "gaussian" std: 0.01') == "gaussian std 0.01"
    assert "gaussian std 0.01: vanishes; xavier: steady" in fig._suptitle.get_text()


def test_depth_is_measured_from_the_nets_input() -> None:
    net = DATA / "nets" / "tiny_first_layer_bn.prototxt"  # steady, see its comment
    result = measure(net, seed=4)
    first = result.layers[0]
    assert first.input_std is not None and abs(first.input_std - 1) < 0.05
    assert first.std is not None and first.std < 1e-2
    verdict = result.verdict
    assert verdict.name == "steady", verdict.reason
    assert verdict.depth_ratio is not None and 0.2 < verdict.depth_ratio < 3
    assert "'fc1' input std" in verdict.reason


def stack(path: Path, *fillers: str) -> Path:
    """Input 64x100, then per filler an InnerProduct (no filler: Caffe's constant 0)
    and a ReLU in place."""
    lines = ['layer { name: "in" type: "Input" top: "fc0" input_param { shape { dim: 64 '
             'dim: 100 } } }']
    for i, filler in enumerate(fillers, 1):
        given = f"weight_filler {{ {filler} }} " if filler else ""
        lines.append(f'layer {{ name: "fc{i}" type: "InnerProduct" bottom: "fc{i - 1}" '
                     f'top: "fc{i}" inner_product_param {{ num_output: 100 {given}}} }}')
        lines.append(f'layer {{ name: "relu{i}" type: "ReLU" bottom: "fc{i}" top: "fc{i}" }}')
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_last_layer_started_at_zero_is_not_vanishing(tmp_path: Path) -> None:
    msra = 'type: "msra"'
    result = measure(stack(tmp_path / "z.prototxt", msra, msra, msra, msra, ""), seed=1)
    assert result.layers[-1].std == 0 and result.layers[-1].grad_std is not None
    assert result.verdict.name == "steady", result.verdict.reason


def test_a_blow_up_inside_the_net_explodes(tmp_path: Path) -> None:
    result = measure(stack(tmp_path / "b.prototxt", 'type: "gaussian" std: 30', ""), seed=1)
    verdict = result.verdict
    assert verdict.name == "explodes" and "'fc1' output std" in verdict.reason
