"""Layer forwards that the reference passes do not reach, against Caffe's loops
written out in numpy (pooling windows past PyTorch's limits, losses, Accuracy)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from caffefill.torch import CaffeNet  # noqa: E402


def net_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "net.prototxt"
    path.write_text(text)
    return path


def caffe_pool(x: np.ndarray, k: int, s: int, p: int, maximum: bool) -> np.ndarray:
    """PoolingLayer::Forward_cpu for a square window."""
    n, c, h, w = x.shape
    out = [math.ceil((size + 2 * p - k) / s) + 1 for size in (h, w)]
    for i, size in enumerate((h, w)):
        if p and (out[i] - 1) * s >= size + p:
            out[i] -= 1
    top = np.zeros((n, c, *out), dtype=np.float64)
    for ph in range(out[0]):
        for pw in range(out[1]):
            hs, ws = ph * s - p, pw * s - p
            he, we = min(hs + k, h + p), min(ws + k, w + p)
            size = (he - hs) * (we - ws)
            hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, h), min(we, w)
            window = x[:, :, hs:he, ws:we]
            top[:, :, ph, pw] = window.max(axis=(2, 3)) if maximum else \
                window.sum(axis=(2, 3)) / size
    return top


@pytest.mark.parametrize("pool", ["MAX", "AVE"])
@pytest.mark.parametrize(("k", "s", "p", "hw"), [(3, 2, 2, 7), (2, 3, 1, 8), (5, 2, 3, 9),
                                                 (3, 2, 1, 6)])
def test_pooling_windows_are_caffes(tmp_path: Path, pool: str, k: int, s: int, p: int,
                                    hw: int) -> None:
    path = net_file(tmp_path, f'layer {{ name: "in" type: "Input" top: "x" input_param {{ '
                              f'shape {{ dim: 2 dim: 3 dim: {hw} dim: {hw} }} }} }}\n'
                              f'layer {{ name: "pool" type: "Pooling" bottom: "x" top: "y" '
                              f'pooling_param {{ pool: {pool} kernel_size: {k} stride: {s} '
                              f'pad: {p} }} }}\n')
    x = torch.randn(2, 3, hw, hw)
    got = CaffeNet(path)(x=x)["y"].numpy()
    want = caffe_pool(x.numpy().astype(np.float64), k, s, p, pool == "MAX")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_softmax_loss_ignore_label_and_normalization(tmp_path: Path) -> None:
    def loss(param: str) -> float:
        path = net_file(tmp_path, 'layer { name: "in" type: "Input" top: "x" top: "label" '
                        'input_param { shape { dim: 2 dim: 4 dim: 3 } shape { dim: 2 dim: 3 } '
                        '} }\nlayer { name: "loss" type: "SoftmaxWithLoss" bottom: "x" '
                        f'bottom: "label" top: "loss" loss_param {{ {param} }} }}\n')
        return float(CaffeNet(path)(x=x, label=label)["loss"])

    x = torch.randn(2, 4, 3)
    label = torch.tensor([[0.0, 3.0, 1.0], [2.0, 1.0, 2.0]])
    logp = torch.log_softmax(x.double(), dim=1).numpy()
    picked = [-logp[n, int(label[n, j]), j] for n in range(2) for j in range(3)
              if int(label[n, j]) != 1]
    assert loss("ignore_label: 1") == pytest.approx(sum(picked) / 4, rel=1e-5)  # VALID
    assert loss("ignore_label: 1 normalization: FULL") == pytest.approx(sum(picked) / 6,
                                                                        rel=1e-5)
    assert loss("ignore_label: 1 normalization: BATCH_SIZE") == pytest.approx(sum(picked) / 2,
                                                                              rel=1e-5)
    assert loss("ignore_label: 1 normalize: false") == pytest.approx(sum(picked) / 2, rel=1e-5)
    assert loss("ignore_label: 1 normalization: NONE") == pytest.approx(sum(picked), rel=1e-5)


def test_accuracy_top_k_and_loss_weights(tmp_path: Path) -> None:
    path = net_file(tmp_path, 'layer { name: "in" type: "Input" top: "x" top: "label" '
                    'input_param { shape { dim: 4 dim: 3 } shape { dim: 4 } } }\n'
                    'layer { name: "acc" type: "Accuracy" bottom: "x" bottom: "label" top: "a" '
                    'accuracy_param { top_k: 2 } }\n'
                    'layer { name: "l" type: "EuclideanLoss" bottom: "x" bottom: "x" top: "e" '
                    'loss_weight: 0.5 }\n'
                    'layer { name: "s" type: "SoftmaxWithLoss" bottom: "x" bottom: "label" '
                    'top: "sl" }\n')
    net = CaffeNet(path)
    x = torch.tensor([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0], [1.0, 3.0, 2.0], [2.0, 1.0, 3.0]])
    label = torch.tensor([2.0, 0.0, 2.0, 0.0])  # in the top 2: no, no, yes, yes
    blobs = net(x=x, label=label)
    assert float(blobs["a"]) == 0.5
    assert net.loss_weights() == {"e": 0.5, "sl": 1.0}
    total = net.loss(blobs)
    assert total is not None and float(total) == pytest.approx(float(blobs["sl"]), rel=1e-6)
