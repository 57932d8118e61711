"""Materialise a net's learnable blobs exactly as Caffe's Net constructor does.

One stream for the whole net: layers in order (after upgrade and
filtering), each layer's draws in Caffe's order.  A layer that shares a
parameter by name draws its own fill, then holds the owner's values.
Blobs are produced one at a time (:func:`iter_blobs`) so writers can stream
them; :func:`init_net` collects them into an ordered mapping.
"""

from __future__ import annotations

import os
import secrets
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import __version__
from .fillers import check_drawless, fill_blob
from .net.load import load_net, phase_name
from .net.model import NetLayer, NetModel
from .net.spec import FillDraw, RandDraw
from .profiles import Profile, resolve
from .rng import CaffeRNG, check_seed


@dataclass
class FilledBlob:
    """One learnable blob with its values, in net order."""

    layer: NetLayer
    index: int
    array: np.ndarray

    @property
    def key(self) -> str:
        return f"{self.layer.name}/{self.index}"


def choose_seed() -> int:
    """A fresh random 32-bit seed (when the user gives none)."""
    return secrets.randbits(32)


def iter_blobs(model: NetModel, rng: CaffeRNG, profile: Profile) -> Iterator[FilledBlob]:
    """Run every draw of the net in Caffe's order, yielding each learnable blob.

    Each yielded array is owned by the caller.  Only blobs that a later layer
    shares are kept here, so peak memory stays near the largest blob.
    """
    needed_owners = {
        owner
        for layer in model.layers
        for index in range(len(layer.blobs))
        if (owner := model.shared_owner(layer.index, index)) is not None
    }
    kept: dict[tuple[int, int], np.ndarray] = {}
    for layer in model.layers:
        produced: dict[int, np.ndarray] = {}
        try:
            for draw in layer.draws:
                if isinstance(draw, RandDraw):
                    rng.discard(draw.count)
                    continue
                assert isinstance(draw, FillDraw)
                if draw.blob is None and check_drawless(draw.filler, draw.shape):
                    continue  # values thrown away and nothing drawn: only the checks count
                array = np.empty(draw.shape, dtype=np.float32)
                fill_blob(draw.filler, array, rng, profile)
                if draw.blob is not None:
                    produced[draw.blob] = array
                del array  # a thrown-away fill is freed before the next one is allocated
        except Exception as exc:
            from .errors import CaffefillError

            if isinstance(exc, CaffefillError):
                raise exc.located(path=model.path, line=layer.line, column=layer.column,
                                  layer=layer.name) from None
            raise
        for index, spec in enumerate(layer.blobs):
            owner = model.shared_owner(layer.index, index)
            if owner is not None:
                array = kept[owner]
            elif index in produced:
                array = produced.pop(index)
            else:  # zero-initialised, no draw (BatchNorm statistics)
                array = np.zeros(spec.shape, dtype=np.float32)
            if (layer.index, index) in needed_owners:
                kept[(layer.index, index)] = array
            yield FilledBlob(layer, index, array)
            del array
        del produced


class InitResult(OrderedDict[str, list[np.ndarray]]):
    """Layer name -> its blobs (float32 arrays), in net order, plus metadata."""

    def __init__(self, *, seed: int, phase: str, stages: Sequence[str], level: int,
                 profile: Profile, model: NetModel, prototxt_sha256: str) -> None:
        super().__init__()
        self.seed = seed
        self.phase = phase
        self.stages = tuple(stages)
        self.level = level
        self.profile = profile
        self.model = model
        self.prototxt_sha256 = prototxt_sha256

    @property
    def meta(self) -> dict[str, Any]:
        return make_meta(seed=self.seed, phase=self.phase, stages=self.stages, level=self.level,
                         profile=self.profile, prototxt_sha256=self.prototxt_sha256,
                         net_name=self.model.param.name)


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

    def blobs(self) -> Iterator[FilledBlob]:
        return iter_blobs(self.model, CaffeRNG(self.seed), self.profile)


def prepare_net(
    path: str | os.PathLike[str],
    phase: str | int = "TEST",
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
    seed: int | None = None,
    stages: Sequence[str] = (),
    level: int = 0,
    inputs: Mapping[str, Sequence[int]] | None = None,
    caffe: str | None = None,
    boost: str | None = None,
) -> InitResult:
    """What ``caffe.set_random_seed(seed); caffe.Net(path, phase)`` holds.

    Returns an ordered mapping layer name -> list of float32 arrays (layers
    that own blobs, in net order), like pycaffe's ``net.params``; the seed
    used is ``result.seed`` (a random one is chosen when none is given).
    """
    prepared = prepare_net(path, phase=phase, seed=seed, stages=stages, level=level,
                           inputs=inputs, caffe=caffe, boost=boost)
    result = InitResult(seed=prepared.seed, phase=prepared.phase, stages=prepared.stages,
                        level=prepared.level, profile=prepared.profile, model=prepared.model,
                        prototxt_sha256=prepared.prototxt_sha256)
    for blob in prepared.blobs():
        result.setdefault(blob.layer.name, []).append(blob.array)
    return result
