"""Materialise a net's learnable blobs exactly as Caffe's Net constructor does.

One stream for the whole net: layers in order (after upgrade and
filtering), each layer's draws in Caffe's order.  A layer that shares a
parameter by name draws its own fill, then holds the owner's values.
Blobs are produced one at a time (:func:`iter_blobs`) so writers can stream
them; :func:`init_net` collects them into an ordered mapping.
"""

from __future__ import annotations

import math
import os
import secrets
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import __version__, streaming
from .errors import CaffefillError
from .fillers import PieceFill, check_drawless, fill_blob, plan_pieces
from .net.load import load_net, phase_name
from .net.model import NetLayer, NetModel
from .net.spec import FillDraw, RandDraw
from .profiles import Profile, resolve
from .rng import CaffeRNG, check_seed


class FilledBlob:
    """One learnable blob, in net order: its values as a whole (:attr:`array`)
    or piece by piece (:meth:`pieces`).

    A blob from :func:`iter_blobs` with ``lazy=True`` may not be drawn yet:
    its values are drawn from the stream when they are first asked for, and
    must be asked for before the next blob (``iter_blobs`` makes sure of it).
    """

    def __init__(self, layer: NetLayer, index: int, shape: Sequence[int],
                 array: np.ndarray | None = None, *, rng: CaffeRNG | None = None,
                 piece_fill: PieceFill | None = None) -> None:
        self.layer = layer
        self.index = index
        self.shape = tuple(int(d) for d in shape)
        self._array = array
        self._rng = rng
        self._piece_fill = piece_fill
        self._drawn = 0  # values of a lazy blob drawn so far

    @property
    def key(self) -> str:
        return f"{self.layer.name}/{self.index}"

    @property
    def count(self) -> int:
        return math.prod(self.shape)

    @property
    def array(self) -> np.ndarray:
        """All the values (a lazy blob is drawn now, in one piece)."""
        if self._array is None:
            if self._drawn:
                raise RuntimeError("this lazy blob was already read piece by piece")
            array = np.empty(self.shape, dtype=np.float32)
            self._draw(array.reshape(-1))
            self._array = array
        return self._array

    def _draw(self, piece: np.ndarray) -> None:
        assert self._piece_fill is not None and self._rng is not None
        self._piece_fill(self._rng, piece)
        self._drawn += piece.size

    def pieces(self) -> Iterator[np.ndarray]:
        """The flat values in order, in pieces of at most
        :data:`caffefill.streaming.PIECE_VALUES`.

        Each piece is valid until the next is asked for.  For a large lazy
        blob, a worker thread draws the next piece while the caller writes
        the current one (the stream is only ever used by one thread at a
        time, and the C core releases the GIL while it draws).
        """
        most = streaming.PIECE_VALUES
        if self._array is not None or self.count <= 2 * most:
            yield self.array.reshape(-1)
            return
        if self._drawn:
            raise RuntimeError("a lazy blob's pieces can be read once")
        sizes = [min(most, self.count - start) for start in range(0, self.count, most)]
        buffers = [np.empty(most, dtype=np.float32) for _ in range(2)]
        with ThreadPoolExecutor(max_workers=1) as worker:
            pending = worker.submit(self._draw, buffers[0][: sizes[0]])
            for k, size in enumerate(sizes):
                pending.result()
                if k + 1 < len(sizes):
                    pending = worker.submit(self._draw, buffers[(k + 1) % 2][: sizes[k + 1]])
                yield buffers[k % 2][:size]

    def finish_drawing(self) -> None:
        """Draw whatever the stream still owes for this blob (values unused)."""
        if self._piece_fill is None or self._array is not None:
            return
        left = self.count - self._drawn
        while left > 0:
            piece = np.empty(min(left, streaming.PIECE_VALUES), dtype=np.float32)
            self._draw(piece)
            left -= piece.size


def choose_seed() -> int:
    """A fresh random 32-bit seed (when the user gives none)."""
    return secrets.randbits(32)


def _located(exc: CaffefillError, model: NetModel, layer: NetLayer) -> CaffefillError:
    return exc.located(path=model.path, line=layer.line, column=layer.column, layer=layer.name)


def iter_blobs(model: NetModel, rng: CaffeRNG, profile: Profile,
               *, lazy: bool = False) -> Iterator[FilledBlob]:
    """Run every draw of the net in Caffe's order, yielding each learnable blob.

    Each yielded array is owned by the caller.  Only blobs that a later layer
    shares are kept here, so peak memory stays near the largest blob.  With
    ``lazy``, blobs of fillers that draw one value per position are drawn
    when the caller reads them, piece by piece if it uses
    :meth:`FilledBlob.pieces`: then peak memory stays near two pieces.
    """
    needed_owners = streaming.shared_owners(model)
    kept: dict[tuple[int, int], np.ndarray] = {}
    for layer in model.layers:
        if lazy and streaming.streams_blobs(model, layer, needed_owners):
            yield from _lazy_layer(model, layer, rng, profile)
            continue
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
        except CaffefillError as exc:
            raise _located(exc, model, layer) from None
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
            yield FilledBlob(layer, index, spec.shape, array)
            del array
        del produced


def _lazy_layer(model: NetModel, layer: NetLayer, rng: CaffeRNG,
                profile: Profile) -> Iterator[FilledBlob]:
    """A streamable layer's blobs, each drawn when the caller reads it."""
    for index, spec in enumerate(layer.blobs):
        if spec.filler is None:
            yield FilledBlob(layer, index, spec.shape, np.zeros(spec.shape, dtype=np.float32))
            continue
        try:
            piece_fill = plan_pieces(spec.filler, spec.shape, profile)
            if piece_fill is None:  # fills the whole blob at once
                array = np.empty(spec.shape, dtype=np.float32)
                fill_blob(spec.filler, array, rng, profile)
                blob = FilledBlob(layer, index, spec.shape, array)
                del array
            else:
                blob = FilledBlob(layer, index, spec.shape, rng=rng, piece_fill=piece_fill)
        except CaffefillError as exc:
            raise _located(exc, model, layer) from None
        yield blob
        blob.finish_drawing()  # keep the stream in step whatever the caller read
        del blob


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

    def blobs(self, *, lazy: bool = False) -> Iterator[FilledBlob]:
        """The net's blobs, drawn on a fresh stream (see :func:`iter_blobs`)."""
        return iter_blobs(self.model, CaffeRNG(self.seed), self.profile, lazy=lazy)


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
