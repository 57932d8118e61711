"""The progress line of ``init`` and ``diff``, read byte by byte from a pseudo-terminal."""

from __future__ import annotations

import fcntl
import os
import re
import struct
import subprocess
import sys
import termios
import tty
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="no pseudo-terminals")

#: One fc layer whose weight (4 M values) is drawn in four pieces, and its bias.
NET = """name: "big"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1000 } } }
layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc"
  inner_product_param { num_output: 4000 weight_filler { type: "gaussian" std: 0.01 }
                        bias_filler { type: "constant" value: 0.1 } } }
"""

FRAME = re.compile(rb"\[(#*) *\] +(\d+)% (\d+)/2 blobs [\d.]+/4\.0 M values \d+ M/s")


def _init_on_pty(tmp_path: Path, output: str, columns: int) -> tuple[bytes, bytes]:
    """Run ``init`` with stderr on a raw pseudo-terminal ``columns`` wide:
    (bytes it wrote to the terminal, its stdout)."""
    net = tmp_path / "big.prototxt"
    net.write_text(NET)
    return _on_pty(["init", str(net), "-o", str(tmp_path / output), "--seed", "1"], columns)


def _on_pty(args: list[str], columns: int, status: int = 0) -> tuple[bytes, bytes]:
    """Run ``caffefill ARGS`` with stderr on a raw pseudo-terminal ``columns``
    wide: (bytes it wrote to the terminal, its stdout)."""
    master, slave = os.openpty()
    tty.setraw(slave)  # the bytes as written: no "\n" -> "\r\n"
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "caffefill", *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    data = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        data += chunk
    os.close(master)
    assert proc.stdout is not None
    out = proc.stdout.read()
    assert proc.wait(timeout=120) == status
    return data, out


@pytest.mark.parametrize("output", ["w.caffemodel", "w.npz"])
def test_bar_moves_per_piece_and_ends_cleanly(tmp_path: Path, output: str) -> None:
    data, out = _init_on_pty(tmp_path, output, columns=120)
    assert out.startswith(str(tmp_path / output).encode() + b": 2 blobs")
    assert data.startswith(b"\r") and data.endswith(b"\x1b[K\n")
    frames = data[1:-1].split(b"\r")
    states = []
    for frame in frames:
        assert frame.endswith(b"\x1b[K")  # each redraw erases what a longer one left
        match = FRAME.fullmatch(frame[:-3])
        assert match, frame  # nothing else on the line
        bar, percent, blobs = match.group(1), int(match.group(2)), int(match.group(3))
        assert len(bar) == percent * 24 // 100
        states.append((percent, blobs))
    assert states == sorted(states)
    assert states[-1] == (100, 2)
    # The 4 M-value weight moves the bar while it is drawn, before it is done.
    assert any(0 < percent < 100 and blobs == 0 for percent, blobs in states)
    assert len(states) == len(set(states))  # redrawn only when something changed


def test_bar_fits_a_narrow_terminal(tmp_path: Path) -> None:
    data, _ = _init_on_pty(tmp_path, "w.npz", columns=40)
    for frame in data[1:-1].split(b"\r"):
        assert len(frame) - len(b"\x1b[K") <= 39


def test_nothing_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    net = tmp_path / "big.prototxt"
    net.write_text(NET)
    proc = subprocess.run(
        [sys.executable, "-m", "caffefill", "init", str(net), "-o", str(tmp_path / "w.npz"),
         "--seed", "1"], capture_output=True, timeout=120, check=True)
    assert proc.stderr == b""


def _frames(data: bytes) -> list[tuple[int, int]]:
    """(percent, blobs done) of each redraw of a finished bar."""
    assert data.startswith(b"\r") and data.endswith(b"\x1b[K\n")
    states = []
    for frame in data[1:-1].split(b"\r"):
        assert frame.endswith(b"\x1b[K")
        match = FRAME.fullmatch(frame[:-3])
        assert match, frame
        states.append((int(match.group(2)), int(match.group(3))))
    return states


@pytest.fixture(scope="module")
def two_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two .caffemodel files of NET: seeds 1 and 2 (every weight differs)."""
    folder = tmp_path_factory.mktemp("diff")
    net = folder / "big.prototxt"
    net.write_text(NET)
    paths = []
    for seed in (1, 2):
        out = folder / f"s{seed}.caffemodel"
        subprocess.run([sys.executable, "-m", "caffefill", "init", str(net), "-o", str(out),
                        "--seed", str(seed), "--quiet"], check=True, capture_output=True,
                       timeout=120)
        paths.append(out)
    return paths[0], paths[1]


@pytest.mark.parametrize("same", [True, False])
def test_diff_bar_moves_per_piece(two_files: tuple[Path, Path], same: bool) -> None:
    a, b = two_files
    data, out = _on_pty(["diff", str(a), str(a if same else b)], columns=120,
                        status=0 if same else 1)
    assert out.decode().splitlines()[-1].startswith("identical" if same else "DIFFERENT")
    states = _frames(data)
    assert states == sorted(states) and len(states) == len(set(states))
    assert states[-1] == (100, 2)
    # The 4 M-value weight moves the bar while it is compared, before it is done.
    assert any(0 < percent < 100 and blobs == 0 for percent, blobs in states)


def test_diff_no_bar_when_quiet_or_not_a_terminal(two_files: tuple[Path, Path]) -> None:
    a, _ = two_files
    data, out = _on_pty(["diff", str(a), str(a), "--quiet"], columns=120)
    assert data == b"" and out == b""
    proc = subprocess.run([sys.executable, "-m", "caffefill", "diff", str(a), str(a)],
                          capture_output=True, timeout=120, check=True)
    assert proc.stderr == b""
