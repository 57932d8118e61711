"""The mt19937 stream: published reference outputs, and one stream across calls."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest

import caffefill
from caffefill import CaffeRNG, _core


def test_reference_sequence_default_seed() -> None:
    # The MT19937 reference outputs for the default seed 5489, and the
    # 10000th output that the C++ standard requires of std::mt19937.
    rng = CaffeRNG(5489)
    assert rng.uint32(5).tolist() == [3499211612, 581869302, 3890346734, 3586334585, 545404204]
    rng = CaffeRNG(5489)
    rng.discard(9999)
    assert rng.rand() == 4123659995


def test_reference_sequence_seed_one() -> None:
    assert CaffeRNG(1).uint32(5).tolist() == [1791095845, 4282876139, 3093770124,
                                              4005303368, 491263]


def test_chunked_reads_equal_one_read() -> None:
    whole = CaffeRNG(1701).uint32(5000)
    rng = CaffeRNG(1701)
    parts = [rng.uint32(n) for n in (1, 623, 624, 625, 1000, 2127)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_stream_continues_across_fill_calls() -> None:
    # Two fills on one stream equal one fill of both sizes: the second call
    # starts exactly where the first stopped (the uniform and the fast-path
    # normal both take one draw per value unless they retry).
    rng = CaffeRNG(42)
    a = caffefill.fill('type: "uniform" min: -1 max: 1', (300,), rng=rng)
    b = caffefill.fill('type: "uniform" min: -1 max: 1', (700,), rng=rng)
    both = caffefill.fill('type: "uniform" min: -1 max: 1', (1000,), seed=42)
    np.testing.assert_array_equal(np.concatenate([a, b]), both)


def test_gaussian_stream_continues_like_one_call() -> None:
    # A normal draw consumes a variable number of words; splitting a fill at
    # any point must still follow the single stream.
    rng = CaffeRNG(3)
    pieces = [caffefill.fill('type: "gaussian"', (n,), rng=rng) for n in (1, 17, 4000, 9)]
    whole = caffefill.fill('type: "gaussian"', (4027,), seed=3)
    np.testing.assert_array_equal(np.concatenate(pieces), whole)


def test_copy_is_independent() -> None:
    rng = CaffeRNG(7)
    rng.discard(100)
    twin = rng.copy()
    assert rng.uint32(10).tolist() == twin.uint32(10).tolist()
    rng.rand()
    assert rng.uint32(3).tolist() != twin.uint32(3).tolist()


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "3", True])
def test_seed_must_be_uint32(bad: object) -> None:
    with pytest.raises(caffefill.CaffefillError):
        CaffeRNG(bad)  # type: ignore[arg-type]


def test_seed_and_rng_are_exclusive() -> None:
    with pytest.raises(caffefill.FillerError):
        caffefill.fill('type: "constant"', (2,), seed=1, rng=CaffeRNG(1))
    with pytest.raises(caffefill.FillerError):
        caffefill.fill('type: "constant"', (2,))




def _seen_half_done(call: Callable[[], object], out: np.ndarray, blank: float) -> bool:
    """Whether the main thread, while a worker runs ``call`` (one C call that
    writes ``out`` front to back, starting from all ``blank``), ever sees
    ``out`` half written: its first value written and its last not yet.
    Only a call that releases the GIL lets it look then."""
    out.fill(blank)
    worker = threading.Thread(target=call)
    worker.start()
    seen = False
    while worker.is_alive() and not seen:
        seen = bool(out[0] != blank and out[-1] == blank)
    worker.join()
    return seen


@pytest.mark.parametrize("kernel", ["gaussian", "uniform", "unitball", "bilinear"])
def test_kernels_release_the_gil(kernel: str) -> None:
    # Long C loops let other Python threads run (init draws beside a writer).
    stream = _core.Stream(1701)
    data = np.empty(1 << 22, dtype=np.float32)
    calls: dict[str, Callable[[], object]] = {
        "gaussian": lambda: stream.gaussian(data, 0.0, 1.0, _core.NORMAL_ZIGGURAT_164),
        "uniform": lambda: stream.uniform(data, 0.0, 1.0),
        "unitball": lambda: stream.unitball(data, 1 << 12),
        "bilinear": lambda: _core.bilinear(data, 4, _core.BILINEAR_CAFFE10),
    }
    blank = -1.0
    # A busy machine may not run the main thread during one call; a few tries.
    assert any(_seen_half_done(calls[kernel], data, blank) for _ in range(20))


def test_two_threads_sharing_a_stream_each_get_whole_consecutive_draws() -> None:
    """A Stream shared by two threads (its kernels run without the GIL) never
    has its state moved by both at once: every call's draws are one whole
    stretch of the stream, the stretches together are the stream's start in
    some order, and getstate() never sees a half-moved state."""
    chunk, calls = 400 * 624 + 8, 30  # long calls, so the two threads' calls overlap
    shared = _core.Stream(77)
    taken: list[list[bytes]] = [[], []]
    states: list[int] = []

    def draw(mine: list[bytes]) -> None:
        for _ in range(calls):
            mine.append(shared.uint32(chunk).tobytes())

    def watch() -> None:
        while any(t.is_alive() for t in workers):
            states.append(shared.getstate()[1])

    workers = [threading.Thread(target=draw, args=(taken[i],)) for i in range(2)]
    for worker in workers:
        worker.start()
    watch()
    for worker in workers:
        worker.join()
    serial = _core.Stream(77).uint32(2 * calls * chunk)
    expected = sorted(serial[i * chunk:(i + 1) * chunk].tobytes() for i in range(2 * calls))
    assert sorted(taken[0] + taken[1]) == expected
    # each call draws 400 * 624 + 8 words: a state between calls sits at a multiple of
    # 8 past a twist
    assert all(pos % 8 == 0 for pos in states)
