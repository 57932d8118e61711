"""A stop request (Ctrl-C, SIGTERM, SIGHUP) is honoured within a fraction of a
second at any point of the drawing, even inside one layer's long run of draws:
the run exits 130/143/129 and leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fuzzing import time_bound

import caffefill
from caffefill import interrupt
from caffefill.drawing import iter_blobs
from caffefill.net.load import load_net
from caffefill.net.model import NetModel
from caffefill.profiles import resolve
from caffefill.rng import CaffeRNG

SRC = Path(caffefill.__file__).resolve().parents[1]

#: An LSTM of 16,777,216 time steps: every step draws (and throws away) its own
#: W_hc fill, all inside one layer.  Drawing it takes minutes.
LONG_LSTM = (
    'layer { name: "in" type: "Input" top: "x" top: "c" input_param { shape { dim: 16777216 '
    'dim: 1 dim: 8 } shape { dim: 16777216 dim: 1 } } }\n'
    'layer { name: "lstm" type: "LSTM" bottom: "x" bottom: "c" top: "h" recurrent_param { '
    'num_output: 4 weight_filler { type: "uniform" min: -0.1 max: 0.1 } } }\n')


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_stop_inside_a_long_recurrent_layer(tmp_path: Path, signum: int) -> None:
    net = tmp_path / "lstm.prototxt"
    net.write_text(LONG_LSTM, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "caffefill.cli", "init", str(net), "-o", str(tmp_path / "w.npz"),
         "--seed", "1", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)})
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline and \
                not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()):
            time.sleep(0.01)
        assert proc.poll() is None, proc.communicate()
        time.sleep(1.0)  # well inside the layer's time steps
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
        waited = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + signum, err
    assert waited < 5, f"the run went on for {waited:.1f} s after the signal"
    assert "nothing was written" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lstm.prototxt"]


def _clear() -> None:
    with interrupt.handling():  # starts and ends with no request pending
        pass


def _model(steps: int) -> NetModel:
    return load_net("lstm.prototxt", text=LONG_LSTM.replace("16777216", str(steps)))[1]


@pytest.mark.parametrize("lazy", [True, False])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_recorded_request_stops_the_draws(lazy: bool, signum: int) -> None:
    model = _model(16777216)
    expected = KeyboardInterrupt if signum == signal.SIGINT else interrupt.Terminated
    interrupt.request(signum)
    try:
        with time_bound(30), pytest.raises(expected):
            for _ in iter_blobs(model, CaffeRNG(1), resolve(), lazy=lazy):
                pass
    finally:
        _clear()
    assert interrupt.requested() is None
    # Without a request the same draws go on as before.
    blobs = [blob.array.copy() for blob in iter_blobs(_model(3), CaffeRNG(1), resolve(),
                                                       lazy=lazy)]
    assert len(blobs) == 3
