"""``init -o weights.safetensors``: the safetensors package reads it, its keys are
CaffeNet's state_dict keys, large blobs are streamed."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import caffefill
from caffefill.init import prepare_net
from caffefill.writers import write_weights
from caffefill.writers.names import module_names, state_keys

safetensors_numpy = pytest.importorskip("safetensors.numpy")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SHARED_NET = DATA / "nets" / "shared_params.prototxt"
BN_NET = DATA / "forward" / "nets" / "bn_resnet_block.prototxt"


def written(path: Path, tmp_path: Path, **kw: object) -> Path:
    prepared = prepare_net(path, **kw)  # type: ignore[arg-type]
    return write_weights(tmp_path / "w.safetensors", prepared.blobs(lazy=True), prepared.meta(),
                         prepared.model)


def test_safetensors_package_reads_every_blob(tmp_path: Path) -> None:
    out = written(SHARED_NET, tmp_path, seed=1701)
    tensors = safetensors_numpy.load_file(str(out))
    prepared = prepare_net(SHARED_NET, seed=1701)
    keys = state_keys(prepared.model)
    assert list(tensors) == sorted(k for _, _, k in keys) or set(tensors) == {k for *_, k in keys}
    ref = caffefill.init_net(SHARED_NET, seed=1701)
    for layer, index, key in keys:
        assert tensors[key].dtype == np.float32
        np.testing.assert_array_equal(tensors[key], ref[layer.name][index])
    # a shared blob is under both layers, holding the owner's values
    np.testing.assert_array_equal(tensors["conv_a.weight"], tensors["conv_b.weight"])
    # the header is 8-byte aligned and names the Caffe layer of each key
    raw = out.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    assert length % 8 == 0
    header = json.loads(raw[8:8 + length])
    assert json.loads(header["__metadata__"]["caffe_blobs"])["ip_b.bias"] == ["ip_b", 1]
    assert json.loads(header["__metadata__"]["caffefill"])["seed"] == 1701


def test_state_dict_loads_strictly(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    from caffefill.torch import CaffeNet

    out = written(BN_NET, tmp_path, seed=3, phase="TRAIN")
    net = CaffeNet(BN_NET, seed=99, phase="TRAIN")  # other values, same keys
    result = net.load_state_dict(load_file(str(out)), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    same = CaffeNet(BN_NET, seed=3, phase="TRAIN").state_dict()
    for key, value in net.state_dict().items():
        assert torch.equal(value, same[key]), key


def test_large_blobs_stream_piece_by_piece(tmp_path: Path) -> None:
    net = tmp_path / "big.prototxt"
    net.write_text('layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 '
                   'dim: 3000 } } }\nlayer { name: "fc.big" type: "InnerProduct" bottom: "x" '
                   'top: "y" inner_product_param { num_output: 1500 weight_filler { type: '
                   '"gaussian" std: 0.01 } bias_filler { type: "uniform" } } }\n')
    out = written(net, tmp_path, seed=5)
    tensors = safetensors_numpy.load_file(str(out))
    ref = caffefill.init_net(net, seed=5)
    assert set(tensors) == {"fc_big.weight", "fc_big.bias"}  # '.' is PyTorch's separator
    np.testing.assert_array_equal(tensors["fc_big.weight"], ref["fc.big"][0])
    np.testing.assert_array_equal(tensors["fc_big.bias"], ref["fc.big"][1])
    back = caffefill.load_weights(out)
    np.testing.assert_array_equal(back.params["fc.big"][0], ref["fc.big"][0])


def test_module_names_are_distinct_and_keep_owners_names(tmp_path: Path) -> None:
    net = tmp_path / "names.prototxt"
    net.write_text('layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 '
                   'dim: 4 } } }\n'
                   'layer { name: "a_b" type: "ReLU" bottom: "x" top: "r" }\n'
                   'layer { name: "a.b" type: "InnerProduct" bottom: "r" top: "y" '
                   'inner_product_param { num_output: 2 } }\n'
                   'layer { name: "a.b" type: "ReLU" bottom: "y" top: "y" }\n')
    prepared = prepare_net(net, seed=1)
    assert module_names(prepared.model) == ["in", "a_b_2", "a_b", "a_b_3"]


def test_cli_writes_safetensors(tmp_path: Path) -> None:
    out = tmp_path / "lenet.safetensors"
    result = subprocess.run([sys.executable, "-m", "caffefill.cli", "init",
                             str(ROOT / "examples" / "lenet.prototxt"), "-o", str(out),
                             "--seed", "1701"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    tensors = safetensors_numpy.load_file(str(out))
    ref = caffefill.init_net(ROOT / "examples" / "lenet.prototxt", seed=1701)
    np.testing.assert_array_equal(tensors["conv1.weight"], ref["conv1"][0])
    np.testing.assert_array_equal(tensors["ip2.bias"], ref["ip2"][1])
