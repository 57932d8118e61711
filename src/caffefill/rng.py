"""CaffeRNG: the one mt19937 stream Caffe draws every fill from."""

from __future__ import annotations

import numpy as np

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


class CaffeRNG(_core.Stream):
    """Caffe's random stream: ``boost::mt19937`` seeded as
    ``Caffe::set_random_seed(seed)`` seeds it.

    Pass one instance to successive :func:`caffefill.fill` calls (``rng=``)
    and the draws continue exactly as they would in one Caffe process.
    """

    _seed: int

    def __new__(cls, seed: int) -> CaffeRNG:
        value = check_seed(seed)
        self: CaffeRNG = super().__new__(cls, value)  # type: ignore[assignment]
        self._seed = value
        return self

    @property
    def seed(self) -> int:
        return self._seed

    def rand(self) -> int:
        """``caffe_rng_rand()``: one raw 32-bit draw."""
        return int(self.uint32(1)[0])  # one raw word

    def copy(self) -> CaffeRNG:
        """An independent stream at the same position."""
        other = CaffeRNG(self._seed)
        other.setstate(self.getstate())
        return other

    def __repr__(self) -> str:
        return f"CaffeRNG(seed={self._seed})"
