"""Writers: every format round-trips; writes are atomic; existing files are kept."""

from __future__ import annotations

import errno
import io
import json
import os
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import caffefill
from caffefill.errors import WriteError
from caffefill.init import prepare_net
from caffefill.writers import FORMATS, detect_format, load_weights, write_weights

ROOT = Path(__file__).resolve().parents[1]
LENET = ROOT / "examples" / "lenet.prototxt"
TARGETS = {"npz": "w.npz", "npy": "w_npy/", "caffemodel": "w.caffemodel", "h5": "w.h5",
           "safetensors": "w.safetensors"}


@pytest.fixture(scope="module")
def reference() -> caffefill.Weights:
    return caffefill.init_net(LENET, seed=1701)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_round_trip(fmt: str, tmp_path: Path, reference: Any) -> None:
    if fmt == "h5":
        pytest.importorskip("h5py")
    prepared = prepare_net(LENET, seed=1701)
    target = tmp_path / TARGETS[fmt]
    # A trailing '/' names a folder of .npy files (pathlib would drop it).
    written = write_weights(f"{tmp_path}/{TARGETS[fmt]}", prepared.blobs(), prepared.meta(),
                            prepared.model)
    assert detect_format(target) == fmt
    back = load_weights(written)
    assert list(back.params) == list(reference)
    for name, blobs in reference.items():
        assert len(back.params[name]) == len(blobs)
        for got, want in zip(back.params[name], blobs, strict=False):
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, want)
    assert back.meta["seed"] == 1701
    assert back.meta["phase"] == "TRAIN"  # the default phase
    assert back.meta["caffe"] == "1.0" and back.meta["boost"] == "1.74"
    assert len(back.meta["prototxt_sha256"]) == 64
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def _failing_blobs(prepared: Any, after: int, exc: BaseException) -> Iterator[Any]:
    for i, blob in enumerate(prepared.blobs()):
        if i == after:
            raise exc
        yield blob


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("exc", [KeyboardInterrupt(), OSError(errno.ENOSPC, "No space left")])
def test_failure_leaves_nothing(fmt: str, exc: BaseException, tmp_path: Path) -> None:
    if fmt == "h5":
        pytest.importorskip("h5py")
    prepared = prepare_net(LENET, seed=1)
    target = f"{tmp_path}/{TARGETS[fmt]}"
    expected = KeyboardInterrupt if isinstance(exc, KeyboardInterrupt) else WriteError
    with pytest.raises(expected):
        write_weights(target, _failing_blobs(prepared, 3, exc), prepared.meta(), prepared.model)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_force(tmp_path: Path) -> None:
    prepared = prepare_net(LENET, seed=1)
    target = tmp_path / "w.npz"
    target.write_bytes(b"keep me")
    with pytest.raises(WriteError, match="--force"):
        write_weights(target, prepared.blobs(), prepared.meta(), prepared.model)
    assert target.read_bytes() == b"keep me"
    write_weights(target, prepared.blobs(), prepared.meta(), prepared.model, force=True)
    assert load_weights(target).meta["seed"] == 1


def test_failed_replace_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prepared = prepare_net(LENET, seed=1)
    target = tmp_path / "w.caffemodel"
    target.write_bytes(b"old")

    def no_space(*args: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    from caffefill.writers import atomic

    monkeypatch.setattr(atomic, "_rename2", no_space)
    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(WriteError, match="No space left"):
        write_weights(target, prepared.blobs(), prepared.meta(), prepared.model, force=True)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.caffemodel"]


def test_unwritable_folder(tmp_path: Path) -> None:
    prepared = prepare_net(LENET, seed=1)
    with pytest.raises(WriteError, match="does not exist"):
        write_weights(tmp_path / "nope" / "w.npz", prepared.blobs(), prepared.meta(),
                      prepared.model)
    if os.geteuid() != 0:  # root ignores permissions
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(WriteError, match="not writable"):
            write_weights(locked / "w.npz", prepared.blobs(), prepared.meta(), prepared.model)


def test_npy_file_names_cannot_escape(tmp_path: Path) -> None:
    from caffefill.writers.npy import file_name

    for name in ("../../etc/passwd", "a/b", ".hidden", "..", "名前"):
        safe = file_name(name, 0)
        assert "/" not in safe and not safe.startswith(".")


def test_unknown_extension_is_refused(tmp_path: Path) -> None:
    with pytest.raises(caffefill.CaffefillError, match="--format"):
        detect_format(tmp_path / "w.weights")


def test_h5_keeps_net_order_for_unsorted_names(tmp_path: Path) -> None:
    pytest.importorskip("h5py")
    net = tmp_path / "net.prototxt"
    net.write_text(
        'layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 6 } } }\n'
        'layer { name: "zeta" type: "InnerProduct" bottom: "x" top: "z" '
        'inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }\n'
        'layer { name: "alpha" type: "InnerProduct" bottom: "z" top: "a" '
        'inner_product_param { num_output: 2 weight_filler { type: "msra" } } }\n')
    prepared = prepare_net(net, seed=4)
    target = write_weights(tmp_path / "w.h5", prepared.blobs(), prepared.meta(), prepared.model)
    assert list(load_weights(target).params) == ["zeta", "alpha"]


# ------------------------------------------------------------------ the .npz container


def test_crc32_equals_zlibs() -> None:
    from caffefill import _core

    rng = np.random.default_rng(5)
    for n in (0, 1, 15, 16, 17, 63, 64, 65, 1000, 65535, 65536, 65537, 1 << 20):
        data = rng.integers(0, 256, n + 7, dtype=np.uint8)
        for offset in (0, 3):
            view = data[offset:offset + n]
            for start in (0, 1, 0xFFFFFFFF):
                assert _core.crc32(view.data, start) == zlib.crc32(view.data, start), \
                    (n, offset, start)
    floats = np.ones(1 << 18, dtype=np.float32)
    assert _core.crc32(floats.data) == zlib.crc32(floats.data)


@pytest.mark.slow
def test_stored_zip_is_a_valid_zip64_archive(tmp_path: Path) -> None:
    from caffefill.writers.zipstore import StoredZip

    members = {"a/0.npy": b"x" * 1000, "ünï/çode.npy": b"\x00\x01" * 77, "empty": b"",
               **{f"many/{i}": i.to_bytes(3, "little") for i in range(70_000)}}
    path = tmp_path / "t.zip"
    with open(path, "wb") as out, StoredZip(out) as archive:
        for name, data in members.items():
            with archive.member(name, len(data)) as member:
                for k in range(0, len(data), 333):  # in pieces, as the .npz writer does
                    member.write(memoryview(data)[k:k + 333])
        archive.close()
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None  # every member's CRC-32 checked
        assert [i.filename for i in z.infolist()] == list(members)  # more than 65,535: ZIP64
        assert all(z.read(name) == data for name, data in list(members.items())[:5])
        assert z.getinfo("ünï/çode.npy").flag_bits & 0x800  # UTF-8 name


def test_stored_zip_refuses_a_member_of_the_wrong_size(tmp_path: Path) -> None:
    from caffefill.writers.zipstore import StoredZip

    with open(tmp_path / "t.zip", "wb") as out, StoredZip(out) as archive, \
            pytest.raises(RuntimeError, match="3 bytes written, 4 declared"), \
            archive.member("m", 4) as member:
        member.write(b"abc")


@pytest.mark.parametrize("stream", [False, True])
def test_stored_zip_crc_thread_writes_the_same_bytes(tmp_path: Path, stream: bool) -> None:
    # Large writes have their CRC-32 taken on a thread of its own while the
    # bytes are written: the archive is byte for byte the one written
    # without it, and every member's CRC checks.
    from caffefill.writers.zipstore import THREADED_CRC_BYTES, StoredZip

    rng = np.random.default_rng(8)
    big = rng.integers(0, 256, 3 * THREADED_CRC_BYTES + 5, dtype=np.uint8).tobytes()
    pieces = {"a.npy": [big[:100], big[100:THREADED_CRC_BYTES + 100],
                        big[THREADED_CRC_BYTES + 100:]],
              "b.npy": [big[:THREADED_CRC_BYTES]], "c.npy": [b"xyz"]}
    written = []
    for threads in (True, False):
        path = tmp_path / f"t{threads}.zip"
        with open(path, "wb") as out, StoredZip(out, stream=stream, threads=threads) as archive:
            for name, parts in pieces.items():
                with archive.member(name, sum(map(len, parts))) as member:
                    for part in parts:
                        member.write(part)
            archive.close()
        written.append(path.read_bytes())
        with zipfile.ZipFile(path) as z:
            assert z.testzip() is None
            assert z.read("a.npy") == big
    assert written[0] == written[1]


def test_stored_zip_crc_thread_stops_when_a_write_fails(tmp_path: Path) -> None:
    import threading

    from caffefill.writers.zipstore import THREADED_CRC_BYTES, StoredZip

    class Full(io.BytesIO):
        def write(self, data: Any) -> int:
            if memoryview(data).nbytes >= THREADED_CRC_BYTES:
                raise OSError(28, "No space left on device")
            return super().write(data)

    def crc_threads() -> int:
        return sum(t.name == "caffefill-crc" for t in threading.enumerate())

    before = crc_threads()
    with pytest.raises(OSError, match="No space"), StoredZip(Full(), threads=True) as archive:
        assert crc_threads() == before + 1
        with archive.member("m", THREADED_CRC_BYTES) as member:
            member.write(bytes(THREADED_CRC_BYTES))
    assert crc_threads() == before


def test_npz_reads_back_with_numpy_and_zipfile(tmp_path: Path, reference: Any) -> None:
    prepared = prepare_net(LENET, seed=1701)
    out = write_weights(tmp_path / "w.npz", prepared.blobs(lazy=True), prepared.meta(),
                        prepared.model)
    with zipfile.ZipFile(out) as z:
        assert z.testzip() is None
    with np.load(out) as npz:
        for layer, arrays in reference.items():
            for index, array in enumerate(arrays):
                np.testing.assert_array_equal(npz[f"{layer}/{index}"], array)
        assert json.loads(str(npz["__meta__"]))["seed"] == 1701


def test_caffemodel_loss_layers_carry_the_loss_weight_caffe_adds(tmp_path: Path) -> None:
    # LossLayer::LayerSetUp adds loss_weight: 1 to a loss layer that sets none, and
    # Net::ToProto writes the layer's parameters as set up.
    from caffefill._proto import caffefill_pb2 as pb

    net = tmp_path / "loss.prototxt"
    net.write_text("""
layer { name: "data" type: "Input" top: "data" top: "label"
        input_param { shape { dim: 2 dim: 3 } shape { dim: 2 } } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
        inner_product_param { num_output: 4 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
layer { name: "half" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "half"
        loss_weight: 0.5 }
""")
    prepared = prepare_net(net, seed=1)
    out = tmp_path / "w.caffemodel"
    write_weights(out, prepared.blobs(), prepared.meta(), prepared.model)
    written = pb.NetParameter.FromString(out.read_bytes())
    weights = {layer.name: list(layer.loss_weight) for layer in written.layer}
    assert weights["loss"] == [1.0]
    assert weights["half"] == [0.5]
    assert weights["ip"] == [] and weights["data"] == []


def test_open_output_truncates_only_a_file_with_bytes(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # The empty temporary atomic_output makes is opened as it is: on ext4 a
    # truncation to size 0 makes the close start writing back the whole file.
    from caffefill.writers import atomic

    truncated: list[int] = []
    real = os.ftruncate

    def ftruncate(fd: int, length: int) -> None:
        truncated.append(length)
        real(fd, length)

    monkeypatch.setattr(os, "ftruncate", ftruncate)
    empty, full, absent = tmp_path / "empty", tmp_path / "full", tmp_path / "absent"
    empty.touch()
    full.write_bytes(b"an earlier, longer content")
    for path in (empty, full, absent):
        with atomic.open_output(path) as out:
            out.write(b"new")
        assert path.read_bytes() == b"new"
    assert truncated == [0]  # the file that had bytes, only
    with atomic.atomic_output(tmp_path / "w.npz") as temp, atomic.open_output(temp) as out:
        out.write(b"x")
    assert truncated == [0]


def test_open_output_preallocates_keeping_the_size(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # The disk space is reserved first (fallocate, FALLOC_FL_KEEP_SIZE): the
    # file still grows only as it is written.
    import ctypes

    from caffefill.writers import atomic

    path = tmp_path / "w.bin"
    with atomic.open_output(path, preallocate=1 << 20) as out:
        out.write(b"0123456789")
    assert path.read_bytes() == b"0123456789"

    calls: list[tuple[int, int, int]] = []
    failing = [0]  # the errno the fake fallocate fails with

    def fallocate(fd: int, mode: int, offset: int, length: int) -> int:
        calls.append((mode, offset, length))
        ctypes.set_errno(failing[0])
        return -1

    monkeypatch.setattr(atomic, "_fallocate", fallocate)
    for failing[0] in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):  # written without it
        with atomic.open_output(path, preallocate=123) as out:
            out.write(b"ab")
        assert path.read_bytes() == b"ab"
    assert calls == [(1, 0, 123)] * 3
    temp = tmp_path / "full.bin"
    opened = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0
    for failing[0] in (errno.ENOSPC, errno.EDQUOT):  # refused at once, nothing left open
        with pytest.raises(OSError) as raised:
            atomic.open_output(temp, preallocate=5)
        assert raised.value.errno == failing[0]
    if opened:
        assert len(os.listdir("/proc/self/fd")) == opened
    with atomic.open_output(path) as out:  # nothing to preallocate: not asked
        out.write(b"c")
    assert len(calls) == 5
