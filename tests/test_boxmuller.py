"""The Box-Muller normal of Boost <= 1.55: the bulk path (one thread or a
large fill split among threads) gives the values and stream use of the one
pair at a time reference, and the libm substitution it makes is exact."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from conftest import DATA, check_golden_filler, load_jsonl

from caffefill import _core

#: Word 30,482,231 (from 0) of seed 1701's stream is 2^32 - 128 or more:
#: a uniform_01<float> made from it rounds to 1 and is redrawn.
REDRAW_SEED, REDRAW_AT = 1701, 30_482_231
#: boxmuller.c's threaded fills: from 2^18 values on, pieces of 2^16 values.
THREADS_FROM, PIECE = 1 << 18, 1 << 16


@contextmanager
def box_muller(bulk: int, threads: int = 0) -> Iterator[None]:
    was_bulk, was_threads = _core.box_muller()
    _core.box_muller(bulk, threads)
    try:
        yield
    finally:
        _core.box_muller(int(was_bulk), was_threads)


def _stream(seed: int, skip: int) -> _core.Stream:
    stream = _core.Stream(seed)
    stream.discard(skip)
    return stream


@pytest.fixture(scope="module")
def before_redraw() -> tuple[bytes, int]:
    """Seed 1701's stream 2^20 words before the redrawn word."""
    return _stream(REDRAW_SEED, REDRAW_AT - (1 << 20)).getstate()


def _from(state: tuple[bytes, int], back: int) -> _core.Stream:
    """The stream `back` words before the redrawn word."""
    stream = _core.Stream(0)
    stream.setstate(state)
    stream.discard((1 << 20) - back)
    return stream


def _draw(stream: _core.Stream, sizes: list[int], bulk: int,
          threads: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """The fills of the given sizes, one call each, and the next 4 words."""
    outs = []
    with box_muller(bulk, threads):
        for size in sizes:
            out = np.full(size, np.nan, dtype=np.float32)
            stream.gaussian(out, 0.25, 1.5, _core.NORMAL_BOX_MULLER)
            outs.append(out)
    return outs, stream.uint32(4)


def _assert_same(a: tuple[list[np.ndarray], np.ndarray],
                 b: tuple[list[np.ndarray], np.ndarray]) -> None:
    for got, want in zip(a[0], b[0], strict=True):
        np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
    np.testing.assert_array_equal(a[1], b[1])


def test_the_redrawn_word_is_there() -> None:
    assert _stream(REDRAW_SEED, REDRAW_AT).uint32(1)[0] >= 2**32 - 128
    assert np.all(_stream(REDRAW_SEED, REDRAW_AT - 1000).uint32(1000) < 2**32 - 128)


def test_setting_is_reported_and_restored() -> None:
    with box_muller(0, 3):
        assert _core.box_muller() == (False, 3)
    assert _core.box_muller() == (True, 0)


@pytest.mark.parametrize("threads", [1, 2, 3, 0])
def test_bulk_equals_one_pair_at_a_time(threads: int) -> None:
    # Odd and even sizes, block (624 words) and piece sizes and the
    # threading threshold, each a call of its own (the pair cache is dropped
    # between calls), on a stream that starts mid-block.
    sizes = [0, 1, 2, 3, 311, 312, 313, 623, 624, 625, 1249, THREADS_FROM - 1,
             THREADS_FROM, THREADS_FROM + 1, 5 * PIECE + 1, 7 * PIECE - 1, 1_000_001]
    _assert_same(_draw(_stream(7, 101), sizes, 1, threads),
                 _draw(_stream(7, 101), sizes, 0))


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("back", [0, 1, 2, 3, 300, 301, 623, 624, 625,
                                  PIECE - 1, PIECE, PIECE + 1, 3 * PIECE - 1, 3 * PIECE])
def test_bulk_redraws_as_the_reference(before_redraw: tuple[bytes, int], threads: int,
                                       back: int) -> None:
    # The redrawn word as the first or the second uniform of a pair, at the
    # end of one piece of a threaded fill or the start of the next.
    sizes = [THREADS_FROM + 1, 5]
    got = _draw(_from(before_redraw, back), sizes, 1, threads)
    want = _draw(_from(before_redraw, back), sizes, 0)
    _assert_same(got, want)
    # The reference took one word more than two per pair: the redraw.
    after = _from(before_redraw, back)
    after.discard(2 * (THREADS_FROM // 2 + 1) + 1 + 6)
    np.testing.assert_array_equal(after.uint32(4), want[1])


def _big_boost155_gaussians() -> list[dict[str, object]]:
    return [case for case in load_jsonl(DATA / "profiles" / "boost-1.55" / "fillers.jsonl")
            if THREADS_FROM <= case.get("count", 0) <= 5_000_000 and case["expect"] == "ok"
            and ("gaussian" in str(case["filler"]) or "msra" in str(case["filler"]))]


@pytest.mark.parametrize("case", _big_boost155_gaussians(), ids=lambda c: str(c["id"]))
@pytest.mark.parametrize("threads", [1, 3])
def test_boost155_goldens_on_one_and_three_threads(case: dict[str, object],
                                                  threads: int) -> None:
    with box_muller(1, threads):
        check_golden_filler(case, DATA / "profiles" / "boost-1.55")


def _libm() -> ctypes.CDLL:
    name = ctypes.util.find_library("m")
    libm = ctypes.CDLL(name)
    for fn in ("sinf", "cosf"):
        getattr(libm, fn).restype = ctypes.c_float
        getattr(libm, fn).argtypes = [ctypes.c_float]
    return libm


def test_sincosf_is_sinf_and_cosf_on_box_muller_angles() -> None:
    # boxmuller.c takes sincosf for cosf and sinf where the C library has
    # it; tools/check_sincosf.c checks all 83,886,080 angles, this a fixed
    # sample of them and the edges: every r = uniform_01 of a word (w * 2^-32
    # below 2^-8, any float from 2^-8 up to below 1) and 2 pi r in float.
    libm = _libm()
    if not hasattr(libm, "sincosf"):
        pytest.skip("no sincosf in this C library: boxmuller.c calls sinf and cosf")
    libm.sincosf.restype = None
    libm.sincosf.argtypes = [ctypes.c_float, ctypes.POINTER(ctypes.c_float),
                             ctypes.POINTER(ctypes.c_float)]
    small = 1 << 24
    first = int(np.float32(2**-8).view(np.uint32))
    last = int(np.nextafter(np.float32(1), np.float32(0)).view(np.uint32))
    count = small + last - first + 1
    index = np.random.default_rng(20261202).integers(0, count, 60_000)
    # Edges: the ends of both ranges, and every eighth of a turn (where the
    # argument reduction changes quadrant) with its neighbours.
    eighths = (np.arange(1, 8, dtype=np.float32) / np.float32(8)).view(np.uint32).astype(np.int64)
    edges = np.concatenate([[0, 1, small - 1, small, count - 1],
                            (eighths[:, None] + np.arange(-40, 41)).ravel() - first + small])
    index = np.concatenate([edges, index])
    r = np.where(index < small, index.astype(np.float32) * np.float32(2**-32),
                 (np.maximum(index - small, 0) + first).astype(np.uint32).view(np.float32))
    assert np.all((r >= 0) & (r < 1))
    two_pi = np.float32(2) * np.float32(np.pi)  # boxmuller.h's CF_BOX_MULLER_TWO_PI
    angles = two_pi * r.astype(np.float32)
    s, c = ctypes.c_float(), ctypes.c_float()
    for angle in angles.tolist():
        libm.sincosf(angle, ctypes.byref(s), ctypes.byref(c))
        assert np.float32(s.value).tobytes() == np.float32(libm.sinf(angle)).tobytes(), angle
        assert np.float32(c.value).tobytes() == np.float32(libm.cosf(angle)).tobytes(), angle
