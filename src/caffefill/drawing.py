"""The drawing engine: every draw of a net in Caffe's order, one blob at a time.

One stream for the whole net: layers in order (after upgrade and
filtering), each layer's draws in Caffe's order.  A layer that shares a
parameter by name draws its own fill, then holds the owner's values.
:func:`iter_blobs` yields the blobs either drawn on the caller's thread or
on a worker thread ahead of the caller (:class:`DrawAhead`), which follows
the rules of :mod:`caffefill.streaming`; :mod:`caffefill.memory` estimates
what it holds.
"""

from __future__ import annotations

import functools
import math
import queue
import threading
import weakref
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any

import numpy as np

from . import interrupt, streaming
from .errors import CaffefillError
from .fillers import FillerParameter, fill_blob, filler_spec, plan_pieces
from .net.model import NetLayer, NetModel
from .net.spec import FillDraw, RandDraw
from .profiles import Profile
from .rng import CaffeRNG


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
    """A blob drawn on :class:`DrawAhead`'s worker thread, read as the pieces
    the worker hands over, in order; :attr:`array` gathers them into one array."""

    def __init__(self, layer: NetLayer, index: int, shape: Sequence[int], pieces: int,
                 whole: bool, *, source: DrawAhead) -> None:
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


class DrawAhead:
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
        for _ in range(streaming.POOL_BYTES // (4 * self._most)):
            self._free.put(np.empty(self._most, dtype=np.float32))
        self._held = 0  # bytes of whole arrays handed over and not let go of
        self._held_changed = threading.Condition()
        self._stopping = False
        self._release: Callable[[], None] | None = None  # lets go of the last piece
        self._thread = threading.Thread(target=self._work, name="caffefill-draw", daemon=True)
        self._thread.start()

    # -------------------------------------------------------------- reader side

    def blobs(self) -> Generator[FilledBlob, None, None]:
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


def _located(exc: CaffefillError, model: NetModel, layer: NetLayer) -> CaffefillError:
    return exc.located(path=model.path, line=layer.line, column=layer.column, layer=layer.name)


def iter_blobs(model: NetModel, rng: CaffeRNG, profile: Profile,
               *, lazy: bool = False) -> Generator[FilledBlob, None, None]:
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
        ahead = DrawAhead(model, rng, profile)
        blobs = ahead.blobs()
        weakref.finalize(blobs, ahead.stop)  # dropped without being read: stop the worker
        return blobs
    return _drawn_in_place(model, rng, profile)


def _drawn_in_place(model: NetModel, rng: CaffeRNG, profile: Profile
                    ) -> Generator[FilledBlob, None, None]:
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
        if draw.blob is None and not filler_spec(draw.filler.type).draws:
            # Values thrown away and nothing drawn: only the checks count.
            filler_spec(draw.filler.type).check(draw.filler, draw.shape, profile)
            continue
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
