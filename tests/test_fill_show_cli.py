"""``fill --print``, ``fill`` without a seed, and the fans ``show`` gives 1-D blobs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import caffefill
from caffefill.cli.app import main

LENET = Path(__file__).resolve().parent.parent / "examples" / "lenet.prototxt"


def test_fill_print_shows_a_bilinear_kernel_in_its_shape(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fill", "--type", "bilinear", "--shape", "1,1,4,4", "--seed", "1",
                 "--print"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == ["[[[[0.0625 0.1875 0.1875 0.0625]",
                         "   [0.1875 0.5625 0.5625 0.1875]",
                         "   [0.1875 0.5625 0.5625 0.1875]",
                         "   [0.0625 0.1875 0.1875 0.0625]]]]"]


def test_fill_print_values_read_back_exactly(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fill", "--type", "gaussian", "--std", "0.01", "--shape", "3,4", "--seed",
                 "5", "--print"]) == 0
    text = "\n".join(capsys.readouterr().out.splitlines()[1:])
    printed = np.array([float(v) for v in re.findall(r"[-+.0-9e]+", text)], dtype=np.float32)
    expected = caffefill.fill('type: "gaussian" std: 0.01', (3, 4), seed=5)
    np.testing.assert_array_equal(printed.reshape(3, 4), expected)


def test_fill_without_seed_uses_a_random_one_and_says_which(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "w.npy"
    assert main(["fill", "--type", "xavier", "--shape", "8,3,3,3", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    seed = int(re.fullmatch(r"caffefill: no --seed given; using seed (\d+)\n",
                            captured.err).group(1))  # type: ignore[union-attr]
    assert f"seed={seed} " in captured.out
    np.testing.assert_array_equal(np.load(out),
                                  caffefill.fill('type: "xavier"', (8, 3, 3, 3), seed=seed))


def test_show_gives_no_fans_to_biases(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(LENET), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["blobs"]
    assert [(r["fan_in"], r["fan_out"]) for r in rows if r["layer"] == "conv1"] == \
        [(25, 500), (None, None)]
    assert main(["show", str(LENET)]) == 0
    bias = next(line for line in capsys.readouterr().out.splitlines()
                if line.startswith("conv1") and "constant" in line)
    assert bias.split()[4:8] == ["constant(value=0)", "-", "-", "0"]
    # A 1-D blob whose filler scales by its fans keeps them: they set its std.
    net = tmp_path / "net.prototxt"
    net.write_text(LENET.read_text().replace(
        'bias_filler { type: "constant" }', 'bias_filler { type: "xavier" }', 1))
    assert main(["show", str(net), "--json"]) == 0
    bias_row = json.loads(capsys.readouterr().out)["blobs"][1]
    assert bias_row["filler"].startswith("xavier")
    assert (bias_row["fan_in"], bias_row["fan_out"]) == (1, 20)
