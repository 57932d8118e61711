"""Hostile and broken input: one line, exit 2, nothing half-written, no hangs.

Every case of the issue "Hostile input and failure safety" is pinned here:
syntax garbage, invalid UTF-8, deep nesting, huge files, thousands of
layers, colliding layer names, undefined and cyclic bottoms, bad dims,
blobs past Caffe's int32 limit, kernels larger than their input, unknown
layer and filler types, fills Caffe never returns from, memory estimates,
and outputs interrupted by signals.  tests/test_fuzz.py runs the generated
inputs.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import caffefill
from caffefill.cli import main
from caffefill.errors import CaffefillError, FillerError
from caffefill.net.load import load_net
from caffefill.net.reader import MAX_BYTES, MAX_DEPTH, read_net

ROOT = Path(__file__).resolve().parents[1]
# The folder holding the caffefill the tests import (installed or in place), so
# child processes run that same build.
SRC = Path(caffefill.__file__).resolve().parents[1]
INPUT = 'layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 ' \
        'dim: 8 dim: 8 } } }\n'
ERROR_LINE = re.compile(r"^caffefill: error: ((?P<file>[^:]+)(:(?P<line>\d+):(?P<col>\d+))?: )?"
                        r"(layer '(?P<layer>[^']*)': )?(?P<message>.+)$")


def cli(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def one_error(err: str) -> re.Match[str]:
    """The single 'caffefill: error:' line of stderr (warnings may come before it)."""
    assert "Traceback" not in err and "internal error" not in err, err
    lines = [line for line in err.splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1, err
    match = ERROR_LINE.match(lines[0])
    assert match is not None, lines[0]
    return match


def write(tmp_path: Path, text: str | bytes, name: str = "net.prototxt") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | bytes,
            *, line: int | None, layer: str | None, match: str, command: str = "init"
            ) -> re.Match[str]:
    """The net is refused by ``command`` with one located line; nothing is written."""
    net = write(tmp_path, text)
    argv = [command, str(net)]
    if command == "init":
        argv += ["-o", str(tmp_path / "w.npz"), "--seed", "1", "--quiet"]
    status, _, err = cli(*argv, capsys=capsys)
    assert status == 2, err
    found = one_error(err)
    assert found["file"] == str(net)
    if line is not None:
        assert found["line"] == str(line), err
    if layer is not None:
        assert found["layer"] == layer, err
    assert re.search(match, found["message"]), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.prototxt"]
    return found


# ------------------------------------------------------------------ syntax


@pytest.mark.parametrize("text,line,match", [
    (b"\x00\x01{{{ ]]] ::", 1, "unexpected character U\\+0000"),
    (b'name: "n"\nlayer {\n  name: "\xff\xfe"\n}\n', 3, "invalid UTF-8"),
    (b"layer { name: 'x' type: }", 1, "expected a value"),
    (b"layer { layer { layer", 1, "end of file"),
    (b"}}}}", 1, "no block is open"),
    (b'name: "unterminated\n', 1, "not closed"),
    (b"input_dim: 99999999999999999999999", 1, "out of range"),
    (b"\xef\xbb\xbf" + b"name: 1.2.3", 1, "second decimal point"),
])
def test_syntax_garbage_is_one_located_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            text: bytes, line: int, match: str) -> None:
    for command in ("init", "show"):
        refused(tmp_path, capsys, text, line=line, layer=None, match=match, command=command)


def test_deep_nesting_is_refused_without_recursion(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    deep = "a " + "{ a " * 100_000 + "}" * 100_000
    refused(tmp_path, capsys, deep, line=1, layer=None, match=f"deeper than {MAX_DEPTH}")
    known = "layer { " * 300
    refused(tmp_path, capsys, known, line=1, layer=None, match="deeper than")


def test_huge_file_is_refused_before_reading_it_all(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    net = tmp_path / "net.prototxt"
    with open(net, "wb") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: no disk used
    start = time.monotonic()
    for command in ("show", "upgrade", "init"):
        argv = [command, str(net)] + ([] if command == "show" else ["-o", str(tmp_path / "o.npz")])
        status, _, err = cli(*argv, capsys=capsys)
        assert status == 2
        found = one_error(err)
        assert found["file"] == str(net) and "CAFFEFILL_MAX_PROTOTXT_BYTES" in found["message"]
    assert time.monotonic() - start < 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.prototxt"]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_endless_input_is_bounded(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = cli("show", "/dev/zero", capsys=capsys)
    assert status == 2 and "larger than" in one_error(err)["message"]


def test_unreadable_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for path in (tmp_path, tmp_path / "missing.prototxt"):
        status, _, err = cli("show", str(path), capsys=capsys)
        assert status == 2 and "cannot read the file" in one_error(err)["message"]


def test_text_with_surrogates_is_refused() -> None:
    with pytest.raises(CaffefillError, match="UTF-8"):
        read_net("x.prototxt", text='name: "\ud800"')


def test_control_characters_stay_escaped_on_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = INPUT + ('layer { name: "evil\\x1b[2J\\u2028\\f" type: "Nope" bottom: "data" '
                    'top: "y" }\n')
    found = refused(tmp_path, capsys, text, line=2, layer=None, match="unknown layer type")
    assert "\\x1b[2J\\u2028\\x0c" in found["layer"]
    status, _, err = cli("fill", "--filler", 'type: "gaussian"\x0c\u2028 std: x', "--shape", "2",
                         "--seed", "1", capsys=capsys)
    assert status == 2 and "cannot read filler" in one_error(err).group(0)


# ------------------------------------------------------------------ nets


def test_thousands_of_layers_and_repeated_blobless_names(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parts = ['layer { name: "in" type: "Input" top: "x0" input_param { shape { dim: 1 dim: 4 '
             '} } }\n']
    n = 3000
    for i in range(n):
        parts.append(f'layer {{ name: "ip{i}" type: "InnerProduct" bottom: "x{i}" top: '
                     f'"x{i + 1}" inner_product_param {{ num_output: 4 }} }}\n'
                     f'layer {{ name: "relu" type: "ReLU" bottom: "x{i + 1}" top: "x{i + 1}" }}\n')
    net = write(tmp_path, "".join(parts))
    start = time.monotonic()
    status, out, err = cli("init", str(net), "-o", str(tmp_path / "w.npz"), "--seed", "1",
                           "--quiet", capsys=capsys)
    assert status == 0, err
    assert f"{2 * n} blobs" in out
    assert time.monotonic() - start < 60


def test_two_owners_under_one_name_are_refused(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    text = INPUT + (
        'layer { name: "ip" type: "InnerProduct" bottom: "data" top: "a" '
        'inner_product_param { num_output: 2 } }\n'
        'layer { name: "relu" type: "ReLU" bottom: "a" top: "a" }\n'
        'layer { name: "relu" type: "ReLU" bottom: "a" top: "a" }\n'
        'layer { name: "ip" type: "InnerProduct" bottom: "data" top: "b" '
        'inner_product_param { num_output: 2 } }\n')
    refused(tmp_path, capsys, text, line=5, layer="ip", match="would collide")
    refused(tmp_path, capsys, text, line=5, layer="ip", match="would collide", command="show")


@pytest.mark.parametrize("text,line,layer,match", [
    (INPUT + 'layer { name: "r" type: "ReLU" bottom: "nope" top: "x" }\n', 2, "r",
     "unknown bottom blob 'nope'"),
    ('layer { name: "a" type: "ReLU" bottom: "b" top: "a" }\n'
     'layer { name: "b" type: "ReLU" bottom: "a" top: "b" }\n', 1, "a", "unknown bottom blob 'b'"),
    ('layer { name: "a" type: "ReLU" bottom: "a" top: "a" }\n', 1, "a", "unknown bottom blob"),
    ('layer { name: "in" type: "Input" top: "d" input_param { shape { dim: -2 dim: 3 } } }\n',
     1, "in", "negative dim"),
    ('layer { name: "in" type: "Input" top: "d" input_param { shape { dim: 0 dim: 3 } } }\n',
     1, "in", "must be positive"),
    (INPUT + 'layer { name: "ip" type: "InnerProduct" bottom: "data" top: "b" '
     'inner_product_param { num_output: 2000000000 } }\n', 2, "ip", "int32"),
    (INPUT + 'layer { name: "ip" type: "InnerProduct" bottom: "data" top: "b" '
     'inner_product_param { num_output: 4294967295 } }\n', 2, "ip", "positive"),
    ('layer { name: "in" type: "Input" top: "d" input_param { shape { dim: 65536 dim: 65536 '
     '} } }\n', 1, "in", "int32"),
    (INPUT + 'layer { name: "c" type: "Convolution" bottom: "data" top: "b" '
     'convolution_param { num_output: 2 kernel_size: 100 } }\n', 2, "c", "empty"),
    (INPUT + 'layer { name: "c" type: "Convolution" bottom: "data" top: "b" convolution_param '
     '{ num_output: 2 kernel_size: 4294967295 stride: 4294967295 pad: 4294967295 } }\n', 2, "c",
     "kernel sizes must be positive"),
    (INPUT + 'layer { name: "c" type: "Convolution" bottom: "data" top: "b" convolution_param '
     '{ num_output: 2 kernel_size: 3 pad: 2147483647 stride: 1 } }\n', 2, "c", "int32"),
    (INPUT + 'layer { name: "p" type: "Pooling" bottom: "data" top: "b" pooling_param '
     '{ kernel_size: 2147483647 stride: 2147483647 } }\n', 2, "p", "empty"),
    (INPUT + 'layer { name: "c" type: "Convolutoin" bottom: "data" top: "b" }\n', 2, "c",
     "did you mean 'Convolution'"),
    ('layer { name: "d" type: "DummyData" top: "x" dummy_data_param { shape { dim: 2 } '
     'data_filler { type: "bogus" } } }\n', 1, "d", 'unknown filler type "bogus"'),
    (INPUT + 'layer { name: "loss" type: "Reduction" bottom: "data" top: "s" reduction_param '
     '{ axis: 0 } }\nlayer { name: "bn" type: "BatchNorm" bottom: "s" top: "t" }\n', 3, "bn",
     "out of range for a 0-D input"),
    (INPUT + 'layer { name: "pb" type: "PriorBox" bottom: "data" bottom: "data" top: "p" '
     'prior_box_param { min_size: 4 aspect_ratio: 0 flip: true } }\n', None, None, None),
])
def test_broken_nets_are_one_located_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          text: str, line: int | None, layer: str | None,
                                          match: str | None) -> None:
    if match is None:  # accepted (as Caffe accepts it): shows and fills
        net = write(tmp_path, text)
        assert cli("show", str(net), capsys=capsys)[0] == 0
        return
    for command in ("show", "init"):
        refused(tmp_path, capsys, text, line=line, layer=layer, match=match, command=command)


def test_unknown_weight_filler_type_refused_at_init(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    text = INPUT + ('layer { name: "ip" type: "InnerProduct" bottom: "data" top: "b" '
                    'inner_product_param { num_output: 2 weight_filler { type: "xavierr" } } }\n')
    refused(tmp_path, capsys, text, line=2, layer="ip", match='did you mean "xavier"')


def test_layer_names_a_format_cannot_hold(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("h5py")
    text = INPUT + ('layer { name: "a/b" type: "InnerProduct" bottom: "data" top: "b" '
                    'inner_product_param { num_output: 2 } }\n')
    net = write(tmp_path, text)
    status, _, err = cli("init", str(net), "-o", str(tmp_path / "w.h5"), "--seed", "1",
                         capsys=capsys)
    assert status == 2 and "HDF5 group names" in err and one_error(err)["line"] == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.prototxt"]
    status, _, err = cli("init", str(net), "-o", str(tmp_path / "w.npz"), "--seed", "1",
                         capsys=capsys)
    assert status == 0, err


def test_output_onto_a_device_is_refused(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    net = write(tmp_path, INPUT)
    status, _, err = cli("init", str(net), "-o", os.devnull, "--format", "npz", "--force",
                         capsys=capsys)
    assert status == 2 and "not a regular file" in err
    assert Path(os.devnull).is_char_device()


# ------------------------------------------------------------------ fills that never end

FLT_MAX = "3.4028235e38"


@pytest.mark.parametrize("filler,match", [
    (f'type: "uniform" min: {FLT_MAX} max: {FLT_MAX}', "largest float"),
    ('type: "uniform" min: -inf max: -inf', "not a finite range"),
    ('type: "uniform" min: inf max: inf', "not a finite range"),
    ('type: "uniform" min: 0 max: inf', "not a finite range"),
    ('type: "uniform" min: nan max: 1', "greater than max"),
])
@pytest.mark.parametrize("boost", ["1.55", "1.58", "1.74"])
def test_uniform_fills_caffe_never_returns_from_are_refused(filler: str, match: str,
                                                           boost: str) -> None:
    start = time.monotonic()
    with pytest.raises(FillerError, match=match):
        caffefill.fill(filler, (4, 4), seed=1, boost=boost)
    assert time.monotonic() - start < 1


def test_narrow_ranges_at_the_top_of_float_terminate() -> None:
    # 3.4e38 is below FLT_MAX: nextafter moves past it, about half the draws land.
    values = caffefill.fill('type: "uniform" min: 3.4e38 max: 3.4e38', (10_000,), seed=1)
    assert np.all(values == np.float32(3.4e38))
    below = caffefill.fill(f'type: "uniform" min: 3.4e38 max: {FLT_MAX}', (1000,), seed=1)
    assert np.all(np.isfinite(below))
    wide = caffefill.fill(f'type: "uniform" min: -{FLT_MAX} max: {FLT_MAX}', (1000,), seed=1)
    assert np.all(np.isfinite(wide))


def test_hanging_fill_is_refused_through_the_cli(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    text = INPUT + ('layer { name: "ip" type: "InnerProduct" bottom: "data" top: "b" '
                    f'inner_product_param {{ num_output: 2 weight_filler {{ type: "uniform" '
                    f'min: {FLT_MAX} max: {FLT_MAX} }} }} }}\n')
    refused(tmp_path, capsys, text, line=2, layer="ip", match="never returns")


def test_filler_text_unknown_field_is_refused_with_a_hint() -> None:
    with pytest.raises(FillerError, match="did you mean 'std'"):
        caffefill.fill('type: "gaussian" stdd: 0.1', (3,), seed=1)


@pytest.mark.parametrize("shape", [(0, 2**31 - 1, 2**31 - 1), (2**31,), (1,) * 33, (-1, 2)])
def test_fill_shapes_no_blob_can_have(shape: tuple[int, ...]) -> None:
    with pytest.raises(FillerError):
        caffefill.fill('type: "bilinear"', shape, seed=1)


# ------------------------------------------------------------------ memory

LSTM = ('layer {{ name: "in" type: "Input" top: "x" top: "c" input_param {{ shape {{ dim: {t} '
        'dim: 1 dim: 8 }} shape {{ dim: {t} dim: 1 }} }} }}\n'
        'layer {{ name: "lstm" type: "LSTM" bottom: "x" bottom: "c" top: "h" recurrent_param {{ '
        'num_output: {h} weight_filler {{ type: "uniform" min: -0.1 max: 0.1 }} }} }}\n')


def test_unrolled_time_steps_cost_nothing_to_set_up() -> None:
    from caffefill.memory import estimate_bytes
    from caffefill.show import summarize

    start = time.monotonic()
    _, model = load_net("lstm.prototxt", text=LSTM.format(t=2_000_000_000 // 8, h=4))
    lstm = model.layer("lstm")
    assert len(lstm.draws) == 3 + 2_000_000_000 // 8 - 1
    assert estimate_bytes(model, "npz") < 2**27
    assert estimate_bytes(model, "npz", lazy=False) < 2**27
    summarize(model, caffefill.profiles.resolve())
    assert time.monotonic() - start < 2


def test_memory_estimate_covers_thrown_away_draws(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # LSTM: W_hc [4H, H] is drawn again (and thrown away) at every time step.
    net = write(tmp_path, LSTM.format(t=3, h=8192))
    status, _, err = cli("init", str(net), "-o", str(tmp_path / "w.npz"), "--max-memory",
                         "900M", capsys=capsys)
    assert status == 2
    message = one_error(err)["message"]
    assert "needs about" in message and "--max-memory" in message
    gib = float(re.search(r"needs about ([\d.]+) GiB", message).group(1))  # type: ignore[union-attr]
    assert gib > 2 * 4 * 4 * 8192 * 8192 / 2**30  # W_hc kept + one thrown-away copy


def test_huge_dummy_data_top_is_never_allocated(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    dummy = ('layer { name: "d" type: "DummyData" top: "x" dummy_data_param { shape { dim: 2 '
             'dim: 1000000000 } data_filler { type: "constant" value: 1 } } }\n')
    # The 8 GB top is filled with a constant and thrown away: only checked, never allocated.
    net = write(tmp_path, dummy + 'layer { name: "r" type: "ReLU" bottom: "x" top: "x" }\n')
    status, _, err = cli("init", str(net), "-o", str(tmp_path / "w.npz"), "--seed", "1",
                         "--max-memory", "100M", "--quiet", capsys=capsys)
    assert status == 0, err
    # A PReLU over it owns a 4 GB blob that positive_unitball fills at once: refused up
    # front, with the estimate.
    net = write(tmp_path, dummy + 'layer { name: "p" type: "PReLU" bottom: "x" top: "y" '
                'prelu_param { filler { type: "positive_unitball" } } }\n')
    (tmp_path / "w.npz").unlink()
    status, _, err = cli("init", str(net), "-o", str(tmp_path / "w.npz"), "--seed", "1",
                         "--max-memory", "100M", "--quiet", capsys=capsys)
    assert status == 2
    message = one_error(err)["message"]
    gib = float(re.search(r"needs about ([\d.]+) GiB", message).group(1))  # type: ignore[union-attr]
    assert 4e9 / 2**30 < gib < 4e9 / 2**30 + 0.2  # the blob, plus the run's fixed overhead


def test_memory_estimate_follows_streaming() -> None:
    from caffefill.memory import estimate_bytes

    # Scale's 4 GB blob (constant 1) is drawn and written piece by piece, except to .h5.
    _, model = load_net("s.prototxt", text=(
        'layer { name: "d" type: "DummyData" top: "x" dummy_data_param { shape { dim: 2 '
        'dim: 1000000000 } } }\nlayer { name: "s" type: "Scale" bottom: "x" top: "y" }\n'))
    assert estimate_bytes(model, "npz") < 2**27
    assert estimate_bytes(model, "caffemodel") < 2**27
    assert estimate_bytes(model, "h5") > 2**31
    assert estimate_bytes(model, "npz", lazy=False) > 2**31


def test_fill_command_has_a_memory_cap(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = cli("fill", "--type", "gaussian", "--shape", "2147483647", "--seed", "1",
                         "--max-memory", "1G", capsys=capsys)
    assert status == 2 and "--max-memory" in one_error(err).group(0)


HUGE = ('name: "huge"\n'
        'layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 46341 } } }\n'
        'layer { name: "ip1" type: "InnerProduct" bottom: "x" top: "y" inner_product_param { '
        'num_output: 46340 weight_filler { type: "xavier" } } }\n'
        'layer { name: "ip2" type: "InnerProduct" bottom: "y" top: "z" inner_product_param { '
        'num_output: 46340 weight_filler { type: "gaussian" std: 0.01 } } }\n'
        'layer { name: "d" type: "DummyData" top: "dd" dummy_data_param { shape { dim: '
        '2000000000 } } }\n')


def _limited(args: list[str], limit: int) -> subprocess.CompletedProcess[str]:
    import resource

    def set_limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return subprocess.run([sys.executable, "-m", "caffefill.cli", *args], capture_output=True,
                          text=True, preexec_fn=set_limit, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(SRC)})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS as on Linux")
def test_show_and_audit_allocate_no_blob_memory(tmp_path: Path) -> None:
    # 16 GiB of blobs, 2 GiB of address space: show and audit only read shapes.
    net = write(tmp_path, HUGE)
    result = _limited(["show", str(net)], 2 * 2**30)
    assert result.returncode == 0, result.stderr
    assert "16.0 GiB" in result.stdout
    result = _limited(["audit", str(net)], 2 * 2**30)
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr and "out of memory" not in result.stderr
    # init sees the limit in its default cap and refuses up front what it cannot stream
    # (positive_unitball normalises whole rows: the 8 GiB blob is filled at once).
    net = write(tmp_path, HUGE.replace('"xavier"', '"positive_unitball"'))
    result = _limited(["init", str(net), "-o", str(tmp_path / "w.npz")], 2 * 2**30)
    assert result.returncode == 2 and "--max-memory" in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.prototxt"]


def test_available_memory_sees_ulimit() -> None:
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30)); "
            "from caffefill.memory import available_memory; print(available_memory())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(SRC)}, check=True)
    assert int(result.stdout) <= 3 * 2**30


# ------------------------------------------------------------------ outputs and signals

BIG = "\n".join(
    ['layer { name: "in" type: "Input" top: "x0" input_param { shape { dim: 1 dim: 2048 } } }'] +
    [f'layer {{ name: "ip{i}" type: "InnerProduct" bottom: "x{i}" top: "x{i + 1}" '
     f'inner_product_param {{ num_output: 2048 weight_filler {{ type: "gaussian" std: 0.01 }} '
     f'}} }}' for i in range(10)]) + "\n"


def _interrupt_mid_write(tmp_path: Path, target: str, signum: int, *extra: str
                         ) -> tuple[subprocess.CompletedProcess[str], bool]:
    net = write(tmp_path, BIG)
    proc = subprocess.Popen(
        [sys.executable, "-m", "caffefill.cli", "init", str(net), "-o", f"{tmp_path}/{target}",
         "--seed", "1", "--boost", "1.55", "--quiet", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)})
    seen = False
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        temps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        if temps and ((temps[0].is_dir() and any(temps[0].iterdir()))
                      or (temps[0].is_file() and temps[0].stat().st_size > 0)):
            seen = True
            proc.send_signal(signum)
            break
        time.sleep(0.002)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), seen


@pytest.mark.parametrize("target", ["w.npz", "w.caffemodel", "w_npy/"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_write_leaves_nothing(tmp_path: Path, target: str, signum: int) -> None:
    result, seen = _interrupt_mid_write(tmp_path, target, signum)
    assert seen, "the run ended before it could be interrupted"
    assert result.returncode == 128 + signum, result.stderr
    assert "nothing was written" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.prototxt"]


def test_interrupted_forced_run_keeps_the_old_output(tmp_path: Path) -> None:
    (tmp_path / "w.npz").write_bytes(b"the old weights")
    result, seen = _interrupt_mid_write(tmp_path, "w.npz", signal.SIGINT, "--force")
    assert seen and result.returncode == 130, result.stderr
    assert (tmp_path / "w.npz").read_bytes() == b"the old weights"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.prototxt", "w.npz"]


def test_terminate_handler_is_restored_after_main(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    assert main(["show", str(write(tmp_path, INPUT))]) == 0
    assert signal.getsignal(signal.SIGTERM) == before


# ------------------------------------------------------------------ damaged weight files


@pytest.mark.parametrize("fmt", ["npz", "caffemodel", "npy", "h5"])
def test_damaged_weights_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      fmt: str) -> None:
    if fmt == "h5":
        pytest.importorskip("h5py")
    net = write(tmp_path, INPUT + 'layer { name: "ip" type: "InnerProduct" bottom: "data" '
                'top: "b" inner_product_param { num_output: 2 } }\n')
    target = {"npz": "a.npz", "caffemodel": "a.caffemodel", "npy": "a_npy/", "h5": "a.h5"}[fmt]
    assert main(["init", str(net), "-o", f"{tmp_path}/{target}", "--seed", "1", "--quiet"]) == 0
    good = tmp_path / target.rstrip("/")
    file = good / "ip%2F0.npy" if fmt == "npy" else good
    data = file.read_bytes()
    capsys.readouterr()
    for damaged in (b"", data[: len(data) // 2], data[:40] + b"\xff" * 40 + data[80:]):
        file.write_bytes(damaged)
        status, _, err = cli("diff", str(good), str(good), capsys=capsys)
        if fmt == "caffemodel" and not damaged:
            assert status == 0  # an empty message is a valid (empty) NetParameter
            continue
        assert status == 2, err
        one_error(err)
    file.write_bytes(data)
    assert cli("diff", str(good), str(good), capsys=capsys)[0] == 0


def test_weights_header_cannot_make_diff_allocate(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    array = tmp_path / "x.npy"
    np.save(array, np.zeros(4, np.float32))
    header = array.read_bytes().replace(b"(4,)", b"(4000000000000,)".ljust(4))
    folder = tmp_path / "w_npy"
    folder.mkdir()
    (folder / "x.0.npy").write_bytes(header)
    (folder / "meta.json").write_text('{"blobs": [{"file": "x.0.npy", "layer": "x", '
                                      '"index": 0}]}')
    status, _, err = cli("diff", str(folder), str(folder), capsys=capsys)
    assert status == 2 and "truncated or damaged" in one_error(err)["message"]


def test_closed_stdout_ends_quietly(tmp_path: Path) -> None:
    parts = [INPUT] + [f'layer {{ name: "c{i}" type: "Convolution" bottom: "data" top: "c{i}" '
                       f'convolution_param {{ num_output: 2 kernel_size: 1 }} }}\n'
                       for i in range(2000)]
    net = write(tmp_path, "".join(parts))
    proc = subprocess.Popen([sys.executable, "-m", "caffefill.cli", "show", str(net)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(SRC)})
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # like `caffefill show net | head -1`
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 128 + 13
    assert err == b""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE as on Linux")
@pytest.mark.parametrize("target", ["w.npz", "w.caffemodel", "w_npy/", "w.h5"])
def test_disk_full_leaves_nothing(tmp_path: Path, target: str) -> None:
    # A file size limit makes write() fail with EFBIG mid-file, as a full disk does.
    if target == "w.h5":
        pytest.importorskip("h5py")
    import resource

    net = write(tmp_path, BIG)
    (tmp_path / "keep.npz").write_bytes(b"old")

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, 2**20))

    for out in (target, "keep.npz"):
        result = subprocess.run(
            [sys.executable, "-m", "caffefill.cli", "init", str(net), "-o", f"{tmp_path}/{out}",
             "--seed", "1", "--quiet", "--force"], capture_output=True, text=True, timeout=120,
            preexec_fn=small_files, env={**os.environ, "PYTHONPATH": str(SRC)})
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
        assert "cannot write" in result.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.npz", "net.prototxt"]
    assert (tmp_path / "keep.npz").read_bytes() == b"old"


def test_empty_and_dotted_layer_names_round_trip(tmp_path: Path) -> None:
    text = INPUT + "".join(
        f'layer {{ name: "{name}" type: "InnerProduct" bottom: "data" top: "t{i}" '
        f'inner_product_param {{ num_output: 2 }} }}\n'
        for i, name in enumerate(["", ".", "..", "../x", "a/b", "%2E"]))
    net = write(tmp_path, text)
    for target in ("w.npz", "w.caffemodel", "w_npy/"):
        assert main(["init", str(net), "-o", f"{tmp_path}/{target}", "--seed", "1",
                     "--quiet"]) == 0
        back = caffefill.load_weights(tmp_path / target.rstrip("/"))
        assert list(back.params) == ["", ".", "..", "../x", "a/b", "%2E"]
    files = sorted(p.name for p in (tmp_path / "w_npy").iterdir())
    assert len(files) == 13 and all(p.is_file() for p in (tmp_path / "w_npy").iterdir())
    assert not any(name.startswith("..") for name in files)


def test_v0_int32_into_a_uint32_field_wraps_as_in_cpp() -> None:
    # V0's new_height is int32, V1's image_data_param.new_height uint32: C++ wraps.
    from caffefill.net.upgrade import upgrade_net

    src = read_net("v0.prototxt", text=(
        'layers { layer { name: "img" type: "images" new_height: -2 new_width: 3 } '
        'top: "data" top: "label" }\n'))
    layer = upgrade_net(src).param.layer[0]
    assert layer.image_data_param.new_height == 2**32 - 2
    assert layer.image_data_param.new_width == 3


@pytest.mark.parametrize("number", ["4294967296", "-4294967296", "18446744073709551616",
                                    "0x100000004"])
def test_enum_numbers_past_int32_are_refused(number: str) -> None:
    # upb's values_by_number truncates its key: 4294967296 would be found as value 0.
    with pytest.raises(CaffefillError, match="unknown value"):
        read_net("x.prototxt", text=f"layers {{ type: {number} }}")


@pytest.mark.parametrize("command", ["init", "show", "audit"])
def test_a_weights_file_named_as_the_net_says_so(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 command: str) -> None:
    net = tmp_path / "lenet.prototxt"
    net.write_text('name: "n"\nlayer { name: "ip" type: "InnerProduct" bottom: "x" top: "y" '
                   'inner_product_param { num_output: 300 weight_filler { type: "xavier" } } }\n'
                   'input: "x" input_dim: 1 input_dim: 1 input_dim: 1 input_dim: 300\n')
    weights = tmp_path / "w.caffemodel"
    assert main(["init", str(net), "--seed", "1", "-o", str(weights)]) == 0
    capsys.readouterr()
    args = [command, str(weights)] + (["-o", str(tmp_path / "x.npz")] if command == "init" else [])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "this is a weights file, not a net definition" in err
    assert str(tmp_path / "x.npz") not in {str(p) for p in tmp_path.iterdir()}
