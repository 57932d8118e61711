"""The memory estimate against what a real run allocates."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

import caffefill
from caffefill.init import prepare_net
from caffefill.memory import held_bytes
from caffefill.writers import write_weights

ALEXNET = Path(__file__).parent / "data" / "nets" / "alexnet_train_val_input.prototxt"


# (.h5 is written by a child process, whose memory tracemalloc cannot see.)
@pytest.mark.parametrize("fmt", ["npz", "caffemodel", None])
def test_estimate_holds_the_traced_peak_of_init_on_alexnet(tmp_path: Path,
                                                           fmt: str | None) -> None:
    # 61 million values (233 MiB): written piece by piece to .npz and
    # .caffemodel (about the drawing thread's pool), all in memory for
    # init_net.  The estimate is above the peak that tracemalloc sees
    # (numpy's buffers, every thread) and within 1.5x of it.
    prepared = prepare_net(ALEXNET, phase="TRAIN", seed=1)
    estimate = held_bytes(prepared.model, fmt, profile=prepared.profile)
    tracemalloc.start()
    try:
        if fmt is None:
            weights = caffefill.init_net(ALEXNET, caffefill.TRAIN, seed=1)
            assert sum(a.size for blobs in weights.values() for a in blobs) == 60_965_224
            del weights
        else:
            write_weights(tmp_path / f"w.{fmt}", prepared.blobs(lazy=True), prepared.meta(),
                          prepared.model)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= estimate <= 1.5 * peak, (peak / 2**20, estimate / 2**20)
