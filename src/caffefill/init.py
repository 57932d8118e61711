"""Materialise a net's learnable blobs exactly as Caffe's Net constructor does.

One stream for the whole net: layers in order (after upgrade and
filtering), each layer's draws in Caffe's order.  A layer that shares a
parameter by name draws its own fill, then holds the owner's values.
Blobs are produced one at a time (:func:`iter_blobs`) so writers can stream
them; :func:`init_net` collects them into an ordered mapping.
"""

from __future__ import annotations

import functools
import math
import os
import queue
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import __version__, interrupt, streaming
from .errors import CaffefillError
from .fillers import FillerParameter, check_drawless, fill_blob, plan_pieces
from .net.load import DEFAULT_PHASE, load_net, phase_name
from .net.model import NetLayer, NetModel
from .net.spec import FillDraw, RandDraw
from .profiles import Profile, resolve
from .rng import CaffeRNG, check_seed
from .solver import load_train_net


class FilledBlob:
    """One learnable blob, in net order: its values as a whole (:attr:`array`)
    or piece by piece (:meth:`pieces`)."""

    def __init__(self, layer: NetLayer, index: int, shape: Sequence[int],
                 array: np.ndarray) -> None:
        self.layer = layer
        self.index = index
        self.shape = tuple(int(d) for d in shape)
        self._array = array

    @property
    def key(self) -> str:
        return f"{self.layer.name}/{self.index}"

    @property
    def count(self) -> int:
        return math.prod(self.shape)

    @property
    def array(self) -> np.ndarray:
        """All the values, in the blob's shape."""
        return self._array

    def pieces(self) -> Iterator[np.ndarray]:
        """The flat values in order (each piece valid until the next is asked for)."""
        yield self._array.reshape(-1)


class _AheadBlob(FilledBlob):
    """A blob drawn on :class:`_DrawAhead`'s worker thread, read as the pieces
    the worker hands over, in order; :attr:`array` gathers them into one array."""

    def __init__(self, layer: NetLayer, index: int, shape: Sequence[int], pieces: int,
                 whole: bool, *, source: _DrawAhead) -> None:
        super().__init__(layer, index, shape, np.empty(0, dtype=np.float32))
        self._source = source
        self._left = pieces  # pieces not handed out yet
        self._whole = whole  # one piece, an array of its own (not a pool buffer)
        self._gathered: np.ndarray | None = None

    @property
    def array(self) -> np.ndarray:
        if self._gathered is None:
            if self._left == 0 and self.count:
                raise RuntimeError("this blob was already read piece by piece")
            if self._whole:
                self._left = 0
                self._gathered = self._source.next_piece().reshape(self.shape)
                return self._gathered
            gathered = np.empty(self.count, dtype=np.float32)
            at = 0
            for piece in self.pieces():
                gathered[at:at + piece.size] = piece
                at += piece.size
            self._gathered = gathered.reshape(self.shape)
        return self._gathered

    def pieces(self) -> Iterator[np.ndarray]:
        if self._gathered is not None:
            yield self._gathered.reshape(-1)
            return
        while self._left:
            self._left -= 1
            yield self._source.next_piece()

    def skip(self) -> None:
        """Let go of the pieces the reader did not ask for (they were drawn)."""
        while self._left:
            self._left -= 1
            self._source.next_piece()


class _Stop(Exception):
    """The reader went away, or a stop was requested (:mod:`caffefill.interrupt`):
    the worker stops between two pieces or two draws."""


class _DrawAhead:
    """Runs every draw of the net on one worker thread, ahead of the reader.

    The worker draws in Caffe's order and hands over, for each blob, a header
    and then its values in pieces.  Blobs of a streaming layer
    (:func:`caffefill.streaming.streams_blobs`) whose filler fills piece by
    piece are drawn into a pool of :data:`~caffefill.streaming.POOL_PIECES`
    buffers of :data:`~caffefill.streaming.PIECE_VALUES` values, reused as the
    reader lets them go; other blobs are whole arrays, at most
    :data:`~caffefill.streaming.AHEAD_BYTES` of them (or one, however large)
    not yet let go of.  A layer that does not stream is drawn only once the
    reader holds nothing, so memory stays what :mod:`caffefill.memory`
    estimates.  The stream is used by the worker alone; the C core releases
    the GIL while it draws, so drawing overlaps the reader's writes.
    """

    def __init__(self, model: NetModel, rng: CaffeRNG, profile: Profile) -> None:
        self._model, self._rng, self._profile = model, rng, profile
        self._most = streaming.PIECE_VALUES
        self._ready: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._free: queue.SimpleQueue[np.ndarray | None] = queue.SimpleQueue()
        for _ in range(streaming.POOL_PIECES):
            self._free.put(np.empty(self._most, dtype=np.float32))
        self._held = 0  # bytes of whole arrays handed over and not let go of
        self._held_changed = threading.Condition()
        self._stopping = False
        self._release: Callable[[], None] | None = None  # lets go of the last piece
        self._thread = threading.Thread(target=self._work, name="caffefill-draw", daemon=True)
        self._thread.start()

    # -------------------------------------------------------------- reader side

    def blobs(self) -> Iterator[FilledBlob]:
        """The blobs in net order; stops the worker when closed early."""
        try:
            while True:
                self._let_go()
                item = self._next()
                if item is None:
                    return
                blob = _AheadBlob(*item, source=self)
                yield blob
                blob.skip()
        finally:
            self._let_go()
            self.stop()

    def next_piece(self) -> np.ndarray:
        """The next piece of the current blob (letting go of the one before)."""
        self._let_go()
        piece, self._release = self._next()
        assert isinstance(piece, np.ndarray)
        return piece

    def _next(self) -> Any:
        """The worker's next item; raises what it handed over instead (an error,
        or, when it stopped for a stop request, that request)."""
        item = self._ready.get()
        if isinstance(item, _Stop):
            interrupt.check()
        if isinstance(item, BaseException):
            raise item
        return item

    def _let_go(self) -> None:
        if self._release is not None:
            release, self._release = self._release, None
            release()

    def stop(self) -> None:
        """Stop the worker (between two pieces) and wait for it."""
        with self._held_changed:
            self._stopping = True
            self._held_changed.notify_all()
        self._free.put(None)  # wakes a worker waiting for a buffer
        self._thread.join()

    # -------------------------------------------------------------- worker side

    def _work(self) -> None:
        model = self._model
        owners = streaming.shared_owners(model)
        kept: dict[tuple[int, int], np.ndarray] = {}
        try:
            for layer in model.layers:
                try:
                    if streaming.streams_blobs(model, layer, owners):
                        self._stream_layer(layer)
                    else:
                        self._wait_for_room(None)
                        for blob in _whole_layer(model, layer, self._rng, self._profile,
                                                 owners, kept, self._check):
                            self._hand_over_whole(layer, blob.index, blob.shape,
                                                  functools.partial(np.asarray, blob.array))
                except CaffefillError as exc:
                    self._ready.put(_located(exc, model, layer))
                    return
            self._ready.put(None)
        except _Stop as stop:
            if interrupt.requested() is not None:  # wakes a reader waiting for an item
                self._ready.put(stop)
            return
        except BaseException as exc:  # handed to the reader, who raises it
            self._ready.put(exc)

    def _stream_layer(self, layer: NetLayer) -> None:
        for index, spec in enumerate(layer.blobs):
            if spec.filler is None:
                self._hand_over_whole(layer, index, spec.shape,
                                      functools.partial(np.zeros, spec.shape, dtype=np.float32))
                continue
            piece_fill = plan_pieces(spec.filler, spec.shape, self._profile)
            if piece_fill is None:  # fills the whole blob at once
                self._hand_over_whole(layer, index, spec.shape,
                                      functools.partial(self._fill_whole, spec.filler,
                                                        spec.shape))
                continue
            count = spec.count
            self._ready.put((layer, index, spec.shape, -(-count // self._most), False))
            for start in range(0, count, self._most):
                buffer = self._free.get()
                if buffer is None:
                    raise _Stop
                self._check()
                piece = buffer[: min(self._most, count - start)]
                piece_fill(self._rng, piece)
                self._ready.put((piece, functools.partial(self._free.put, buffer)))

    def _check(self) -> None:
        """Stop here if the reader went away or a stop was requested."""
        if self._stopping or interrupt.requested() is not None:
            raise _Stop

    def _fill_whole(self, filler: FillerParameter, shape: tuple[int, ...]) -> np.ndarray:
        array = np.empty(shape, dtype=np.float32)
        fill_blob(filler, array, self._rng, self._profile)
        return array

    def _hand_over_whole(self, layer: NetLayer, index: int, shape: tuple[int, ...],
                         make: Callable[[], np.ndarray]) -> None:
        """One whole array, made by ``make`` once there is room for it, as a
        blob of one piece."""
        nbytes = 4 * math.prod(shape)
        self._wait_for_room(nbytes)
        array = make()  # before the header: a refusal reaches the reader in its place
        self._ready.put((layer, index, shape, 1, True))
        self._ready.put((array.reshape(-1), functools.partial(self._room, nbytes)))

    def _wait_for_room(self, nbytes: int | None) -> None:
        """Wait until ``nbytes`` more of whole arrays may be held (None: until
        none is held), then count them as held."""
        with self._held_changed:
            while not self._stopping and self._held and (
                    nbytes is None or self._held + nbytes > streaming.AHEAD_BYTES):
                self._held_changed.wait()
            if self._stopping:
                raise _Stop
            self._held += nbytes or 0

    def _room(self, nbytes: int) -> None:
        with self._held_changed:
            self._held -= nbytes
            self._held_changed.notify_all()


def choose_seed() -> int:
    """A fresh random 32-bit seed (when the user gives none)."""
    return int.from_bytes(os.urandom(4), "little")


def _located(exc: CaffefillError, model: NetModel, layer: NetLayer) -> CaffefillError:
    return exc.located(path=model.path, line=layer.line, column=layer.column, layer=layer.name)


def iter_blobs(model: NetModel, rng: CaffeRNG, profile: Profile,
               *, lazy: bool = False) -> Iterator[FilledBlob]:
    """Run every draw of the net in Caffe's order, yielding each learnable blob.

    Each yielded array is owned by the caller.  Only blobs that a later layer
    shares are kept here, so peak memory stays near the largest blob.  With
    ``lazy``, the draws run on a worker thread ahead of the caller and large
    blobs come piece by piece (:meth:`FilledBlob.pieces`, each piece valid
    until the next is asked for): peak memory stays near a few pieces, and
    drawing overlaps whatever the caller does with the values; it starts at
    once, before the first blob is asked for.
    """
    if lazy:
        ahead = _DrawAhead(model, rng, profile)
        blobs = ahead.blobs()
        weakref.finalize(blobs, ahead.stop)  # dropped without being read: stop the worker
        return blobs
    return _drawn_in_place(model, rng, profile)


def _drawn_in_place(model: NetModel, rng: CaffeRNG, profile: Profile) -> Iterator[FilledBlob]:
    """iter_blobs(lazy=False): every draw on the caller's thread, as it asks."""
    owners = streaming.shared_owners(model)
    kept: dict[tuple[int, int], np.ndarray] = {}
    for layer in model.layers:
        try:
            yield from _whole_layer(model, layer, rng, profile, owners, kept,
                                    interrupt.check)
        except CaffefillError as exc:
            raise _located(exc, model, layer) from None


def _whole_layer(model: NetModel, layer: NetLayer, rng: CaffeRNG, profile: Profile,
                 owners: set[tuple[int, int]],
                 kept: dict[tuple[int, int], np.ndarray],
                 check: Callable[[], None]) -> Iterator[FilledBlob]:
    """One layer's draws, then its blobs as whole arrays; ``kept`` holds the
    blobs of ``owners`` for the layers that share them.  ``check`` runs before
    every draw and between the pieces of a large fill (it raises to stop)."""
    produced: dict[int, np.ndarray] = {}
    for draw in layer.draws:
        check()
        if isinstance(draw, RandDraw):
            rng.discard(draw.count)
            continue
        assert isinstance(draw, FillDraw)
        if draw.blob is None and check_drawless(draw.filler, draw.shape):
            continue  # values thrown away and nothing drawn: only the checks count
        array = np.empty(draw.shape, dtype=np.float32)
        _fill_in_pieces(draw.filler, array, rng, profile, check)
        if draw.blob is not None:
            produced[draw.blob] = array
        del array  # a thrown-away fill is freed before the next one is allocated
    for index, spec in enumerate(layer.blobs):
        owner = model.shared_owner(layer.index, index)
        if owner is not None:
            array = kept[owner]
        elif index in produced:
            array = produced.pop(index)
        else:  # zero-initialised, no draw (BatchNorm statistics)
            array = np.zeros(spec.shape, dtype=np.float32)
        if (layer.index, index) in owners:
            kept[(layer.index, index)] = array
        yield FilledBlob(layer, index, spec.shape, array)
        del array


def _fill_in_pieces(filler: FillerParameter, array: np.ndarray, rng: CaffeRNG,
                    profile: Profile, check: Callable[[], None]) -> None:
    """``fill_blob``, piece by piece with ``check()`` between the pieces when the
    blob is large and its filler draws one value per position (the same values)."""
    flat = array.reshape(-1)
    most = streaming.PIECE_VALUES
    piece_fill = plan_pieces(filler, array.shape, profile) if flat.size > most else None
    if piece_fill is None:
        fill_blob(filler, array, rng, profile)
        return
    for start in range(0, flat.size, most):
        check()
        piece_fill(rng, flat[start:start + most])


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
    path: str | os.PathLike[str] | None = None,
    phase: str | int | None = None,
    seed: int | None = None,
    stages: Sequence[str] = (),
    level: int | None = None,
    inputs: Mapping[str, Sequence[int]] | None = None,
    caffe: str | None = None,
    boost: str | None = None,
    strict: bool = False,
    *,
    solver: str | os.PathLike[str] | None = None,
) -> PreparedNet:
    """Load and set up the net (the file ``path``, or the train net of the solver
    file ``solver``, see :mod:`caffefill.solver`); nothing is drawn yet."""
    profile = resolve(caffe, boost)
    notes: list[Any] = []
    if solver is not None:
        if path is not None:
            raise CaffefillError("give a net or a solver, not both")
        if phase is not None:
            raise CaffefillError("a solver builds its TRAIN net: give no phase with it")
        built, src, model = load_train_net(solver, stages=tuple(stages), level=level,
                                           inputs=inputs, strict=strict, profile=profile)
        if built.seed is not None and seed is not None and seed != built.seed:
            raise CaffefillError(f"{solver}: the solver's random_seed is {built.seed}; "
                                 f"give no other seed ({seed})")
        if built.seed is not None:
            seed = built.seed
        elif seed is None:
            seed = choose_seed()
            notes.append(f"{solver}: no random_seed: Caffe seeds such a run from the clock, "
                         f"so no run of it can be reproduced; using seed {seed} (recorded "
                         "in the output)")
        seed = check_seed(seed)
        stages, level = built.stages, built.level
    elif path is None:
        raise CaffefillError("give a net (or a solver)")
    else:
        seed = choose_seed() if seed is None else check_seed(seed)
        level = 0 if level is None else level
        src, model = load_net(path, phase=DEFAULT_PHASE if phase is None else phase,
                              stages=stages, level=level, inputs=inputs, strict=strict,
                              profile=profile)
    digest = src.sha256  # of the bytes that were read (the file may be a pipe)
    return PreparedNet(model=model, seed=seed, phase=phase_name(model.phase),
                       stages=tuple(stages), level=level, profile=profile,
                       prototxt_sha256=digest, warnings=notes + list(src.warnings))


def init_net(
    path: str | os.PathLike[str] | None = None,
    phase: str | int | None = None,
    seed: int | None = None,
    stages: Sequence[str] = (),
    level: int | None = None,
    inputs: Mapping[str, Sequence[int]] | None = None,
    caffe: str | None = None,
    boost: str | None = None,
    *,
    solver: str | os.PathLike[str] | None = None,
) -> InitResult:
    """What ``caffe.set_random_seed(seed); caffe.Net(path, phase)`` holds.

    Returns an ordered mapping layer name -> list of float32 arrays (layers
    that own blobs, in net order), like pycaffe's ``net.params``; the seed
    used is ``result.seed`` (a random one is chosen when none is given).  The
    phase is TRAIN unless given.  ``solver=FILE`` instead of ``path``: the net
    ``caffe train --solver FILE`` builds, with its ``random_seed`` and
    ``train_state`` (see :mod:`caffefill.solver`).
    """
    prepared = prepare_net(path, phase=phase, seed=seed, stages=stages, level=level,
                           inputs=inputs, caffe=caffe, boost=boost, solver=solver)
    result = InitResult(seed=prepared.seed, phase=prepared.phase, stages=prepared.stages,
                        level=prepared.level, profile=prepared.profile, model=prepared.model,
                        prototxt_sha256=prepared.prototxt_sha256)
    for blob in prepared.blobs():
        result.setdefault(blob.layer.name, []).append(blob.array)
    return result
