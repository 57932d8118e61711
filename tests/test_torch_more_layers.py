"""Forwards of the remaining BVLC and fork layers (losses, SPP, Filter, PriorBox,
the BN of SegNet and PSPNet), each against its layer's Forward_cpu written out
in numpy from the Caffe sources named; and DummyData in a ``.double()`` net."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from caffefill._proto import caffefill_pb2 as pb  # noqa: E402
from caffefill.torch import CaffeNet  # noqa: E402


def net_file(tmp_path: Path, inputs: list[tuple[str, tuple[int, ...]]], body: str) -> Path:
    tops = " ".join(f'top: "{name}"' for name, _ in inputs)
    shapes = " ".join("shape { " + " ".join(f"dim: {d}" for d in shape) + " }"
                      for _, shape in inputs)
    path = tmp_path / "net.prototxt"
    path.write_text(f'layer {{ name: "in" type: "Input" {tops} input_param {{ {shapes} }} }}\n'
                    + body)
    return path


def test_contrastive_loss(tmp_path: Path) -> None:
    """contrastive_loss_layer.cpp (BVLC 1.0)."""
    a, b = np.random.randn(6, 5).astype(np.float32), np.random.randn(6, 5).astype(np.float32)
    sim = np.array([1, 0, 1, 0, 0, 1], dtype=np.float32)
    for legacy in (False, True):
        path = net_file(tmp_path, [("a", (6, 5)), ("b", (6, 5)), ("s", (6,))],
                        'layer { name: "l" type: "ContrastiveLoss" bottom: "a" bottom: "b" '
                        f'bottom: "s" top: "loss" contrastive_loss_param {{ margin: 2.5 '
                        f'legacy_version: {str(legacy).lower()} }} }}\n')
        got = float(CaffeNet(path)(a=a, b=b, s=sim)["loss"])
        loss = 0.0
        for i in range(6):
            d2 = float(np.dot(a[i] - b[i], a[i] - b[i]))
            if int(sim[i]):
                loss += d2
            elif legacy:
                loss += max(2.5 - d2, 0.0)
            else:
                loss += max(2.5 - math.sqrt(d2), 0.0) ** 2
        assert got == pytest.approx(loss / 6 / 2, rel=1e-5)


def _smooth_l1(d: np.ndarray, sigma2: float) -> np.ndarray:
    small = np.abs(d) < 1.0 / sigma2
    out: np.ndarray = np.where(small, 0.5 * d * d * sigma2, np.abs(d) - 0.5 / sigma2)
    return out


@pytest.mark.parametrize("bottoms", [2, 3, 4])
def test_smooth_l1_loss(tmp_path: Path, bottoms: int) -> None:
    """smooth_L1_loss_layer.cu of Faster R-CNN (sigma, inside and outside
    weights) and the CPU forward of SSD / Fast R-CNN (sigma 1, one weight)."""
    shape = (3, 8, 2, 2)
    values = [np.random.randn(*shape).astype(np.float32) * 2 for _ in range(bottoms)]
    names = ["p", "t", "wi", "wo"][:bottoms]
    sigma = "smooth_l1_loss_param { sigma: 3 }" if bottoms == 4 else ""
    path = net_file(tmp_path, [(n, shape) for n in names],
                    'layer { name: "l" type: "SmoothL1Loss" '
                    + " ".join(f'bottom: "{n}"' for n in names) + f' top: "loss" {sigma} }}\n')
    got = float(CaffeNet(path)(**dict(zip(names, values, strict=True)))["loss"])
    d = values[0].astype(np.float64) - values[1]
    if bottoms > 2:
        d = values[2] * d
    errors = _smooth_l1(d, 9.0 if bottoms == 4 else 1.0)
    if bottoms > 3:
        errors = values[3] * errors
    assert got == pytest.approx(errors.sum() / 3, rel=1e-5)


def _infogain_reference(x: np.ndarray, label: np.ndarray, h: np.ndarray,
                        ignore: int | None, mode: str) -> float:
    """infogain_loss_layer.cpp (BVLC 1.0), softmax over axis 1 of (N, C, S)."""
    e = np.exp(x - x.max(axis=1, keepdims=True))
    prob = e / e.sum(axis=1, keepdims=True)
    n, c, s = x.shape
    loss, count = 0.0, 0
    for i in range(n):
        for j in range(s):
            lab = int(label[i, j])
            if ignore is not None and lab == ignore:
                continue
            for ell in range(c):
                loss -= h[lab, ell] * math.log(max(prob[i, ell, j], 1e-20))
            count += 1
    norm = {"VALID": count, "FULL": n * s, "BATCH_SIZE": n, "NONE": 1}[mode]
    return float(loss / max(1.0, norm))


@pytest.mark.parametrize(("ignore", "mode"), [(None, "VALID"), (2, "VALID"), (2, "FULL"),
                                              (None, "BATCH_SIZE")])
def test_infogain_loss_with_h_as_bottom(tmp_path: Path, ignore: int | None, mode: str) -> None:
    x = np.random.randn(2, 4, 3).astype(np.float32)
    label = np.array([[0, 2, 3], [1, 2, 0]], dtype=np.float32)
    h = np.random.rand(4, 4).astype(np.float32)
    loss_param = f"normalization: {mode}" + ("" if ignore is None else f" ignore_label: {ignore}")
    path = net_file(tmp_path, [("x", (2, 4, 3)), ("label", (2, 3)), ("h", (1, 1, 4, 4))],
                    'layer { name: "l" type: "InfogainLoss" bottom: "x" bottom: "label" '
                    f'bottom: "h" top: "loss" top: "prob" loss_param {{ {loss_param} }} }}\n')
    blobs = CaffeNet(path)(x=x, label=label, h=h.reshape(1, 1, 4, 4))
    assert float(blobs["loss"]) == pytest.approx(
        _infogain_reference(x.astype(np.float64), label, h, ignore, mode), rel=1e-5)
    assert blobs["prob"].shape == (2, 4, 3)


def test_infogain_loss_reads_h_from_its_source(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    h = np.random.rand(3, 3).astype(np.float32)
    proto = pb.BlobProto(data=h.reshape(-1).tolist())
    proto.shape.dim.extend([1, 1, 3, 3])
    (tmp_path / "H.binaryproto").write_bytes(proto.SerializeToString())
    monkeypatch.chdir(tmp_path)  # Caffe opens the source from the working directory
    x = np.random.randn(4, 3).astype(np.float32)
    label = np.array([0, 2, 1, 2], dtype=np.float32)
    path = net_file(tmp_path, [("x", (4, 3)), ("label", (4,))],
                    'layer { name: "l" type: "InfogainLoss" bottom: "x" bottom: "label" '
                    'top: "loss" infogain_loss_param { source: "H.binaryproto" } }\n')
    got = float(CaffeNet(path)(x=x, label=label)["loss"])
    assert got == pytest.approx(_infogain_reference(x.astype(np.float64)[:, :, None],
                                                    label[:, None], h, None, "VALID"),
                                rel=1e-5)


def _caffe_pool(x: np.ndarray, kernel: tuple[int, int], pad: tuple[int, int],
                maximum: bool) -> np.ndarray:
    """PoolingLayer::Forward_cpu (BVLC 1.0) with stride = kernel, as SPP sets it."""
    n, c, h, w = x.shape
    (kh, kw), (ph, pw) = kernel, pad
    out = []
    for size, k, p in ((h, kh, ph), (w, kw, pw)):
        o = math.ceil((size + 2 * p - k) / k) + 1
        if p and (o - 1) * k >= size + p:
            o -= 1
        out.append(o)
    top = np.zeros((n, c, *out))
    for i in range(out[0]):
        for j in range(out[1]):
            hs, ws = i * kh - ph, j * kw - pw
            he, we = min(hs + kh, h + ph), min(ws + kw, w + pw)
            area = (he - hs) * (we - ws)
            window = x[:, :, max(hs, 0):min(he, h), max(ws, 0):min(we, w)]
            top[:, :, i, j] = window.max(axis=(2, 3)) if maximum else \
                window.sum(axis=(2, 3)) / area
    return top


@pytest.mark.parametrize("pool", ["MAX", "AVE"])
@pytest.mark.parametrize(("height", "hw"), [(3, (7, 10)), (1, (5, 5)), (4, (16, 15))])
def test_spp(tmp_path: Path, pool: str, height: int, hw: tuple[int, int]) -> None:
    """spp_layer.cpp (BVLC 1.0): GetPoolingParam per level, flatten, concat."""
    shape = (2, 3, *hw)
    x = np.random.randn(*shape).astype(np.float32)
    path = net_file(tmp_path, [("x", shape)],
                    'layer { name: "spp" type: "SPP" bottom: "x" top: "y" '
                    f'spp_param {{ pyramid_height: {height} pool: {pool} }} }}\n')
    got = CaffeNet(path)(x=x)["y"].detach().numpy()
    levels = []
    for level in range(height):
        bins = 2**level
        kh, kw = math.ceil(hw[0] / bins), math.ceil(hw[1] / bins)
        pad = ((kh * bins - hw[0] + 1) // 2, (kw * bins - hw[1] + 1) // 2)
        levels.append(_caffe_pool(x.astype(np.float64), (kh, kw), pad, pool == "MAX"))
    want = levels[0] if height == 1 else np.concatenate([t.reshape(2, -1) for t in levels], 1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_filter(tmp_path: Path) -> None:
    """filter_layer.cpp (BVLC 1.0): items whose selector is not zero."""
    a = np.random.randn(5, 2, 3).astype(np.float32)
    b = np.random.randn(5, 4).astype(np.float32)
    selector = np.array([0, 1, 0, 2.5, 1], dtype=np.float32)
    path = net_file(tmp_path, [("a", (5, 2, 3)), ("b", (5, 4)), ("s", (5, 1))],
                    'layer { name: "f" type: "Filter" bottom: "a" bottom: "b" bottom: "s" '
                    'top: "fa" top: "fb" }\n')
    blobs = CaffeNet(path)(a=a, b=b, s=selector.reshape(5, 1))
    np.testing.assert_array_equal(blobs["fa"].detach().numpy(), a[[1, 3, 4]])
    np.testing.assert_array_equal(blobs["fb"].detach().numpy(), b[[1, 3, 4]])


def _prior_box_reference(layer_hw: tuple[int, int], img_hw: tuple[int, int],
                         min_sizes: list[float], max_sizes: list[float],
                         ratios: list[float], flip: bool, clip: bool, offset: float,
                         step: float | None, variance: list[float]) -> np.ndarray:
    """prior_box_layer.cpp (weiliu89/caffe, branch ssd), loop by loop."""
    f32 = np.float32
    all_ratios: list[np.float32] = [f32(1.0)]
    for ar in ratios:
        if any(abs(float(f32(ar)) - float(r)) < 1e-6 for r in all_ratios):
            continue
        all_ratios.append(f32(ar))
        if flip:
            all_ratios.append(f32(1.0 / float(f32(ar))))
    layer_h, layer_w = layer_hw
    img_h, img_w = img_hw
    step_w = f32(step) if step else f32(f32(img_w) / f32(layer_w))
    step_h = f32(step) if step else f32(f32(img_h) / f32(layer_h))
    out: list[float] = []
    for h in range(layer_h):
        for w in range(layer_w):
            cx = float(f32(f32(w + f32(offset)) * step_w))
            cy = float(f32(f32(h + f32(offset)) * step_h))
            for s, min_size in enumerate(min_sizes):
                m = int(min_size)
                boxes = [(float(m), float(m))]
                if max_sizes:
                    side = float(f32(math.sqrt(m * int(max_sizes[s]))))
                    boxes.append((side, side))
                for r in all_ratios:
                    if abs(float(r) - 1.0) < 1e-6:
                        continue
                    boxes.append((float(f32(m * math.sqrt(float(r)))),
                                  float(f32(m / math.sqrt(float(r))))))
                for bw, bh in boxes:
                    out += [(cx - bw / 2.0) / img_w, (cy - bh / 2.0) / img_h,
                            (cx + bw / 2.0) / img_w, (cy + bh / 2.0) / img_h]
    boxes_arr = np.asarray(out, dtype=f32)
    if clip:
        boxes_arr = np.minimum(np.maximum(boxes_arr, 0), 1)
    var = variance or [0.1]
    variances = np.asarray([var[i % len(var)] for i in range(boxes_arr.size)], dtype=f32)
    return np.stack([boxes_arr, variances]).reshape(1, 2, -1)


@pytest.mark.parametrize("case", [
    dict(min_sizes=[30.0], max_sizes=[60.0], ratios=[2.0], flip=True, clip=False,
         offset=0.5, step=None, variance=[0.1, 0.1, 0.2, 0.2]),
    dict(min_sizes=[21.5, 45.0], max_sizes=[45.0, 99.0], ratios=[2.0, 3.0, 2.0],
         flip=True, clip=True, offset=0.5, step=8.0, variance=[0.2]),
    dict(min_sizes=[10.0], max_sizes=[], ratios=[0.5], flip=False, clip=False,
         offset=0.25, step=None, variance=[]),
])
def test_prior_box(tmp_path: Path, case: dict[str, object]) -> None:
    def floats(name: str, values: object) -> str:
        assert isinstance(values, list)
        return " ".join(f"{name}: {v}" for v in values)

    param = " ".join([floats("min_size", case["min_sizes"]),
                      floats("max_size", case["max_sizes"]),
                      floats("aspect_ratio", case["ratios"]),
                      floats("variance", case["variance"]),
                      f"flip: {str(case['flip']).lower()} clip: {str(case['clip']).lower()}",
                      f"offset: {case['offset']}",
                      f"step: {case['step']}" if case["step"] else ""])
    path = net_file(tmp_path, [("feat", (1, 4, 5, 6)), ("data", (1, 3, 40, 44))],
                    'layer { name: "pb" type: "PriorBox" bottom: "feat" bottom: "data" '
                    f'top: "priors" prior_box_param {{ {param} }} }}\n')
    got = CaffeNet(path)(feat=np.zeros((1, 4, 5, 6)), data=np.zeros((1, 3, 40, 44)))["priors"]
    want = _prior_box_reference((5, 6), (40, 44), **case)  # type: ignore[arg-type]
    assert tuple(got.shape) == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-7)


def test_segnet_bn(tmp_path: Path) -> None:
    """bn_layer.cpp (alexgkendall/caffe-segnet): LEARN normalizes by the batch's
    E[x] and E[x^2] - E[x]^2 (+1e-9) and gives them as tops 1 and 2;
    INFERENCE only scales and shifts."""
    x = np.random.randn(2, 3, 4, 5).astype(np.float32) * 3 + 1
    fillers = ('scale_filler { type: "uniform" min: 1 max: 2 } '
               'shift_filler { type: "constant" value: 0.5 }')
    for mode in ("LEARN", "INFERENCE"):
        path = net_file(tmp_path, [("x", x.shape)],
                        'layer { name: "bn" type: "BN" bottom: "x" top: "y" top: "m" top: "v" '
                        f'bn_param {{ bn_mode: {mode} {fillers} }} }}\n')
        net = CaffeNet(path, seed=3)
        scale = net.layer("bn").get_parameter("scale").detach().numpy().astype(np.float64)
        blobs = net(x=x)
        xd = x.astype(np.float64)
        if mode == "INFERENCE":
            want = xd * scale + 0.5
        else:
            mean = xd.mean(axis=(0, 2, 3), keepdims=True)
            var = (xd * xd).mean(axis=(0, 2, 3), keepdims=True) - mean * mean
            want = (xd - mean) / np.sqrt(var + 1e-9) * scale + 0.5
            np.testing.assert_allclose(blobs["m"].detach().numpy(), mean, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(blobs["v"].detach().numpy(), var, rtol=1e-4)
        np.testing.assert_allclose(blobs["y"].detach().numpy(), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("phase", "frozen"), [("TRAIN", False), ("TEST", False),
                                               ("TRAIN", True)])
def test_pspnet_bn(tmp_path: Path, phase: str, frozen: bool) -> None:
    """bn_layer.cpp (hszhao/PSPNet): the stored mean and variance when frozen or
    in TEST (right after init: 0, and 0 or 1), else the batch's (biased)."""
    x = np.random.randn(2, 3, 4, 5).astype(np.float32) * 2 - 1
    path = net_file(tmp_path, [("x", x.shape)],
                    'layer { name: "bn" type: "BN" bottom: "x" top: "y" bn_param { '
                    'slope_filler { type: "constant" value: 1.5 } bias_filler { type: '
                    f'"constant" value: -0.25 }} eps: 1e-4 frozen: {str(frozen).lower()} }} }}\n')
    got = CaffeNet(path, phase=phase)(x=x)["y"].detach().numpy()
    xd = x.astype(np.float64)
    if phase == "TRAIN" and not frozen:
        mean = xd.mean(axis=(0, 2, 3), keepdims=True)
        var = ((xd - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True)
    else:
        mean, var = np.zeros((1, 3, 1, 1)), np.full((1, 3, 1, 1), 1.0 if frozen else 0.0)
    want = (xd - mean) / np.sqrt(var + np.float32(1e-4)) * 1.5 - 0.25
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_dummy_data_follows_the_modules_dtype(tmp_path: Path) -> None:
    path = tmp_path / "net.prototxt"
    path.write_text('layer { name: "d" type: "DummyData" top: "x" dummy_data_param { '
                    'shape { dim: 2 dim: 3 } data_filler { type: "gaussian" } } }\n'
                    'layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y" '
                    'inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }\n')
    single = CaffeNet(path, seed=5)(())
    double = CaffeNet(path, seed=5).double()(())
    assert double["x"].dtype == torch.float64 and double["y"].dtype == torch.float64
    # The same draws, as doubles.
    np.testing.assert_array_equal(double["x"].detach().numpy(), single["x"].detach().numpy())
    assert "_dtype_probe" not in CaffeNet(path, seed=5).state_dict()


def test_a_registered_data_layer_without_a_forward_is_an_input(tmp_path: Path) -> None:
    """Which layers are the net's inputs comes from their registry entries."""
    from caffefill.net.registry import REGISTRY, LayerContext, LayerSetup, Traits, register

    @register("MyRecordData", traits=Traits("labelled_source"))
    def my_record_data(ctx: LayerContext) -> LayerSetup:
        return LayerSetup(tops=[(2, 3), (2,)])

    try:
        path = tmp_path / "net.prototxt"
        path.write_text('layer { name: "d" type: "MyRecordData" top: "x" top: "label" }\n'
                        'layer { name: "s" type: "Softmax" bottom: "x" top: "p" }\n')
        net = CaffeNet(path)
        assert net.input_names == ("x", "label")
        x = np.random.randn(2, 3).astype(np.float32)
        out = net(x=x, label=np.zeros(2))["p"].detach().numpy()
        e = np.exp(x - x.max(axis=1, keepdims=True))
        np.testing.assert_allclose(out, e / e.sum(axis=1, keepdims=True), rtol=1e-6)
    finally:
        del REGISTRY["MyRecordData"]
