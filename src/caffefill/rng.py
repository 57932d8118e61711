"""CaffeRNG: the one mt19937 stream Caffe draws every fill from."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from . import _core
from .errors import CaffefillError

SEED_MAX = 0xFFFFFFFF


def check_seed(seed: int) -> int:
    """Caffe seeds with an unsigned 32-bit integer; refuse anything else."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise CaffefillError(f"seed must be an integer, not {type(seed).__name__}")
    value = int(seed)
    if not 0 <= value <= SEED_MAX:
        raise CaffefillError(f"seed {value} is outside Caffe's range 0..{SEED_MAX}")
    return value


class CaffeRNG:
    """Caffe's random stream: ``boost::mt19937`` seeded as
    ``Caffe::set_random_seed(seed)`` seeds it.

    Pass one instance to successive :func:`caffefill.fill` calls (``rng=``)
    and the draws continue exactly as they would in one Caffe process.  A
    copy (:meth:`copy`, :func:`copy.copy`, :mod:`pickle`) is an independent
    stream at the same position.

    Threads may share one: each call's draws are consecutive (the stream
    holds a lock while it moves, as numpy's bit generators do), and the order
    of the calls is the threads' own, so a fill that must equal Caffe's is
    drawn from one thread.
    """

    __slots__ = ("_seed", "_stream")

    def __init__(self, seed: int) -> None:
        self._seed = check_seed(seed)
        self._stream = _core.Stream(self._seed)

    @property
    def seed(self) -> int:
        """The seed the stream started from."""
        return self._seed

    def rand(self) -> int:
        """``caffe_rng_rand()``: one raw 32-bit draw."""
        return int(self._stream.uint32(1)[0])

    def uint32(self, n: int) -> npt.NDArray[np.uint32]:
        """``n`` raw 32-bit draws."""
        return self._stream.uint32(n)

    def discard(self, n: int) -> None:
        """Skip ``n`` raw draws."""
        self._stream.discard(n)

    def copy(self) -> CaffeRNG:
        """An independent stream at the same position."""
        return _restore(self._seed, self._stream.getstate())

    def __copy__(self) -> CaffeRNG:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, object]) -> CaffeRNG:
        return self.copy()

    def __reduce__(self) -> tuple[object, tuple[int, tuple[bytes, int]]]:
        return _restore, (self._seed, self._stream.getstate())

    def __repr__(self) -> str:
        return f"CaffeRNG(seed={self._seed})"


def _restore(seed: int, state: tuple[bytes, int]) -> CaffeRNG:
    """A stream from ``seed`` moved to ``state`` (the C stream's getstate())."""
    rng = CaffeRNG(seed)
    rng._stream.setstate(state)
    return rng


def kernel(rng: CaffeRNG) -> _core.Stream:
    """The C stream under ``rng``, which caffefill's fillers draw from."""
    return rng._stream
