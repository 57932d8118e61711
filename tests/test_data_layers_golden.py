"""Data layers against real Caffe 1.0 (Boost 1.74): the raw draws Caffe takes
from the net's stream while it sets data layers up (transformer seeds,
prefetch-thread seeds, ImageData shuffle/rand_skip, WindowData's generator)
shift every fill after them, so equal SHA-256 of every blob means caffefill
drew exactly as many.  The nets read LMDB, image lists, a window file and
HDF5 files that are not shipped: each record carries the ``inputs`` (top
shapes) caffefill needs instead (see tests/data/README.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import DATA, load_jsonl, sha256_f32

import caffefill
from caffefill import CaffeRNG, Weights, init_net
from caffefill.net.model import NetModel
from caffefill.net.spec import RandDraw

FOLDER = DATA / "data_layers"
CASES = load_jsonl(FOLDER / "data_layers.jsonl")
OK = [c for c in CASES if c["expect"] == "ok"]


def _inputs(case: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    return {name: tuple(dims) for name, dims in case["inputs"].items()}


def _init(case: dict[str, Any]) -> Weights:
    prototxt: Path = FOLDER / case["prototxt"]
    return init_net(prototxt, phase=case["phase"], seed=case["seed"], inputs=_inputs(case))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["id"])
def test_data_layer_net_matches_caffe(case: dict[str, Any]) -> None:
    if case["expect"] == "error":
        with pytest.raises(caffefill.CaffefillError) as info:
            _init(case)
        assert info.value.caffe_message == case["error"]
        return
    result = _init(case)
    assert result.model is not None
    owners = [(layer.name, layer.type) for layer in result.model.layers if layer.blobs]
    assert owners == [(layer["name"], layer["type"]) for layer in case["layers"]]
    for layer in case["layers"]:
        blobs = result[layer["name"]]
        assert len(blobs) == len(layer["blobs"]), layer["name"]
        for index, (got, want) in enumerate(zip(blobs, layer["blobs"], strict=False)):
            assert list(got.shape) == want["shape"], (layer["name"], index)
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got.ravel()[:8], np.float32(want["head"]),
                                          err_msg=f"{layer['name']}/{index} head")
            assert sha256_f32(got) == want["sha256"], f"{layer['name']}/{index}"
    assert sum(a.size for blobs in result.values() for a in blobs) == case["params"]


def _planned_raw_draws(model: NetModel) -> int:
    """caffefill's raw draws before the first layer that owns blobs."""
    total = 0
    for layer in model.layers:
        if layer.blobs:
            break
        total += sum(d.count for d in layer.draws if isinstance(d, RandDraw))
    return total


def _first_uniform(case: dict[str, Any]) -> bool:
    first = case["layers"][0]
    return bool(first["type"] == "Convolution" and first["name"] != "conv0")  # conv0: Gaussian


@pytest.mark.parametrize("case", [c for c in OK if _first_uniform(c)], ids=lambda c: c["id"])
def test_raw_draw_count_before_first_fill(case: dict[str, Any]) -> None:
    # The first weight in these nets is a uniform fill, one draw per value, so
    # Caffe's blob pins how many raw draws the data layers took before it (a
    # Gaussian fill can fall back into step after a few rejected draws).
    result = _init(case)
    want = case["layers"][0]["blobs"][0]
    skipped = [k for k in range(16) if sha256_f32(_uniform_after(case["seed"], k, want["shape"]))
               == want["sha256"]]
    assert result.model is not None
    assert skipped == [_planned_raw_draws(result.model)]


def _uniform_after(seed: int, skipped: int, shape: list[int]) -> np.ndarray:
    rng = CaffeRNG(seed)
    rng.discard(skipped)
    return caffefill.fill('type: "uniform" min: -0.5 max: 0.5', shape, rng=rng)


def test_shuffle_draws_do_not_depend_on_list_length() -> None:
    # ImageData shuffles with its own generator: a 3-line and a 7-line list
    # give Caffe the same weights.
    by_id = {c["id"]: c for c in OK}
    for seed in (1701, 3):
        assert by_id[f"image_shuffle.TRAIN.{seed}"]["layers"] == \
            by_id[f"image_shuffle_3lines.TRAIN.{seed}"]["layers"]
