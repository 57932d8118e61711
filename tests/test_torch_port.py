"""fill_ and load_caffe_init: hand-written PyTorch modules given Caffe's initial
weights compute Caffe's forward (the reference forward passes of lenet and
bn_resnet_block)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import DATA, load_jsonl

import caffefill

torch = pytest.importorskip("torch")

from test_torch_forward import check_blob  # noqa: E402
from torch import nn  # noqa: E402

from caffefill.torch import CaffeNet, fill_, load_caffe_init  # noqa: E402
from caffefill.torch.run import fill_inputs  # noqa: E402

FORWARD = DATA / "forward"
CASES = {c["id"]: c for c in load_jsonl(FORWARD / "forward.jsonl")}


def reference_input(net_name: str, phase: str, seed: int) -> Any:
    """The unit-Gaussian input the reference pass drew right after the weights."""
    net = CaffeNet(FORWARD / "nets" / f"{net_name}.prototxt", phase=phase, seed=seed)
    return torch.from_numpy(fill_inputs(net)["data"])


class LeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.ip1 = nn.Linear(800, 500)
        self.ip2 = nn.Linear(500, 10)

    def forward(self, x: Any) -> Any:
        x = nn.functional.max_pool2d(self.conv1(x), 2, 2)
        x = nn.functional.max_pool2d(self.conv2(x), 2, 2)
        x = torch.relu(self.ip1(x.flatten(1)))
        return torch.softmax(self.ip2(x), dim=1)


class BNBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16, eps=0.001)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: Any) -> Any:
        y = torch.relu(self.bn1(self.conv1(x)))
        y = x + 0.5 * self.bn2(self.conv2(y))
        y = nn.functional.leaky_relu(y, 0.1).mean(dim=(2, 3))
        return torch.softmax(self.fc(y), dim=1)


@pytest.mark.parametrize("case_id", ["lenet.TEST.1701", "lenet.TRAIN.3"])
def test_lenet_port_gives_caffe_forward(case_id: str) -> None:
    case = CASES[case_id]
    model = LeNet()
    report = load_caffe_init(model, FORWARD / "nets" / "lenet.prototxt", seed=case["seed"],
                             phase=case["phase"])
    assert set(report.copied) == set(model.state_dict())
    with torch.no_grad():
        prob = model(reference_input("lenet", case["phase"], case["seed"]))
    ref = {b["name"]: b for b in case["blobs"]}
    check_blob("prob", prob.numpy(), ref["prob"], FORWARD)


@pytest.mark.parametrize("case_id", ["bn_resnet_block.TEST.1701", "bn_resnet_block.TRAIN.1701",
                                     "bn_resnet_block.TEST.3"])
def test_bn_resnet_block_port_gives_caffe_forward(case_id: str) -> None:
    case = CASES[case_id]
    model = BNBlock()
    report = load_caffe_init(model, FORWARD / "nets" / "bn_resnet_block.prototxt",
                             seed=case["seed"], phase=case["phase"],
                             mapping={r"scale(\d)\.(weight|bias)": r"bn\1.\2"})
    assert report.copied["bn1.weight"] == "scale1/0"
    assert report.copied["bn2.running_var"] == "bn2/1 / bn2/2"
    assert not report.notes  # eps agree
    # right after init Caffe's stored statistics are 0 with factor 0
    assert float(model.bn1.running_var.abs().sum()) == 0.0  # type: ignore[union-attr]
    model.train(case["phase"] == "TRAIN")  # TRAIN: batch statistics, as Caffe
    with torch.no_grad():
        prob = model(reference_input("bn_resnet_block", case["phase"], case["seed"]))
    ref = {b["name"]: b for b in case["blobs"]}
    check_blob("prob", prob.numpy(), ref["prob"], FORWARD)


def test_unmatched_names_are_all_listed_and_nothing_copied() -> None:
    model = LeNet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(caffefill.CaffefillError) as info:
        load_caffe_init(model, FORWARD / "nets" / "lenet.prototxt", seed=1,
                        mapping={r"ip1\.(.*)": r"fc1.\1"})
    text = str(info.value)
    assert "ip1.weight (-> fc1.weight)" in text and "ip1.bias (-> fc1.bias)" in text
    assert "module entries Caffe does not fill: ip1.weight, ip1.bias" in text
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    report = load_caffe_init(model, FORWARD / "nets" / "lenet.prototxt", seed=1,
                             mapping={r"ip1\.(.*)": r"fc1.\1"}, strict=False)
    assert report.unmatched_module == ["ip1.weight", "ip1.bias"]
    assert "conv1.weight" in report.copied


def test_batchnorm_eps_difference_is_noted() -> None:
    model = BNBlock()
    model.bn2 = nn.BatchNorm2d(16)  # PyTorch's default eps, not the prototxt's 0.001
    report = load_caffe_init(model, FORWARD / "nets" / "bn_resnet_block.prototxt", seed=1,
                             mapping={r"scale(\d)\.(weight|bias)": r"bn\1.\2"})
    assert report.notes == ["bn2: eps is 1e-05, Caffe's BatchNorm 'bn2' uses 0.001"]


def test_shape_mismatch_is_refused() -> None:
    model = LeNet()
    model.conv1 = nn.Conv2d(1, 20, 3)
    with pytest.raises(caffefill.CaffefillError, match=r"conv1.weight: module \[20, 1, 3, 3\]"):
        load_caffe_init(model, FORWARD / "nets" / "lenet.prototxt", seed=1)


def test_lstm_gate_order_and_zero_hidden_bias() -> None:
    lstm = nn.LSTM(8, 6)

    class Holder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = lstm
            self.rnn = nn.RNN(6, 4)
            self.ip = nn.Linear(4, 3)

    holder = Holder()
    report = load_caffe_init(holder, FORWARD / "nets" / "recurrent.prototxt", seed=1701,
                             strict=False)
    assert report.unmatched_caffe == ["rnn.W_ho", "rnn.b_o"]
    caffe = caffefill.init_net(FORWARD / "nets" / "recurrent.prototxt", seed=1701)
    w_xc = caffe["lstm"][0]
    got = lstm.weight_ih_l0.detach().numpy()  # type: ignore[operator]
    h = 6
    # PyTorch i, f, g, o <- Caffe i, f, o, g
    for torch_gate, caffe_gate in enumerate((0, 1, 3, 2)):
        np.testing.assert_array_equal(got[torch_gate * h:(torch_gate + 1) * h],
                                      w_xc[caffe_gate * h:(caffe_gate + 1) * h])
    assert float(lstm.bias_hh_l0.detach().abs().sum()) == 0.0  # type: ignore[operator]
    # With cont = 1 everywhere the ported nn.LSTM computes Caffe's LSTM
    net = CaffeNet(FORWARD / "nets" / "recurrent.prototxt", seed=1701)
    x = torch.randn(5, 2, 8)
    with torch.no_grad():
        want = net(x=x, cont=torch.ones(5, 2))["h"]
        got_h, _ = lstm(x)
    torch.testing.assert_close(got_h, want, rtol=1e-5, atol=1e-6)


def test_fill_matches_caffefill_fill_and_continues_the_stream() -> None:
    rng = caffefill.CaffeRNG(1701)
    a = fill_(torch.empty(64, 3, 7, 7), 'type: "msra"', rng=rng)
    b = fill_(torch.empty(64), 'type: "gaussian" std: 0.5', rng=rng)
    ref_rng = caffefill.CaffeRNG(1701)
    np.testing.assert_array_equal(a.numpy(), caffefill.fill('type: "msra"', (64, 3, 7, 7),
                                                            rng=ref_rng))
    np.testing.assert_array_equal(b.numpy(), caffefill.fill('type: "gaussian" std: 0.5', (64,),
                                                            rng=ref_rng))
    assert fill_(torch.empty(3, dtype=torch.float64), 'type: "constant" value: 2',
                 rng=5).tolist() == [2.0, 2.0, 2.0]


