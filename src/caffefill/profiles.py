"""Which Caffe build to reproduce: its filler code and its Boost release.

Two things decide the numbers a Caffe build writes for the same seed:

* the Caffe version (see :data:`CAFFE_HELP`): its filler code and the raw
  draws its data layers take at setup (``caffe="rc3"``: the DataReader era,
  whose ``Data`` layers draw once more than 1.0's; ``caffe="1.0"``: the 1.0
  release; ``caffe="master"``: BVLC master after 2018, whose fillers
  differ), and
* the Boost.Random release Caffe was compiled against (``boost="X.Y"``):
  1.64 and later use the ziggurat normal whose tail draws Boost's ziggurat
  exponential; 1.56 to 1.63 the ziggurat with the older slow path and tail;
  1.55 and earlier Box-Muller.  Uniform and Bernoulli draws are the same in
  all of them, except that 1.55 and earlier cannot draw from a range wider
  than float holds (Caffe hangs; caffefill refuses it).

To find the Boost a Caffe binary was built with: ``ldd`` on its
``libcaffe.so`` names ``libboost_system.so.1.XX.0``; or the distribution
(Ubuntu 14.04: 1.54, 16.04: 1.58, 18.04: 1.65, 20.04: 1.71, 22.04: 1.74).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import CaffefillError

CAFFE_VERSIONS = ("rc3", "1.0", "master")
DEFAULT_CAFFE = "1.0"

#: Which Caffe builds each ``caffe`` profile reproduces, by date and by fork.
CAFFE_HELP = {
    "rc3": "BVLC Caffe from August 2015 (DataReader) to January 2017 (NCCL), release rc3 "
           "(January 2016), and the forks made then whose Data layers read through a "
           "DataReader: SSD (weiliu89/caffe), R-FCN and others",
    "1.0": "BVLC Caffe from January 2017 (NCCL) until master changed its fillers (2018), "
           "release 1.0 (April 2017), and the forks built on it",
    "master": "BVLC master after 2018 (fillers fan in/out from shape(0)/shape(1), bilinear "
              "formula changed)",
}
DEFAULT_BOOST = "1.74"

_BOOST_RE = re.compile(r"^\s*1[._](\d+)(?:[._]\d+)?\s*$")


def _boost_minor(boost: str) -> int:
    match = _BOOST_RE.match(str(boost))
    if match is None:
        raise CaffefillError(
            f"not a Boost version: {boost!r} (expected a version such as 1.58 or 1.74)"
        )
    return int(match.group(1))


@dataclass(frozen=True)
class Profile:
    """A Caffe build: its filler code version and its Boost release."""

    caffe: str = DEFAULT_CAFFE
    boost: str = DEFAULT_BOOST

    @property
    def normal_kind(self) -> int:
        """The C core's code for Boost's normal_distribution algorithm."""
        from . import _core  # here: the C core imports numpy, and the profiles are read
        # by every command's options

        minor = _boost_minor(self.boost)
        if minor >= 64:
            return int(_core.NORMAL_ZIGGURAT_164)
        if minor >= 56:
            return int(_core.NORMAL_ZIGGURAT_156)
        return int(_core.NORMAL_BOX_MULLER)

    @property
    def normal_name(self) -> str:
        from . import _core

        return {
            int(_core.NORMAL_ZIGGURAT_164): "ziggurat (Boost >= 1.64)",
            int(_core.NORMAL_ZIGGURAT_156): "ziggurat (Boost 1.56-1.63)",
            int(_core.NORMAL_BOX_MULLER): "Box-Muller (Boost <= 1.55)",
        }[self.normal_kind]

    @property
    def uniform_splits_wide_range(self) -> bool:
        """Boost >= 1.56 draws a range too wide for float as twice its half;
        1.55 and earlier retry forever (Caffe hangs)."""
        return _boost_minor(self.boost) >= 56

    @property
    def legacy_fans(self) -> bool:
        """Caffe 1.0 (and rc3, whose filler code is the same) computes fans through
        the legacy num()/channels() accessors."""
        return self.caffe != "master"

    @property
    def data_reader(self) -> bool:
        """Whether ``Data`` layers read through a DataReader, whose body starts its
        own thread when the layer is constructed: one ``caffe_rng_rand()`` more per
        ``Data`` layer (rc3's data_reader.cpp and internal_thread.cpp)."""
        return self.caffe == "rc3"

    @property
    def bilinear_kind(self) -> int:
        from . import _core

        if self.caffe != "master":
            return int(_core.BILINEAR_CAFFE10)
        return int(_core.BILINEAR_MASTER)

    def as_dict(self) -> dict[str, str]:
        return {"caffe": self.caffe, "boost": self.boost}


def resolve(caffe: str | None = None, boost: str | None = None) -> Profile:
    """Validate and normalise a (caffe, boost) pair into a Profile."""
    caffe = DEFAULT_CAFFE if caffe is None else str(caffe)
    if caffe not in CAFFE_VERSIONS:
        raise CaffefillError(
            f"unknown Caffe version {caffe!r}: use one of {', '.join(CAFFE_VERSIONS)}"
        )
    boost = DEFAULT_BOOST if boost is None else str(boost)
    minor = _boost_minor(boost)
    return Profile(caffe=caffe, boost=f"1.{minor}")


DEFAULT_PROFILE = Profile()
