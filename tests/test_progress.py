"""``init``'s progress line, read byte by byte from a pseudo-terminal."""

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
    master, slave = os.openpty()
    tty.setraw(slave)  # the bytes as written: no "\n" -> "\r\n"
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "caffefill", "init", str(net), "-o", str(tmp_path / output),
         "--seed", "1"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
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
    assert proc.wait(timeout=120) == 0
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
