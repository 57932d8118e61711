"""The net API: load a prototxt, set it up, and draw its learnable blobs.

:func:`prepare_net` loads and sets up a net (nothing drawn yet);
:func:`init_net` draws it into a :class:`~caffefill.weights.Weights`,
what ``caffe.set_random_seed(seed); caffe.Net(path, phase)`` holds.  The
draws themselves are :mod:`caffefill.drawing`'s.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import __version__
from .drawing import FilledBlob, iter_blobs
from .net.load import load_net, phase_name
from .net.model import NetModel
from .profiles import Profile, resolve
from .rng import CaffeRNG, check_seed
from .weights import Weights


def choose_seed() -> int:
    """A fresh random 32-bit seed (when the user gives none)."""
    return int.from_bytes(os.urandom(4), "little")


def make_meta(*, seed: int, phase: str, stages: Sequence[str], level: int, profile: Profile,
              prototxt_sha256: str, net_name: str) -> dict[str, Any]:
    """The metadata every output file records."""
    return {
        "caffefill_version": __version__,
        "seed": seed,
        "phase": phase,
        "stages": list(stages),
        "level": level,
        "caffe": profile.caffe,
        "boost": profile.boost,
        "net_name": net_name,
        "prototxt_sha256": prototxt_sha256,
    }


@dataclass
class PreparedNet:
    """A loaded net with everything needed to draw it."""

    model: NetModel
    seed: int
    phase: str
    stages: tuple[str, ...]
    level: int
    profile: Profile
    prototxt_sha256: str
    warnings: list[Any] = field(default_factory=list)

    def meta(self) -> dict[str, Any]:
        return make_meta(seed=self.seed, phase=self.phase, stages=self.stages, level=self.level,
                         profile=self.profile, prototxt_sha256=self.prototxt_sha256,
                         net_name=self.model.param.name)

    def blobs(self, *, lazy: bool = False) -> Generator[FilledBlob, None, None]:
        """The net's blobs, drawn on a fresh stream (see :func:`iter_blobs`)."""
        return iter_blobs(self.model, CaffeRNG(self.seed), self.profile, lazy=lazy)


def prepare_net(
    path: str | os.PathLike[str],
    phase: str | int = "TEST",
    *,
    seed: int | None = None,
    stages: Sequence[str] = (),
    level: int = 0,
    inputs: Mapping[str, Sequence[int]] | None = None,
    caffe: str | None = None,
    boost: str | None = None,
    strict: bool = False,
) -> PreparedNet:
    """Load and set up the net; nothing is drawn yet."""
    profile = resolve(caffe, boost)
    seed = choose_seed() if seed is None else check_seed(seed)
    src, model = load_net(path, phase=phase, stages=stages, level=level, inputs=inputs,
                          strict=strict)
    digest = src.sha256  # of the bytes that were read (the file may be a pipe)
    return PreparedNet(model=model, seed=seed, phase=phase_name(model.phase),
                       stages=tuple(stages), level=level, profile=profile,
                       prototxt_sha256=digest, warnings=list(src.warnings))


def init_net(
    path: str | os.PathLike[str],
    phase: str | int = "TEST",
    *,
    seed: int | None = None,
    stages: Sequence[str] = (),
    level: int = 0,
    inputs: Mapping[str, Sequence[int]] | None = None,
    caffe: str | None = None,
    boost: str | None = None,
) -> Weights:
    """What ``caffe.set_random_seed(seed); caffe.Net(path, phase)`` holds.

    Returns an ordered mapping layer name -> list of float32 arrays (layers
    that own blobs, in net order), like pycaffe's ``net.params``; the seed
    used is ``result.seed`` (a random one is chosen when none is given), the
    rest of what outputs record is ``result.meta``, the net as set up
    ``result.model``.
    """
    prepared = prepare_net(path, phase=phase, seed=seed, stages=stages, level=level,
                           inputs=inputs, caffe=caffe, boost=boost)
    result = Weights(meta=prepared.meta(), model=prepared.model)
    for blob in prepared.blobs():
        result.setdefault(blob.layer.name, []).append(blob.array)
    return result
