"""load_weights(lazy=True): the same Weights, values read from the file only when touched."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import caffefill
from caffefill.errors import CaffefillError
from caffefill.init import prepare_net
from caffefill.writers import write_weights

LENET = Path(__file__).resolve().parents[1] / "examples" / "lenet.prototxt"

#: One 4096 x 4096 InnerProduct: a 64 MiB weight and its bias.
BIG_NET = """name: "big"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 4096 } } }
layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc"
  inner_product_param { num_output: 4096 weight_filler { type: "gaussian" std: 0.01 }
                        bias_filler { type: "constant" value: 0.1 } } }
"""
BIG_BYTES = 4 * (4096 * 4096 + 4096)


def _write(path: Path, net: Path, seed: int = 1701) -> Path:
    prepared = prepare_net(net, seed=seed)
    return write_weights(path, prepared.blobs(lazy=True), prepared.meta(), prepared.model)


def _formats() -> list[str]:
    names = ["w.npz", "w.caffemodel", "w.npydir", "w.safetensors"]
    try:
        import h5py  # noqa: F401
    except ImportError:
        return names
    return [*names, "w.h5"]


@pytest.mark.parametrize("name", _formats())
def test_lazy_gives_what_the_whole_read_gives(tmp_path: Path, name: str) -> None:
    out = _write(tmp_path / name, LENET)
    whole = caffefill.load_weights(out)
    lazy = caffefill.load_weights(out, lazy=True)
    assert type(lazy) is type(whole) and lazy.meta == whole.meta
    assert list(lazy) == list(whole)
    for layer, blobs in whole.items():
        assert len(lazy[layer]) == len(blobs)
        for got, want in zip(lazy[layer], blobs, strict=True):
            assert isinstance(got, np.ndarray)
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got, want)


def test_lazy_arrays_are_writable_and_never_change_the_file(tmp_path: Path) -> None:
    out = _write(tmp_path / "w.caffemodel", LENET)
    before = hashlib.sha256(out.read_bytes()).hexdigest()
    lazy = caffefill.load_weights(out, lazy=True)
    weight = lazy["conv1"][0]
    assert weight.base is not None  # a view over the file, not a copy
    weight[...] = 7.0
    assert float(weight.sum()) == 7.0 * weight.size
    assert hashlib.sha256(out.read_bytes()).hexdigest() == before
    again = caffefill.load_weights(out, lazy=True)
    assert not np.any(again["conv1"][0] == 7.0)


def test_compressed_npz_is_read_whole(tmp_path: Path) -> None:
    out = tmp_path / "c.npz"
    # a member name that is no identifier goes through **; typed loosely, since
    # numpy's stubs would match the dict against savez_compressed's allow_pickle
    members: dict[str, Any] = {"fc/0": np.arange(12, dtype=np.float32).reshape(3, 4)}
    np.savez_compressed(out, **members)
    lazy = caffefill.load_weights(out, lazy=True)
    np.testing.assert_array_equal(lazy["fc"][0], np.arange(12, dtype=np.float32).reshape(3, 4))
    assert lazy["fc"][0].flags.owndata or lazy["fc"][0].base is not None


def test_lazy_blobs_do_not_count_against_max_bytes(tmp_path: Path) -> None:
    net = tmp_path / "big.prototxt"
    net.write_text(BIG_NET)
    out = _write(tmp_path / "w.caffemodel", net)
    with pytest.raises(CaffefillError, match="more than"):
        caffefill.load_weights(out, max_bytes=2**20)
    assert caffefill.load_weights(out, max_bytes=2**20, lazy=True)["fc"][0].shape == (4096, 4096)


# Peak RSS from /proc (VmHWM, of this process's memory only: ru_maxrss would
# start at the forking test process's peak).
CHILD = """
import json, sys
import numpy as np
import caffefill
def peak():
    with open("/proc/self/status") as status:
        return int(status.read().split("VmHWM:")[1].split()[0]) * 1024
before = peak()
weights = caffefill.load_weights(sys.argv[1], lazy=sys.argv[2] == "lazy")
touched = [float(np.asarray(b).reshape(-1)[-1]) for blobs in weights.values() for b in blobs]
print(json.dumps({"grew": peak() - before, "last": touched}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize("name", ["w.caffemodel", "w.npz", "w.npydir"])
def test_a_lazy_load_of_a_large_file_reads_only_what_is_touched(tmp_path: Path,
                                                                name: str) -> None:
    net = tmp_path / "big.prototxt"
    net.write_text(BIG_NET)
    out = _write(tmp_path / name, net)
    grew = {}
    for mode in ("lazy", "whole"):
        run = subprocess.run([sys.executable, "-c", CHILD, str(out), mode], capture_output=True,
                             text=True, check=True, timeout=300)
        result = json.loads(run.stdout)
        grew[mode] = result["grew"]
        assert result["last"][1] == pytest.approx(0.1)
    # Reading the whole file costs its size; touching one value per blob, a few pages.
    assert grew["whole"] >= BIG_BYTES * 0.9
    assert grew["lazy"] < 8 * 2**20
