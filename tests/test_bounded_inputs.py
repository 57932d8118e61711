"""Inputs read within bounds: the prototxt size setting, pipes and devices as text
inputs, and the memory ``fill`` takes for its statistics."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from test_hostile import INPUT, SRC, cli, one_error, write

from caffefill import inputs
from caffefill.memory import parse_size
from caffefill.summary import mean_std

# A child that runs the command line and prints its own peak RSS (bytes) last on stderr.
# A child that runs the command line and prints its own peak RSS (bytes) last on
# stderr: VmHWM of its own address space (ru_maxrss would also count the memory of
# the forked test process before exec).
PEAK = ("import resource, sys\n"
        "from caffefill.cli import main\n"
        "status = main(sys.argv[1:])\n"
        "sys.stdout.flush()\n"
        "try:\n"
        "    lines = open('/proc/self/status').read().splitlines()\n"
        "    peak = next(int(l.split()[1]) for l in lines if l.startswith('VmHWM:'))\n"
        "except (OSError, StopIteration):\n"
        "    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(peak * 1024, file=sys.stderr)\n"
        "sys.exit(status)\n")


def run_measured(*argv: str, timeout: float = 300, env: dict[str, str] | None = None,
                 preexec: Callable[[], object] | None = None) -> tuple[int, str, str, int]:
    """(status, stdout, stderr without the last line, peak RSS in bytes) of a child run."""
    result = subprocess.run([sys.executable, "-c", PEAK, *argv], capture_output=True,
                            text=True, timeout=timeout,
                            env={**os.environ, "PYTHONPATH": str(SRC), **(env or {})},
                            preexec_fn=preexec)
    *rest, last = result.stderr.rstrip("\n").split("\n")
    assert last.isdigit(), result.stderr
    return result.returncode, result.stdout, "\n".join(rest), int(last)


# ------------------------------------------------------------------ sizes


@pytest.mark.parametrize("text,value", [("65536", 65536), ("8M", 8 * 2**20), ("8MiB", 8 * 2**20),
                                        ("1.5G", 3 * 2**29), ("512mb", 512 * 2**20),
                                        ("1e9", 10**9), (" 2k ", 2048)])
def test_sizes(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "abc", "-2", "0", "0.5", "inf", "nan", "1e400", "-inf",
                                  "8X", "M", "2E"])
def test_junk_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


@pytest.mark.parametrize("value", ["abc", "", "1e400", "-2", "0", "nan"])
def test_prototxt_limit_setting_junk_is_one_line(tmp_path: Path, value: str,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAFFEFILL_MAX_PROTOTXT_BYTES", value)
    net = write(tmp_path, INPUT)
    for argv in (["show", str(net)], ["audit", str(net)],
                 ["upgrade", str(net), "-o", str(tmp_path / "up.prototxt")]):
        status, _, err = cli(*argv, capsys=capsys)
        assert status == 2, err
        assert "CAFFEFILL_MAX_PROTOTXT_BYTES" in err and "internal error" not in err, err
        if argv[0] != "audit":
            one_error(err)
    assert not (tmp_path / "up.prototxt").exists()


def test_prototxt_limit_setting_is_a_size(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    net = write(tmp_path, INPUT + "#" * 2000 + "\n")
    monkeypatch.setenv("CAFFEFILL_MAX_PROTOTXT_BYTES", "1k")
    status, _, err = cli("show", str(net), capsys=capsys)
    assert status == 2 and "larger than" in one_error(err)["message"]
    monkeypatch.setenv("CAFFEFILL_MAX_PROTOTXT_BYTES", "4K")
    assert cli("show", str(net), capsys=capsys)[0] == 0


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_negative_setting_does_not_lift_the_limit() -> None:
    # -2 once turned the limit off: `show /dev/zero` then read until memory ran out.
    def small_memory() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (2**31, 2**31))

    result = subprocess.run([sys.executable, "-m", "caffefill.cli", "show", "/dev/zero"],
                            capture_output=True, text=True, timeout=120, preexec_fn=small_memory,
                            env={**os.environ, "PYTHONPATH": str(SRC),
                                 "CAFFEFILL_MAX_PROTOTXT_BYTES": "-2"})
    assert result.returncode == 2 and "CAFFEFILL_MAX_PROTOTXT_BYTES" in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr


# ------------------------------------------------------------------ devices and pipes


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_audit_reads_a_device_within_the_limit() -> None:
    # audit read the whole file before its size check: /dev/zero until memory ran out.
    def small_memory() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (2**31, 2**31))

    result = subprocess.run([sys.executable, "-m", "caffefill.cli", "audit", "/dev/zero"],
                            capture_output=True, text=True, timeout=120, preexec_fn=small_memory,
                            env={**os.environ, "PYTHONPATH": str(SRC)})
    assert result.returncode == 2, result.stderr
    assert "larger than 8 MiB" in result.stderr and "internal error" not in result.stderr


def test_audit_refuses_a_huge_file_quickly(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "big.prototxt"
    with open(big, "wb") as handle:
        handle.truncate(3 * 2**30)  # sparse
    start = time.monotonic()
    status, out, err = cli("audit", str(big), capsys=capsys)
    assert status == 2 and "larger than 8 MiB" in out + err
    assert time.monotonic() - start < 20


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("command", ["show", "audit"])
def test_a_silent_pipe_is_given_up_on(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    fifo = tmp_path / "net.prototxt"
    os.mkfifo(fifo)
    monkeypatch.setattr(inputs, "PIPE_IDLE_SECONDS", 0.5)

    def unblock() -> None:  # a writer that comes too late: frees a reader stuck in open()
        time.sleep(8)
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK) if _has_reader(fifo) else -1
        if fd >= 0:
            os.close(fd)

    threading.Thread(target=unblock, daemon=True).start()
    start = time.monotonic()
    status, out, err = cli(command, str(fifo), capsys=capsys)
    assert time.monotonic() - start < 5
    assert status == 2 and "nothing came from it" in out + err


def _has_reader(fifo: Path) -> bool:
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_pipe_is_still_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "net.prototxt"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "w", encoding="utf-8") as handle:
            handle.write(INPUT + 'layer { name: "ip" type: "InnerProduct" bottom: "data" '
                                 'top: "ip" inner_product_param { num_output: 3 } }\n')

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    status, out, _ = cli("show", str(fifo), capsys=capsys)
    thread.join(5)
    assert status == 0 and "ip" in out


# ------------------------------------------------------------------ fill's statistics


def test_statistics_in_pieces_match_numpy() -> None:
    values = np.random.default_rng(1).standard_normal(3_000_001).astype(np.float32) * 3 + 1
    mean, std = mean_std(values, piece=65536)
    assert mean == pytest.approx(float(values.mean(dtype=np.float64)), rel=1e-12)
    assert std == pytest.approx(float(values.std(dtype=np.float64)), rel=1e-12)
    assert mean_std(np.zeros(0, np.float32)) == (0.0, 0.0)
    with np.errstate(all="raise"):  # no warning escapes for inf or NaN values
        assert np.isnan(mean_std(np.array([np.inf, 1], np.float32))[1])


def test_fill_stays_under_its_memory_cap() -> None:
    # 16 M values: 64 MiB of float32; the cap leaves no room for float64 copies of them.
    cap = 160 * 2**20
    status, out, err, peak = run_measured("fill", "--type", "gaussian", "--shape", "16000000",
                                          "--seed", "1", "--max-memory", str(cap))
    assert status == 0, err
    assert "std=0.999852" in out
    assert peak <= cap, f"peak RSS {peak / 2**20:.0f} MiB above the cap of {cap / 2**20:.0f} MiB"
