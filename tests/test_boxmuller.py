"""The Box-Muller normal of Boost <= 1.55: the bulk path (one thread or a
large fill split among threads) gives the values and stream use of the one
pair at a time reference, and the libm substitution it makes is exact.

A threaded fill's pieces go to the first thread at their start, the others
skip them; bulk mode 2 deals them in turns, so that every thread skips the
others' pieces (and counts their redrawn words) whatever the timing."""

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
#: _core.box_muller's modes: the reference, the bulk path, and the bulk path
#: with a threaded fill's pieces dealt in turns.
REFERENCE, BULK, IN_TURNS = 0, 1, 2


@contextmanager
def box_muller(bulk: int, threads: int = 0, vector: int = 1) -> Iterator[None]:
    was_bulk, was_threads = _core.box_muller()
    was_vector = _core.box_muller_vector()
    _core.box_muller(bulk, threads)
    _core.box_muller_vector(vector)
    try:
        yield
    finally:
        _core.box_muller(int(was_bulk), was_threads)
        _core.box_muller_vector(int(was_vector))


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


def _draw(stream: _core.Stream, sizes: list[int], bulk: int, threads: int = 0,
          vector: int = 1) -> tuple[list[np.ndarray], np.ndarray]:
    """The fills of the given sizes, one call each, and the next 4 words."""
    outs = []
    with box_muller(bulk, threads, vector):
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
    usable = _core.box_muller_vector()
    with box_muller(REFERENCE, 3, 0):
        assert _core.box_muller() == (REFERENCE, 3)
        assert not _core.box_muller_vector()
    with box_muller(IN_TURNS, 2):
        assert _core.box_muller() == (IN_TURNS, 2)
    assert _core.box_muller() == (BULK, 0)
    assert _core.box_muller_vector() == usable


@pytest.mark.parametrize("vector", [1, 0])
@pytest.mark.parametrize(("mode", "threads"), [(BULK, 1), (BULK, 2), (BULK, 3), (BULK, 0),
                                               (IN_TURNS, 2), (IN_TURNS, 3)])
def test_bulk_equals_one_pair_at_a_time(mode: int, threads: int, vector: int) -> None:
    # Odd and even sizes, block (624 words) and piece sizes and the
    # threading threshold, each a call of its own (the pair cache is dropped
    # between calls), on a stream that starts mid-block; in turns, an odd
    # last piece and pieces not shared evenly among the threads.
    sizes = [0, 1, 2, 3, 311, 312, 313, 623, 624, 625, 1249, THREADS_FROM - 1,
             THREADS_FROM, THREADS_FROM + 1, 5 * PIECE + 1, 7 * PIECE - 1, 1_000_001]
    # The bulk path with glibc_vec.c's logf and sincosf (where usable) and
    # with the C library's; the reference calls the C library's.
    _assert_same(_draw(_stream(7, 101), sizes, mode, threads, vector),
                 _draw(_stream(7, 101), sizes, REFERENCE))


@pytest.mark.parametrize("vector", [1, 0])
@pytest.mark.parametrize(("mode", "threads"), [(BULK, 1), (BULK, 3), (IN_TURNS, 2),
                                               (IN_TURNS, 3)])
@pytest.mark.parametrize("back", [0, 1, 2, 3, 300, 301, 623, 624, 625,
                                  PIECE - 1, PIECE, PIECE + 1, PIECE + 2, 3 * PIECE - 1,
                                  3 * PIECE, 3 * PIECE + 1])
def test_bulk_redraws_as_the_reference(before_redraw: tuple[bytes, int], mode: int,
                                       threads: int, back: int, vector: int) -> None:
    # The redrawn word as the first or the second uniform of a pair, at the
    # end of one piece of a threaded fill or the start of the next (in
    # turns, the threads that skip that piece must count it).
    sizes = [THREADS_FROM + 1, 5]
    got = _draw(_from(before_redraw, back), sizes, mode, threads, vector)
    want = _draw(_from(before_redraw, back), sizes, REFERENCE)
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
    for fn in ("sinf", "cosf", "logf"):
        getattr(libm, fn).restype = ctypes.c_float
        getattr(libm, fn).argtypes = [ctypes.c_float]
    if hasattr(libm, "sincosf"):
        libm.sincosf.restype = None
        libm.sincosf.argtypes = [ctypes.c_float, ctypes.POINTER(ctypes.c_float),
                                 ctypes.POINTER(ctypes.c_float)]
    return libm


def _bits(x: float) -> bytes:
    return np.float32(x).tobytes()


def _domain_sample() -> np.ndarray:
    """A fixed sample of the r = uniform_01<float> values (w * 2^-32 below
    2^-8, any float from 2^-8 up to below 1; tools/check_libm.c takes all
    83,886,080 of them) with the edges: r = 0, the least r, the ends of both
    ranges, the largest r below 1 (1 - r = 2^-24), and with their neighbours
    the r where 2 pi r reaches 2^-12 (below it sincosf gives (x, 1)), 0.75
    (below it sincosf skips the argument reduction) and every eighth of a
    turn (quadrant changes), and 1 - 2^-k (where 1 - r changes exponent)."""
    small = 1 << 24
    first = int(np.float32(2**-8).view(np.uint32))
    last = int(np.nextafter(np.float32(1), np.float32(0)).view(np.uint32))
    count = small + last - first + 1
    two_pi = np.float64(TWO_PI)
    tiny_w = int(2**-12 / two_pi * 2**32)
    big = np.array([0.75 / two_pi, *(np.arange(1, 8) / 8), *(1 - 2.0 ** -np.arange(1, 25))],
                   dtype=np.float32).view(np.uint32).astype(np.int64) - first + small
    near = np.arange(-40, 41)
    edges = np.concatenate([[0, 1, small - 1, small, count - 1], (tiny_w + near),
                            np.clip((big[:, None] + near).ravel(), small, count - 1)])
    index = np.concatenate([edges, np.random.default_rng(20261202).integers(0, count, 60_000)])
    r = np.where(index < small, index.astype(np.float32) * np.float32(2**-32),
                 (np.maximum(index - small, 0) + first).astype(np.uint32).view(np.float32))
    assert np.all((r >= 0) & (r < 1)) and r.dtype == np.float32
    return r


#: boxmuller.h's CF_BOX_MULLER_TWO_PI: 2 times pi rounded to float.
TWO_PI = np.float32(2) * np.float32(np.pi)


def test_sincosf_is_sinf_and_cosf_on_box_muller_angles() -> None:
    # boxmuller.c takes sincosf for cosf and sinf where the C library has
    # it; tools/check_libm.c checks all 83,886,080 angles 2 pi r, this a
    # fixed sample of them and the edges.
    libm = _libm()
    if not hasattr(libm, "sincosf"):
        pytest.skip("no sincosf in this C library: boxmuller.c calls sinf and cosf")
    angles = TWO_PI * _domain_sample()
    s, c = ctypes.c_float(), ctypes.c_float()
    for angle in angles.tolist():
        libm.sincosf(angle, ctypes.byref(s), ctypes.byref(c))
        assert _bits(s.value) == _bits(libm.sinf(angle)), angle
        assert _bits(c.value) == _bits(libm.cosf(angle)), angle


@pytest.mark.parametrize("vector", [1, 0])
def test_vector_logf_and_sincosf_are_the_c_librarys(vector: int) -> None:
    # The bulk path's logf(1 - r) and sincosf(2 pi r) (glibc_vec.c: four at
    # a time where usable and not switched off, else the C library's own)
    # give the C library's bits: tools/check_libm.c checks every r, this
    # the fixed sample and edges.
    libm = _libm()
    r = _domain_sample()
    one_minus = np.float32(1) - r
    angles = TWO_PI * r
    lg, s, c = (np.full(r.size, np.nan, dtype=np.float32) for _ in range(3))
    with box_muller(BULK, 0, vector):
        in_use = _core.box_muller_vector()
        # Odd lengths too: the vector code pads the last 1-3 values.
        for size in (r.size, 5, 3, 1):
            # Each reports the code that ran: the switch holds for them too.
            assert _core.glibc_vec_logf(one_minus[:size].copy(), lg[:size]) == in_use
            assert _core.glibc_vec_sincosf(angles[:size].copy(), s[:size], c[:size]) == in_use
    assert in_use <= bool(vector)
    assert r[0] == 0 and np.float32(1) - r.max() == np.float32(2**-24)  # the extremes
    for i, (x, angle) in enumerate(zip(one_minus.tolist(), angles.tolist(), strict=True)):
        assert _bits(lg[i]) == _bits(libm.logf(x)), (r[i], x)
        assert _bits(s[i]) == _bits(libm.sinf(angle)), (r[i], angle)
        assert _bits(c[i]) == _bits(libm.cosf(angle)), (r[i], angle)
