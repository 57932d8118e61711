"""``caffefill diff``'s report, pinned for equal files and for files that differ
(one value deep inside a blob, a shape, a missing blob, every value), in every
weights format, whichever way the values are compared (raw bytes or values);
a truncated file is one line and exit status 2; two equal .caffemodel files
are compared without importing numpy or protobuf."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_hostile import SRC, cli, one_error, write

from caffefill.cli import main
from caffefill.cli.app import COMMANDS, build_parser
from caffefill.diff import diff_weights
from caffefill.errors import CaffefillError
from caffefill.readers import load_weights, open_weights

NET = ('layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 2 dim: 1000 } '
       '} }\n'
       'layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { '
       'num_output: 300 weight_filler { type: "gaussian" std: 0.1 } bias_filler { '
       'type: "constant" value: 0.5 } } }\n'
       'layer { name: "ip2" type: "InnerProduct" bottom: "ip" top: "ip2" inner_product_param { '
       'num_output: 7 weight_filler { type: "xavier" } } }\n')
#: ip2 wider, and a layer more.
NET2 = NET.replace("num_output: 7", "num_output: 9") + (
    'layer { name: "ip3" type: "InnerProduct" bottom: "ip2" top: "ip3" inner_product_param { '
    'num_output: 2 weight_filler { type: "xavier" } } }\n')
#: The value changed: deep in ip/0 (300,000 values), past its first MiB.
DEEP = 299_123
TARGETS = ["w.caffemodel", "w_npy/", "w.h5", "w.safetensors"]

EQUAL = """\
  ip/0: identical [300, 1000]
  ip/1: identical [300]
  ip2/0: identical [7, 300]
  ip2/1: identical [7]
identical: 4/4 blobs identical
"""
ONE = """\
! ip/0: 1 values differ, max |a-b| = 0.249999993, first at index [299, 123], largest at index \
[299, 123] (a=-0.0783581361, b=0.171641856)
  ip/1: identical [300]
  ip2/0: identical [7, 300]
  ip2/1: identical [7]
DIFFERENT: 3/4 blobs identical
"""
SEED2 = """\
! ip/0: 300000 values differ, max |a-b| = 0.62780191, first at index [0, 0], largest at index \
[230, 233] (a=0.422728032, b=-0.205073878)
  ip/1: identical [300]
! ip2/0: 2100 values differ, max |a-b| = 0.197344184, first at index [0, 0], largest at index \
[1, 210] (a=-0.0975532308, b=0.0997909531)
  ip2/1: identical [7]
DIFFERENT: 2/4 blobs identical
"""


def _init(folder: Path, target: str, text: str = NET, seed: int = 1) -> str:
    net = write(folder, text, f"net{len(text)}.prototxt")
    out = f"{folder}/{target}"
    with contextlib.redirect_stdout(io.StringIO()):  # its summary line
        assert main(["init", str(net), "-o", out, "--seed", str(seed), "--quiet"]) == 0
    return out


def _change_one_value(path: str) -> None:
    """Add 0.25 to value DEEP of ip/0, in place (formats that store it as one run)."""
    with open_weights(path) as weights:
        span = weights.params["ip"][0].raw_f32
        assert span is not None and span.crc_expected is None
        file, at = span.file.path, span.offset + 4 * DEEP
    with open(file, "r+b") as handle:
        handle.seek(at)
        value = np.frombuffer(handle.read(4), "<f4")[0]
        handle.seek(at)
        handle.write(np.float32(value + np.float32(0.25)).tobytes())


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """Per format: (a, b), b with one value changed; "npz" written by numpy."""
    folder = tmp_path_factory.mktemp("diffout")
    pairs = {}
    for target in TARGETS:
        a = _init(folder, "a_" + target)
        b = _init(folder, "b_" + target)
        _change_one_value(b)
        pairs[target] = (a, b)
    for name, path in zip("ab", pairs[TARGETS[0]], strict=True):
        arrays = {f"{layer}/{i}": array for layer, blobs in load_weights(path).items()
                  for i, array in enumerate(blobs)}
        np.savez(folder / f"{name}.npz", **arrays)  # type: ignore[arg-type]
    pairs["npz"] = (str(folder / "a.npz"), str(folder / "b.npz"))
    return pairs


@pytest.mark.parametrize("target", [*TARGETS, "npz"])
def test_equal_and_one_value_deep_inside(files: dict[str, tuple[str, str]], target: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    a, b = files[target]
    assert cli("diff", a, a, capsys=capsys) == (0, EQUAL, "")
    assert cli("diff", a, b, capsys=capsys) == (1, ONE, "")
    assert cli("diff", a, a, "--quiet", capsys=capsys) == (0, "", "")
    assert cli("diff", a, b, "--quiet", capsys=capsys) == (1, "", "")
    status, out, _ = cli("diff", a, b, "--atol", "0.3", capsys=capsys)
    assert status == 0 and out.startswith(
        "~ ip/0: 1 values differ, all within tolerance, max |a-b| = 0.249999993, first at "
        "index [299, 123]") and out.endswith(
        "same within tolerance: 3/4 blobs identical, 1 within tolerance\n")
    status, out, _ = cli("diff", a, b, "--json", capsys=capsys)
    document = json.loads(out)
    assert status == 1 and document["a"] == a and not document["identical"]
    assert document["blobs"][0] == {
        "key": "ip/0", "layer": "ip", "index": 0, "status": "differ",
        "shape_a": [300, 1000], "shape_b": [300, 1000], "count_differ": 1,
        "count_beyond": 1, "first_index": [299, 123], "max_abs": 0.2499999925494194,
        "max_index": [299, 123], "max_a": -0.07835813611745834,
        "max_b": 0.17164185643196106}
    assert [blob["status"] for blob in document["blobs"]] == ["differ"] + 3 * ["identical"]
    assert document["blobs"][3] == {"key": "ip2/1", "layer": "ip2", "index": 1,
                                    "status": "identical", "shape_a": [7], "shape_b": [7]}


def test_across_formats(files: dict[str, tuple[str, str]],
                        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("diff", files["npz"][0], files["w.caffemodel"][1], capsys=capsys) == (1, ONE, "")
    assert cli("diff", files["w.h5"][1], files["w_npy/"][1], capsys=capsys) == (0, EQUAL, "")


def test_every_value_differs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _init(tmp_path, "a.caffemodel"), _init(tmp_path, "b.caffemodel", seed=2)
    assert cli("diff", a, b, capsys=capsys) == (1, SEED2, "")


def test_shape_and_missing_blobs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, c = _init(tmp_path, "a.caffemodel"), _init(tmp_path, "c.caffemodel", NET2)
    head = "  ip/0: identical [300, 1000]\n  ip/1: identical [300]\n"
    tail = (f"! ip3/0: only in {c}\n! ip3/1: only in {c}\n"
            "DIFFERENT: 2/6 blobs identical\n")
    assert cli("diff", a, c, capsys=capsys) == (
        1, head + "! ip2/0: shape [7, 300] vs [9, 300]\n! ip2/1: shape [7] vs [9]\n" + tail, "")
    assert cli("diff", c, a, capsys=capsys) == (
        1, head + "! ip2/0: shape [9, 300] vs [7, 300]\n! ip2/1: shape [9] vs [7]\n" + tail, "")
    status, out, _ = cli("diff", a, c, "--json", capsys=capsys)
    blobs = json.loads(out)["blobs"]
    assert status == 1 and blobs[2] == {"key": "ip2/0", "layer": "ip2", "index": 0,
                                        "status": "shape", "shape_a": [7, 300],
                                        "shape_b": [9, 300]}
    assert blobs[4] == {"key": "ip3/0", "layer": "ip3", "index": 0, "status": "only-b",
                        "shape_a": None, "shape_b": [2, 9]}


@pytest.mark.parametrize("keep", [40, 605_031, 1_210_059])
def test_truncated_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    keep: int) -> None:
    a = _init(tmp_path, "a.caffemodel")
    cut = tmp_path / "cut.caffemodel"
    cut.write_bytes(Path(a).read_bytes()[:keep])
    status, out, err = cli("diff", a, str(cut), capsys=capsys)
    assert status == 2 and out == ""
    error = one_error(err)
    assert error["file"] == str(cut)
    assert error["message"] == ("not a binary NetParameter (a field runs past its message: "
                                "truncated or damaged)")


def test_file_cut_while_compared(tmp_path: Path) -> None:
    # Cut after the index is read: the helper thread that reads the second file
    # meets the end, and its error is the comparison's.
    a, b = _init(tmp_path, "a.caffemodel"), _init(tmp_path, "b.caffemodel")
    with open_weights(a) as wa, open_weights(b) as wb:
        with open(b, "r+b") as handle:
            handle.truncate(600_000)
        with pytest.raises(CaffefillError, match=r"the file ends inside its values \(truncated\)"):
            diff_weights(wa.params, wb.params)


CHILD = """\
import sys
from caffefill.cli import main
status = main(sys.argv[1:])
print(status, "numpy" in sys.modules, "google.protobuf" in sys.modules)
"""


def test_equal_caffemodels_compared_without_numpy(tmp_path: Path) -> None:
    a, b = _init(tmp_path, "a.caffemodel"), _init(tmp_path, "b.caffemodel")
    c = _init(tmp_path, "c.caffemodel", seed=2)

    def child(*argv: str) -> list[str]:
        result = subprocess.run([sys.executable, "-c", CHILD, "diff", *argv], check=True,
                                capture_output=True, text=True, timeout=120,
                                env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
        return result.stdout.splitlines()

    assert child(a, b) == [*EQUAL.splitlines(), "0 False False"]
    assert child(a, b, "--json")[-1] == "0 False False"
    # A piece that differs is looked at with numpy.
    assert child(a, c) == [*SEED2.splitlines(), "1 True False"]


def test_field_numbers_are_caffe_protos() -> None:
    from caffefill._proto import caffefill_pb2 as pb
    from caffefill.readers import caffemodel

    def numbers(message: object, names: object) -> dict[str, int]:
        fields = message.DESCRIPTOR.fields_by_name  # type: ignore[attr-defined]
        return {name: fields[name].number for name in names}  # type: ignore[attr-defined]

    assert numbers(pb.NetParameter, caffemodel._NET) == caffemodel._NET
    assert numbers(pb.LayerParameter, caffemodel._LAYER) == caffemodel._LAYER
    assert numbers(pb.V1LayerParameter, caffemodel._V1) == caffemodel._V1
    assert numbers(pb.BlobProto, caffemodel._BLOB) == caffemodel._BLOB
    assert pb.BlobShape.DESCRIPTOR.fields_by_name["dim"].number == caffemodel._DIM


@pytest.mark.parametrize("command", COMMANDS)
def test_one_command_parser_is_the_full_ones(command: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    # `caffefill CMD ...` builds CMD's parser alone: the same help, options, defaults.
    helps = []
    for parser in (build_parser(), build_parser(command)):
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--help"])
        helps.append(capsys.readouterr().out)
    assert helps[0] == helps[1] and command in helps[0]
