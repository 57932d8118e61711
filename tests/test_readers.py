"""Weight readers: every format indexed within the memory cap, values read lazily,
regular files only; ``caffefill diff`` piece by piece, its options and its peak memory."""

from __future__ import annotations

import contextlib
import json
import os
import struct
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA
from test_bounded_inputs import run_measured
from test_hostile import INPUT, SRC, cli, one_error, write

import caffefill
from caffefill._proto import caffefill_pb2 as pb
from caffefill.cli import main
from caffefill.readers import open_weights
from caffefill.writers.names import file_name

NETS = DATA / "nets"
IP = INPUT + ('layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" '
              'inner_product_param { num_output: 3 weight_filler { type: "gaussian" } '
              'bias_filler { type: "gaussian" } } }\n')


def _init(tmp_path: Path, target: str, seed: int = 1, text: str = IP) -> Path:
    net = write(tmp_path, text, "ip.prototxt")
    assert main(["init", str(net), "-o", f"{tmp_path}/{target}", "--seed",
                               str(seed), "--quiet"]) == 0
    return tmp_path / target.rstrip("/")


def _protobuf_arrays(path: Path) -> dict[str, list[np.ndarray]]:
    """What protobuf's own parser reads from a .caffemodel (the reference)."""
    net = pb.NetParameter()
    net.ParseFromString(path.read_bytes())
    out: dict[str, list[np.ndarray]] = {}
    for layer in list(net.layer) + list(net.layers):
        if not len(layer.blobs):
            continue
        arrays = []
        for blob in layer.blobs:
            if blob.HasField("shape"):
                shape = tuple(blob.shape.dim)
            elif blob.HasField("num") or blob.HasField("channels") or \
                    blob.HasField("height") or blob.HasField("width"):
                shape = (blob.num, blob.channels, blob.height, blob.width)
            else:
                shape = ()
            values = np.asarray(blob.double_data, np.float64).astype(np.float32) \
                if len(blob.double_data) else np.asarray(blob.data, np.float32)
            arrays.append(values.reshape(shape))
        out[layer.name] = arrays
    return out


def _same(a: dict[str, list[np.ndarray]], b: dict[str, list[np.ndarray]]) -> None:
    assert list(a) == list(b)
    for name in a:
        assert len(a[name]) == len(b[name])
        for x, y in zip(a[name], b[name], strict=True):
            assert x.shape == y.shape and x.dtype == y.dtype
            assert x.tobytes() == y.tobytes()


@pytest.mark.parametrize("path", sorted(NETS.glob("*.caffemodel"))[:12], ids=lambda p: p.name)
def test_caffemodel_scan_equals_protobuf(path: Path) -> None:
    _same(dict(caffefill.load_weights(path).params), _protobuf_arrays(path))


def test_caffemodel_unpacked_split_and_double_values(tmp_path: Path) -> None:
    # protobuf accepts repeated floats unpacked, or packed in several runs; doubles too.
    values = np.arange(6, dtype=np.float32) / 7
    unpacked = b"".join(b"\x2d" + struct.pack("<f", v) for v in values[:3])
    packed = b"\x2a\x0c" + values[3:].tobytes()
    shape = pb.BlobShape(dim=[2, 3]).SerializeToString()
    blob = unpacked + packed + b"\x3a" + bytes([len(shape)]) + shape
    doubles = pb.BlobProto(double_data=[0.1, 0.2], num=1, channels=1, height=1, width=2)
    layer = pb.LayerParameter(name="x").SerializeToString() + b"\x3a" + \
        bytes([len(blob)]) + blob + b"\x3a" + bytes([doubles.ByteSize()]) + \
        doubles.SerializeToString()
    net = pb.NetParameter(name="n").SerializeToString() + b"\xa2\x06" + \
        bytes([len(layer)]) + layer
    path = tmp_path / "odd.caffemodel"
    path.write_bytes(net)
    ours = dict(caffefill.load_weights(path).params)
    _same(ours, _protobuf_arrays(path))
    assert ours["x"][0].tobytes() == values.reshape(2, 3).tobytes()


@pytest.mark.parametrize("target", ["w.npz", "w.caffemodel", "w_npy/", "w.h5"])
def test_lazy_blobs_read_the_same_values(tmp_path: Path, target: str) -> None:
    if target == "w.h5":
        pytest.importorskip("h5py")
    path = _init(tmp_path, target)
    whole = caffefill.load_weights(path)
    with open_weights(path) as lazy:
        assert lazy.meta == whole.meta and list(lazy.params) == list(whole.params)
        for layer, blobs in lazy.params.items():
            for blob, array in zip(blobs, whole.params[layer], strict=True):
                assert blob.shape == array.shape
                pieces = np.concatenate([p.copy() for p in blob.pieces(7)])
                assert pieces.tobytes() == np.ascontiguousarray(array, np.float32).tobytes()


# ------------------------------------------------------------------ hostile files


def _refused_quickly(capsys: pytest.CaptureFixture[str], *argv: str, match: str) -> None:
    start = time.monotonic()
    status, _, err = cli(*argv, capsys=capsys)
    assert time.monotonic() - start < 30
    assert status == 2, err
    assert match in one_error(err)["message"], err


def test_npz_of_padded_indices_is_refused(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    # 1,000 empty members at blob index 4096 once padded every layer's list (45 s, 3.2 GB).
    path = tmp_path / "w.npz"
    np.savez(path, **{f"l{i}/4096": np.zeros(0, np.float32) for i in range(1000)})  # type: ignore[arg-type]
    _refused_quickly(capsys, "diff", str(path), str(path), "--max-memory", "64M",
                     match="but no blob 0")


def test_caffemodel_of_a_million_empty_blobs_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shape = pb.BlobShape(dim=[0]).SerializeToString()
    blob = pb.BlobProto(shape=pb.BlobShape(dim=[0])).SerializeToString()
    assert blob == b"\x3a" + bytes([len(shape)]) + shape
    blobs = (b"\x3a" + bytes([len(blob)]) + blob) * 1_000_000
    layer = pb.LayerParameter(name="x").SerializeToString() + blobs
    header = b"\xa2\x06" + _varint(len(layer))
    path = tmp_path / "w.caffemodel"
    path.write_bytes(header + layer)
    assert path.stat().st_size < 8 * 2**20
    _refused_quickly(capsys, "diff", str(path), str(path), "--max-memory", "64M",
                     match="needs more than 64.0 MiB")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def test_folder_of_many_listed_indices_is_refused(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "w_npy"
    folder.mkdir()
    np.save(folder / "x.npy", np.zeros(0, np.float32))
    entries = [{"file": "x.npy", "layer": f"l{i}", "index": 4096} for i in range(2500)]
    (folder / "meta.json").write_text(json.dumps({"blobs": entries}))
    _refused_quickly(capsys, "diff", str(folder), str(folder), "--max-memory", "64M",
                     match="a 'blobs' entry")


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_npz_gap_and_duplicate_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    np.savez(path, **{"a/1": np.zeros(2, np.float32)})  # type: ignore[arg-type]
    with pytest.raises(caffefill.CaffefillError, match="blob 1 but no blob 0"):
        caffefill.load_weights(path)
    with zipfile.ZipFile(path, "w") as archive:
        for _ in range(2):
            with archive.open("a/0.npy", "w") as member:
                np.save(member, np.zeros(2, np.float32))
    with pytest.raises(caffefill.CaffefillError, match="given twice"):
        caffefill.load_weights(path)


def test_damaged_values_of_a_stored_member_are_found(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    good = _init(tmp_path, "a.npz")
    data = bytearray(good.read_bytes())
    at = data.index(b"ip/0.npy") + 200  # inside the weights' values
    data[at] ^= 0x40
    bad = tmp_path / "b.npz"
    bad.write_bytes(bytes(data))
    status, _, err = cli("diff", str(good), str(bad), capsys=capsys)
    assert status == 2 and "checksum" in one_error(err)["message"]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
@pytest.mark.parametrize("name", ["x.caffemodel", "x.npz", "x.h5"])
def test_a_device_is_not_a_weights_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        name: str) -> None:
    (tmp_path / name).symlink_to("/dev/zero")
    good = _init(tmp_path, "a" + name[1:]) if name != "x.h5" else tmp_path / name
    _refused_quickly(capsys, "diff", str(tmp_path / name), str(good), "--max-memory", "64M",
                     match="a character device, not a regular file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("where", ["x.npz", "x.caffemodel", "meta.json", "member"])
def test_a_fifo_never_blocks(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             where: str) -> None:
    if where in ("meta.json", "member"):
        target = _init(tmp_path, "x_npy/")
        fifo = target / ("meta.json" if where == "meta.json" else file_name("ip", 0))
        fifo.unlink()
    else:
        target = fifo = tmp_path / where
    os.mkfifo(fifo)
    good = _init(tmp_path, "g.npz")

    def unblock() -> None:  # frees a reader stuck in open() (the old behaviour)
        time.sleep(10)
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    threading.Thread(target=unblock, daemon=True).start()
    _refused_quickly(capsys, "diff", str(target), str(good), match="a FIFO (named pipe)")


def test_no_hint_of_a_format_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    odd = tmp_path / "weights.bin"
    odd.write_bytes(b"x")
    status, _, err = cli("diff", str(odd), str(odd), capsys=capsys)
    assert status == 2 and "--format" not in err and ".caffemodel" in err


# ------------------------------------------------------------------ diff


def _pair(tmp_path: Path, a: np.ndarray, b: np.ndarray) -> tuple[Path, Path]:
    pa, pb_ = tmp_path / "a.npz", tmp_path / "b.npz"
    np.savez(pa, **{"x/0": a})  # type: ignore[arg-type]
    np.savez(pb_, **{"x/0": b})  # type: ignore[arg-type]
    return pa, pb_


def test_diff_reports_first_and_largest(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    a = np.zeros((4, 5), np.float32)
    b = a.copy()
    b[1, 2], b[3, 4] = 0.5, -2.0
    pa, pb_ = _pair(tmp_path, a, b)
    status, out, _ = cli("diff", str(pa), str(pb_), capsys=capsys)
    assert status == 1
    assert "2 values differ, max |a-b| = 2, first at index [1, 2], largest at index [3, 4] " \
           "(a=0, b=-2)" in out


def test_diff_tolerance_quiet_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = np.array([1.0, 2.0, np.nan, np.inf, -0.0], np.float32)
    b = np.array([1.0, 2.001, np.nan, -np.inf, 0.0], np.float32)
    b[2] = np.frombuffer(struct.pack("<I", 0x7FC00001), np.float32)[0]  # another NaN
    pa, pb_ = _pair(tmp_path, a, b)
    assert cli("diff", str(pa), str(pb_), "--quiet", capsys=capsys) == (1, "", "")
    status, out, err = cli("diff", str(pa), str(pb_), "--json", capsys=capsys)
    assert status == 1 and err == ""
    document = json.loads(out, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    (blob,) = document["blobs"]
    assert blob["count_differ"] == 4 and blob["first_index"] == [1]
    assert blob["max_abs"] == "inf" and blob["max_a"] == "inf" and blob["max_b"] == "-inf"
    # Within 1e-2, only inf against -inf is still a difference.
    status, out, _ = cli("diff", str(pa), str(pb_), "--atol", "1e-2", "--json", capsys=capsys)
    assert status == 1 and json.loads(out)["blobs"][0]["count_beyond"] == 1
    b[3] = np.inf
    pa, pb_ = _pair(tmp_path, a, b)
    assert cli("diff", str(pa), str(pb_), "--atol", "1e-2", "--quiet", capsys=capsys)[0] == 0
    assert cli("diff", str(pa), str(pb_), "--rtol", "1e-4", "--quiet", capsys=capsys)[0] == 1
    assert cli("diff", str(pa), str(pb_), "--rtol", "1e-3", "--quiet", capsys=capsys)[0] == 0
    for junk in ("nan", "-1", "inf", "x"):
        with pytest.raises(SystemExit):
            main(["diff", str(pa), str(pb_), "--atol", junk])


def test_diff_prints_no_numpy_warning(tmp_path: Path) -> None:
    a = np.array([np.inf, 1, np.nan], np.float32)
    b = np.array([-np.inf, np.inf, 1], np.float32)
    pa, pb_ = _pair(tmp_path, a, b)
    result = subprocess.run([sys.executable, "-m", "caffefill", "diff", str(pa), str(pb_)],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(SRC)})
    assert result.returncode == 1 and result.stderr == "", result.stderr


def test_diff_stays_under_its_memory_cap(tmp_path: Path) -> None:
    # Two 64 MiB files, every value different: no index per value, no float64 copies.
    text = INPUT + ('layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" '
                    'inner_product_param { num_output: 4096 bias_term: false '
                    'weight_filler { type: "uniform" } } }\n'
                    'layer { name: "ip2" type: "InnerProduct" bottom: "ip" top: "ip2" '
                    'inner_product_param { num_output: 4096 bias_term: false '
                    'weight_filler { type: "uniform" } } }\n')
    a = _init(tmp_path, "a.caffemodel", 1, text)
    b = _init(tmp_path, "b.caffemodel", 2, text)
    cap = 192 * 2**20
    status, out, err, peak = run_measured("diff", str(a), str(b), "--max-memory", str(cap))
    assert status == 1, err
    assert "! ip2/0: 167772" in out and "DIFFERENT: 0/2 blobs identical" in out
    assert peak <= cap, f"peak RSS {peak / 2**20:.0f} MiB above the cap of {cap / 2**20:.0f} MiB"


# ------------------------------------------------------------------ damaged .h5


def _h5_diff(capsys: pytest.CaptureFixture[str], bad: Path, good: Path) -> tuple[int, str]:
    start = time.monotonic()
    status, _, err = cli("diff", str(bad), str(good), capsys=capsys)
    assert time.monotonic() - start < 60, "diff of a damaged .h5 did not end in time"
    assert "Traceback" not in err and "internal error" not in err, err
    return status, err


def test_damaged_h5_ends_quickly_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("h5py")
    from caffefill.readers import h5

    # One byte inserted at the start once made HDF5 spin for ever, deaf to SIGTERM.
    monkeypatch.setattr(h5, "PROBE_SECONDS", 10.0)
    good = _init(tmp_path, "good.h5")
    data = good.read_bytes()
    bad = tmp_path / "bad.h5"
    cases = {"inserted at 0": b"\0" + data, "inserted at 123": data[:123] + b"\0" + data[123:],
             "truncated": data[: len(data) // 2], "header only": data[:1000],
             "flipped": data[:40] + b"\xff" * 40 + data[80:]}
    for name, damaged in cases.items():
        bad.write_bytes(damaged)
        status, err = _h5_diff(capsys, bad, good)
        assert status == 2, (name, err)
        assert one_error(err)["file"] == str(bad)


def test_odd_h5_files_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h5py = pytest.importorskip("h5py")
    good = _init(tmp_path, "good.h5")
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        f.create_group("data").create_group("ip").create_dataset("0", data=h5py.Empty("f4"))
    status, err = _h5_diff(capsys, empty, good)
    assert status == 2 and "without a dataspace" in one_error(err)["message"]

    encoded = tmp_path / "encoding.h5"
    with h5py.File(encoded, "w") as f:
        f.create_group("data").create_group("ip").create_dataset("0", data=np.ones(3, "f4"))
        f.attrs["caffefill_meta"] = np.bytes_(b'{"seed": 1}')
    data = bytearray(encoded.read_bytes())
    hits = [i for i in range(len(data) - 1) if data[i] == 0x13 and not data[i + 1] & 0xF0]
    assert hits
    for at in hits:  # the string datatype's character set: 15 is no known encoding
        data[at + 1] |= 0xF0
    encoded.write_bytes(bytes(data))
    status, err = _h5_diff(capsys, encoded, good)
    assert status == 2 and "caffefill_meta" in one_error(err)["message"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_h5_with_external_data_in_a_fifo(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    h5py = pytest.importorskip("h5py")
    good = _init(tmp_path, "good.h5")
    outside = tmp_path / "outside.bin"
    outside.write_bytes(np.ones(3, "<f4").tobytes())
    path = tmp_path / "external.h5"
    with h5py.File(path, "w") as f:
        f.create_group("data").create_group("ip").create_dataset(
            "0", shape=(3,), dtype="<f4", external=[(str(outside), 0, 12)])
    outside.unlink()
    os.mkfifo(outside)
    status, err = _h5_diff(capsys, path, good)
    assert status == 2 and "external file" in one_error(err)["message"]
