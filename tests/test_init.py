"""Whole nets, bit-exact with Caffe: every blob of every reference net, and the
.caffemodel files Caffe itself wrote."""

from __future__ import annotations

import gc
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import DATA, SHARED, load_jsonl, sha256_f32

import caffefill
from caffefill.init import prepare_net
from caffefill.writers import caffemodel

NETS = DATA / "nets"
MAIN = load_jsonl(NETS / "nets.jsonl")
PROFILES = {
    name: load_jsonl(DATA / "profiles" / name / "nets.jsonl")
    for name in ("boost-1.58", "boost-1.55", "caffe-master")
}


RC3 = DATA / "profiles" / "caffe-rc3"


def _check_net(case: dict[str, Any], prototxt: Path) -> None:
    kwargs: dict[str, Any] = {k: case[k] for k in ("caffe", "boost") if k in case}
    if "inputs" in case:  # "C,H,W" of each Data top's stored records
        kwargs["inputs"] = {top: tuple(int(d) for d in dims.split(","))
                            for top, dims in case["inputs"].items()}
    if case["expect"] == "error":
        with pytest.raises(caffefill.CaffefillError) as info:
            caffefill.init_net(prototxt, phase=case["phase"], seed=case["seed"], **kwargs)
        assert info.value.caffe_message == case["error"]
        return
    result = caffefill.init_net(prototxt, phase=case["phase"], seed=case["seed"], **kwargs)
    assert result.seed == case["seed"] and result.model is not None
    assert [(name, result.model.layers[i].type) for i, name in _owner_layers(result)] == \
        [(layer["name"], layer["type"]) for layer in case["layers"]]
    for layer in case["layers"]:
        blobs = result[layer["name"]]
        assert len(blobs) == len(layer["blobs"]), layer["name"]
        for index, (got, want) in enumerate(zip(blobs, layer["blobs"], strict=False)):
            assert list(got.shape) == _reference_shape(want), (layer["name"], index)
            assert got.size == want["count"]
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got.ravel()[:8], np.float32(want["head"]),
                                          err_msg=f"{layer['name']}/{index} head")
            assert sha256_f32(got) == want["sha256"], f"{layer['name']}/{index}"
    assert sum(a.size for blobs in result.values() for a in blobs) == case["params"]


def _reference_shape(blob: dict[str, Any]) -> list[int]:
    """The reference files record a 0-axis blob (PReLU channel_shared: one value,
    written by Caffe with no BlobShape) through the legacy num/channels/height/width
    fields, all 0; its real shape is ()."""
    if blob["shape"] == [0, 0, 0, 0] and blob["count"] == 1:
        return []
    return list(blob["shape"])


def _owner_layers(result: caffefill.Weights) -> list[tuple[int, str]]:
    assert result.model is not None
    return [(layer.index, layer.name) for layer in result.model.layers if layer.blobs]


@pytest.mark.parametrize("case", MAIN, ids=lambda c: c["id"])
def test_reference_net(case: dict[str, Any]) -> None:
    _check_net(case, NETS / case["prototxt"])


@pytest.mark.parametrize(
    "profile,case",
    [(name, case) for name, cases in PROFILES.items() for case in cases
     if not case["prototxt"].startswith(("alexnet", "caffenet", "flickr"))],
    ids=lambda v: v if isinstance(v, str) else v["id"])
def test_profile_net(profile: str, case: dict[str, Any]) -> None:
    _check_net(case, NETS / case["prototxt"])


@pytest.mark.parametrize(
    "profile,case",
    [(name, case) for name, cases in PROFILES.items() for case in cases
     if case["prototxt"].startswith(("alexnet", "caffenet")) and case["seed"] == 1701
     and case["phase"] == "TEST"],
    ids=lambda v: v if isinstance(v, str) else v["id"])
def test_profile_large_net(profile: str, case: dict[str, Any]) -> None:
    _check_net(case, NETS / case["prototxt"])


@pytest.mark.parametrize(
    "case", [c for c in load_jsonl(RC3 / "nets.jsonl")
             if c["seed"] == 1701 or not c["prototxt"].startswith("models__")],
    ids=lambda c: c["id"])
def test_caffe_rc3_net(case: dict[str, Any]) -> None:
    # Caffe of the DataReader era: every blob after a Data layer depends on its
    # extra draw, and every record differs from what the 1.0 profile makes.
    assert case["caffe"] == "rc3"
    _check_net(case, RC3 / case["prototxt"])
    if case["prototxt"].startswith("examples__"):
        with pytest.raises(AssertionError):
            _check_net({**case, "caffe": "1.0"}, RC3 / case["prototxt"])


CAFFEMODELS = [c for c in MAIN if (NETS / f"{c['id']}.caffemodel").exists()]


@pytest.mark.parametrize("case", CAFFEMODELS, ids=lambda c: c["id"])
def test_caffemodel_bytes_equal_caffes(case: dict[str, Any], tmp_path: Path) -> None:
    prepared = prepare_net(NETS / case["prototxt"], phase=case["phase"], seed=case["seed"])
    out = tmp_path / "net.caffemodel"
    caffemodel.write(out, prepared.blobs(), prepared.meta(), prepared.model)
    ours = out.read_bytes()
    theirs = (NETS / f"{case['id']}.caffemodel").read_bytes()
    # Caffe's bytes, then only caffefill's metadata field (unknown to Caffe).
    assert ours[: len(theirs)] == theirs
    assert caffefill.load_weights(out).meta["seed"] == case["seed"]
    # And blob by blob, through the reader.
    a = caffefill.load_weights(out).params
    b = caffefill.load_weights(NETS / f"{case['id']}.caffemodel").params
    assert list(a) == list(b)
    for name in a:
        for x, y in zip(a[name], b[name], strict=False):
            np.testing.assert_array_equal(x, y)


@pytest.mark.needs_shared
@pytest.mark.slow
def test_corpus_nets() -> None:
    ref = SHARED / "caffe-reference"
    cases = load_jsonl(ref / "corpus_nets.jsonl")
    failures = []
    for case in cases:
        prototxt = ref / case["prototxt"]
        try:
            _check_net(case, prototxt)
        except (AssertionError, caffefill.CaffefillError) as exc:
            failures.append(f"{case['id']}: {exc}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("case", [c for c in CAFFEMODELS if c["seed"] == 1701],
                         ids=lambda c: c["id"])
def test_streamed_pieces_equal_caffes_bytes(case: dict[str, Any], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Tiny pieces: every blob of more than 14 values is drawn and written piece
    # by piece, the next piece drawn by a worker thread while one is written.
    monkeypatch.setattr(caffefill.streaming, "PIECE_VALUES", 7)
    prepared = prepare_net(NETS / case["prototxt"], phase=case["phase"], seed=case["seed"])
    out = tmp_path / "net.caffemodel"
    caffemodel.write(out, prepared.blobs(lazy=True), prepared.meta(), prepared.model)
    theirs = (NETS / f"{case['id']}.caffemodel").read_bytes()
    assert out.read_bytes()[: len(theirs)] == theirs


def test_streamed_alexnet_npz_matches_reference(tmp_path: Path) -> None:
    from caffefill.writers import load_weights, write_weights

    case = next(c for c in MAIN if c["id"] == "alexnet_train_val_input.TRAIN.1701")
    prepared = prepare_net(NETS / case["prototxt"], phase="TRAIN", seed=1701)
    out = write_weights(tmp_path / "w.npz", prepared.blobs(lazy=True), prepared.meta(),
                        prepared.model)
    back = load_weights(out).params
    for layer in case["layers"]:
        for got, want in zip(back[layer["name"]], layer["blobs"], strict=False):
            assert sha256_f32(got) == want["sha256"], layer["name"]


def test_lazy_blob_skipped_by_the_reader_keeps_the_stream(tmp_path: Path) -> None:
    # A consumer that never reads a blob's values must not shift later blobs.
    prepared = prepare_net(NETS / "lenet_input.prototxt", seed=3)
    eager = {b.key: b.array.copy() for b in prepared.blobs()}
    for blob in prepared.blobs(lazy=True):
        if blob.key != "conv2/0":
            np.testing.assert_array_equal(blob.array, eager[blob.key])


def _draw_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "caffefill-draw"]


def test_drawing_thread_stops_when_the_reader_goes_away() -> None:
    # Read part of the net and stop, or drop the blobs unread: the drawing
    # thread (which starts before the first blob is asked for) always ends.
    prepared = prepare_net(NETS / "alexnet_train_val_input.prototxt", phase="TRAIN", seed=1)
    blobs = prepared.blobs(lazy=True)
    first = next(blobs)
    assert first.key == "conv1/0" and _draw_threads()
    blobs.close()
    assert not _draw_threads()
    blobs = prepared.blobs(lazy=True)
    assert _draw_threads()
    del blobs
    gc.collect()
    assert not _draw_threads()


def test_a_refusal_reaches_the_reader_in_net_order(tmp_path: Path) -> None:
    # The worker meets the bad filler after two good blobs: the reader gets
    # those first, then the located error, and the worker is gone.
    net = tmp_path / "bad.prototxt"
    net.write_text('layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 '
                   'dim: 3 dim: 8 dim: 8 } } }\n'
                   'layer { name: "ok" type: "Convolution" bottom: "x" top: "y" convolution_param '
                   '{ num_output: 4 kernel_size: 3 weight_filler { type: "gaussian" } } }\n'
                   'layer { name: "bad" type: "InnerProduct" bottom: "y" top: "z" '
                   'inner_product_param { num_output: 2 weight_filler { type: "uniform" min: 1 '
                   'max: 0 } } }\n')
    prepared = prepare_net(net, seed=1)
    seen = []
    with pytest.raises(caffefill.FillerError) as info:
        for blob in prepared.blobs(lazy=True):
            seen.append(blob.key)
    assert seen == ["ok/0", "ok/1"]
    assert info.value.layer == "bad" and str(info.value).startswith(f"{net}:3:1: layer 'bad'")
    assert not _draw_threads()
