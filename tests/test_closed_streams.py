"""A closed standard stream (``2>&-``, cron and daemon style) is a normal
situation: every command works without it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA

import caffefill

SRC = Path(caffefill.__file__).resolve().parents[1]
LENET = DATA.parent.parent / "examples" / "lenet.prototxt"


def _closing(*fds: int) -> Callable[[], None]:
    def close() -> None:
        for fd in fds:
            os.close(fd)
    return close


def _run(args: list[str], *closed: int) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "caffefill", *args], preexec_fn=_closing(*closed),
        stdout=subprocess.DEVNULL if 1 in closed else subprocess.PIPE,
        stderr=subprocess.DEVNULL if 2 in closed else subprocess.PIPE,
        stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(SRC)}, timeout=120,
        check=False)


@pytest.mark.parametrize("closed", [(2,), (1,), (1, 2), (0, 1, 2)])
def test_init_without_standard_streams(tmp_path: Path, closed: tuple[int, ...]) -> None:
    out = tmp_path / "w.npz"
    result = _run(["init", str(LENET), "-o", str(out), "--seed", "1"], *closed)
    assert result.returncode == 0, result
    with np.load(out) as weights:
        assert len(weights.files) > 0
    if 1 not in closed:
        assert b"blobs" in result.stdout
    if 2 not in closed:
        assert b"internal error" not in result.stderr


@pytest.mark.parametrize("command", [["show"], ["audit"]])
def test_reports_without_stderr(command: list[str]) -> None:
    result = _run([*command, str(LENET)], 2)
    assert result.returncode == 0, result
    assert b"internal error" not in result.stdout and result.stdout


def test_an_error_without_stderr_still_exits_2(tmp_path: Path) -> None:
    result = _run(["init", str(tmp_path / "missing.prototxt"), "-o", str(tmp_path / "w.npz")], 2)
    assert result.returncode == 2
    assert result.stdout == b""  # the error does not move to stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == []

