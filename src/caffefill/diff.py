"""Compare two sets of weights blob by blob (``caffefill diff``), piece by piece.

Values are compared as float32 bits, a piece of :data:`PIECE_VALUES` at a
time: two files are never held in memory, only two pieces of them.  Where
both blobs are stored as little-endian float32 in C order (every file
caffefill and Caffe write), the pieces are read into fixed buffers (the
second file's on a helper thread, a piece ahead) and compared as bytes, so
identical weights cost little more than reading them, and numpy is not even
imported; only a piece that differs is looked at value by value (in float64,
for the size of the difference).  For each blob the report gives the number
of values that differ, the first of them and the largest difference, by index.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .errors import one_line
from .readers.files import IndexedBlob, ReadBudget
from .streaming import PIECE_VALUES

if TYPE_CHECKING:
    from collections.abc import Iterator

    import numpy as np

    from .readers.files import FileSpan, SpanReader

#: Values per piece compared as raw bytes: the buffers stay in the CPU's cache
#: between the read and the compare (measured with tools/bench_diff.py).
RAW_VALUES = 1 << 18
#: Memory the comparison itself takes: two pieces being read and the float64
#: temporaries of a piece that differs.
WORKING_BYTES = 2 * 4 * PIECE_VALUES + 6 * 8 * PIECE_VALUES


@dataclass
class Tolerance:
    """Values closer than ``atol + rtol * |b|`` count as equal (NaN as equal to NaN),
    as in ``numpy.isclose``; without one, every bit counts."""

    atol: float = 0.0
    rtol: float = 0.0

    @property
    def exact(self) -> bool:
        return self.atol == 0.0 and self.rtol == 0.0


EXACT = Tolerance()


@dataclass
class BlobDiff:
    key: str
    status: str  # identical | close | differ | shape | only-a | only-b
    shape_a: tuple[int, ...] | None = None
    shape_b: tuple[int, ...] | None = None
    count_differ: int = 0  # values whose float32 bits differ
    count_beyond: int = 0  # of those, values beyond the tolerance
    first_index: tuple[int, ...] | None = None
    max_abs: float = 0.0  # largest |a-b| among differing values (NaN: none has a size)
    max_index: tuple[int, ...] | None = None
    max_values: tuple[float, float] | None = None  # a and b there


@dataclass
class DiffReport:
    blobs: list[BlobDiff] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """Every blob in both, bit for bit equal."""
        return all(b.status == "identical" for b in self.blobs)

    @property
    def same(self) -> bool:
        """Every blob in both, equal within the tolerance."""
        return all(b.status in ("identical", "close") for b in self.blobs)


class _Blob:
    """What a comparison needs of a blob: shape and float32 pieces (and, when the
    file stores it so, the raw float32 bytes)."""

    def __init__(self, value: IndexedBlob | np.ndarray) -> None:
        self.value = value
        self.shape = tuple(int(d) for d in value.shape)

    def raw(self) -> FileSpan | None:
        return self.value.raw_f32 if isinstance(self.value, IndexedBlob) else None

    def pieces(self, size: int) -> Iterator[np.ndarray]:
        if isinstance(self.value, IndexedBlob):
            yield from self.value.pieces(size)
            return
        import numpy as np

        flat = np.ascontiguousarray(self.value, dtype=np.float32).reshape(-1)
        for start in range(0, flat.size, size):
            yield flat[start:start + size]

    def whole_bytes(self) -> int:
        return self.value.whole_bytes() if isinstance(self.value, IndexedBlob) else 0


def _flatten(params: Mapping[str, Sequence[Any]]) -> dict[str, _Blob]:
    return {f"{layer}/{i}": _Blob(a) for layer, blobs in params.items()
            for i, a in enumerate(blobs)}


#: Told of the comparison's progress: (values compared, blobs done) since the last call.
Progress = Callable[[int, int], None]


def comparison_size(a: Mapping[str, Sequence[Any]], b: Mapping[str, Sequence[Any]]
                    ) -> tuple[int, int]:
    """(values compared, blobs reported) of :func:`diff_weights` on ``a`` and ``b``:
    the values of the blobs in both with one shape, and every blob of either."""
    fa, fb = _flatten(a), _flatten(b)
    values = sum(math.prod(x.shape) for key, x in fa.items()
                 if key in fb and fb[key].shape == x.shape)
    return values, len(fa) + sum(key not in fa for key in fb)


def diff_weights(a: Mapping[str, Sequence[Any]], b: Mapping[str, Sequence[Any]], *,
                 tolerance: Tolerance = EXACT, budget: ReadBudget | None = None,
                 piece: int = PIECE_VALUES, progress: Progress | None = None) -> DiffReport:
    """Compare ``a`` and ``b`` (layer -> blobs: arrays, or blobs of an index read
    piece by piece), bit for bit or within ``tolerance``; ``progress`` is told of each
    piece compared and each blob done (:func:`comparison_size` gives the totals)."""
    budget = budget or ReadBudget()
    tell = progress or (lambda values, blobs: None)
    fa, fb = _flatten(a), _flatten(b)
    report = DiffReport()
    for key in list(fa) + [k for k in fb if k not in fa]:
        if key not in fb:
            report.blobs.append(BlobDiff(key, "only-a", shape_a=fa[key].shape))
        elif key not in fa:
            report.blobs.append(BlobDiff(key, "only-b", shape_b=fb[key].shape))
        elif fa[key].shape != fb[key].shape:
            report.blobs.append(BlobDiff(key, "shape", fa[key].shape, fb[key].shape))
        else:
            x, y = fa[key], fb[key]
            whole = x.whole_bytes() + y.whole_bytes()
            budget.take(whole, f"blob {key}")
            try:
                report.blobs.append(_compare(key, x, y, tolerance, piece, tell))
            finally:
                budget.give_back(whole)
        tell(0, 1)
    return report


class _Tally:
    """The differences of one blob, accumulated piece by piece."""

    def __init__(self, key: str, shape: tuple[int, ...], tolerance: Tolerance) -> None:
        self.key = key
        self.shape = shape
        self.tolerance = tolerance
        self.differ = 0
        self.beyond = 0
        self.first: int | None = None
        self.max_abs = -1.0
        self.max_at: int | None = None
        self.max_values: tuple[float, float] | None = None

    def piece(self, x: np.ndarray, y: np.ndarray, offset: int) -> None:
        import numpy as np

        unequal = x.view(np.uint32) != y.view(np.uint32)
        n = int(np.count_nonzero(unequal))
        if not n:
            return
        self.differ += n
        if self.first is None:
            self.first = offset + int(np.argmax(unequal))
        with np.errstate(all="ignore"):  # inf - inf, NaN: no warning, no size
            delta = x.astype(np.float64)
            delta -= y
            np.abs(delta, out=delta)
            if self.tolerance.exact:
                self.beyond += n
            else:
                bound = np.abs(y, dtype=np.float64)
                bound *= self.tolerance.rtol
                bound += self.tolerance.atol
                close = delta <= bound
                close |= np.isnan(x) & np.isnan(y)
                self.beyond += int(np.count_nonzero(unequal & ~close))
            if n < unequal.size:  # only differing values have a size
                np.copyto(delta, -1.0, where=~unequal)
        at = int(np.argmax(delta))
        if math.isnan(delta[at]):  # argmax stops at a NaN: no size, so look again without
            np.copyto(delta, -1.0, where=np.isnan(delta))
            at = int(np.argmax(delta))
        if delta[at] > self.max_abs:
            self.max_abs = float(delta[at])
            self.max_at = offset + at
            self.max_values = (float(x[at]), float(y[at]))

    def result(self) -> BlobDiff:
        if not self.differ:
            return BlobDiff(self.key, "identical", self.shape, self.shape)
        status = "differ" if self.beyond else "close"
        return BlobDiff(self.key, status, self.shape, self.shape, count_differ=self.differ,
                        count_beyond=self.beyond, first_index=self._index(self.first),
                        max_abs=self.max_abs if self.max_abs >= 0 else math.nan,
                        max_index=self._index(self.max_at), max_values=self.max_values)

    def _index(self, flat: int | None) -> tuple[int, ...] | None:
        """The index in C order of the ``flat``-th value."""
        if flat is None:
            return None
        index = []
        for size in reversed(self.shape):
            flat, at = divmod(flat, size)
            index.append(at)
        return tuple(reversed(index))


def _compare(key: str, x: _Blob, y: _Blob, tolerance: Tolerance, piece: int,
             tell: Progress) -> BlobDiff:
    tally = _Tally(key, x.shape, tolerance)
    raw_x, raw_y = x.raw(), y.raw()
    if raw_x is not None and raw_y is not None:
        _compare_raw(raw_x, raw_y, tally, piece, tell)
    else:
        offset = 0
        for px, py in zip(x.pieces(piece), y.pieces(piece), strict=True):
            tally.piece(px, py, offset)
            offset += px.size
            tell(px.size, 0)
    return tally.result()


def _compare_raw(span_x: FileSpan, span_y: FileSpan, tally: _Tally, piece: int,
                 tell: Progress) -> None:
    """Both blobs stored as float32 bytes: read into buffers (the second file a
    piece ahead on a helper thread: reading is mostly copying memory, done
    without the GIL), compare the bytes (memcmp), and look at values only in a
    piece whose bytes differ."""
    size = min(4 * min(piece, RAW_VALUES), span_x.nbytes)
    reader_x = span_x.reader()
    if not size:
        reader_x.finish()
        span_y.reader().finish()
        return
    buffer_x = bytearray(size)
    offset = 0
    with _Ahead(span_y.reader(), size) as ahead:
        while reader_x.done < span_x.nbytes:
            n = reader_x.readinto(buffer_x)
            buffer_y, n_y = ahead.next()
            tell(n // 4, 0)
            if n != n_y:  # cannot be: both spans hold the same number of values
                raise AssertionError(f"read {n} and {n_y} bytes of {span_x.what}")
            if buffer_x == buffer_y if n == size else buffer_x[:n] == buffer_y[:n]:
                ahead.done_with()
                offset += n // 4
                continue
            import numpy as np

            tally.piece(np.frombuffer(buffer_x, np.float32, n // 4),
                        np.frombuffer(buffer_y, np.float32, n // 4), offset)
            ahead.done_with()
            offset += n // 4


class _Ahead:
    """A span read on a helper thread into two buffers of ``size`` in turn, so that
    the next piece is read while the caller compares this one."""

    def __init__(self, reader: SpanReader, size: int) -> None:
        self.reader = reader
        self.buffers = (bytearray(size), bytearray(size))
        self.sizes = [0, 0]
        self.filled = (threading.Semaphore(0), threading.Semaphore(0))
        self.emptied = (threading.Semaphore(1), threading.Semaphore(1))
        self.error: BaseException | None = None
        self.stopping = False
        self.turn = 0
        self.thread = threading.Thread(target=self._run, name="caffefill-diff-read",
                                       daemon=True)

    def __enter__(self) -> _Ahead:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping = True
        for emptied in self.emptied:
            emptied.release()
        self.thread.join()

    def _run(self) -> None:
        turn = 0
        try:
            while self.reader.done < self.reader.span.nbytes:
                self.emptied[turn].acquire()
                if self.stopping:
                    return
                self.sizes[turn] = self.reader.readinto(self.buffers[turn])
                self.filled[turn].release()
                turn ^= 1
        except BaseException as exc:  # given to the caller, who raises it
            self.error = exc
            self.filled[turn].release()

    def next(self) -> tuple[bytearray, int]:
        """The next piece's buffer and its length, the buffer valid until
        :meth:`done_with`."""
        self.filled[self.turn].acquire()
        if self.error is not None:
            raise self.error
        return self.buffers[self.turn], self.sizes[self.turn]

    def done_with(self) -> None:
        self.emptied[self.turn].release()
        self.turn ^= 1


# ------------------------------------------------------------------ output


def _number(value: float) -> float | str:
    """A float for strict JSON: finite as a number, else "nan", "inf" or "-inf"."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def render_diff(report: DiffReport, name_a: str, name_b: str) -> str:
    lines = []
    for b in report.blobs:
        b = replace(b, key=one_line(b.key))  # a key is a layer name, from any file
        if b.status == "identical":
            lines.append(f"  {b.key}: identical {list(b.shape_a or ())}")
        elif b.status in ("differ", "close"):
            mark, within = ("!", "") if b.status == "differ" else ("~", ", all within tolerance")
            if b.status == "differ" and b.count_beyond != b.count_differ:
                within = f", {b.count_beyond} beyond tolerance"
            largest = ""
            if b.max_index is not None and b.max_values is not None:
                largest = (f", largest at index {list(b.max_index)} "
                           f"(a={b.max_values[0]:.9g}, b={b.max_values[1]:.9g})")
            lines.append(f"{mark} {b.key}: {b.count_differ} values differ{within}, max |a-b| = "
                         f"{b.max_abs:.9g}, first at index {list(b.first_index or ())}"
                         f"{largest}")
        elif b.status == "shape":
            lines.append(f"! {b.key}: shape {list(b.shape_a or ())} vs {list(b.shape_b or ())}")
        elif b.status == "only-a":
            lines.append(f"! {b.key}: only in {one_line(name_a)}")
        else:
            lines.append(f"! {b.key}: only in {one_line(name_b)}")
    same = sum(b.status == "identical" for b in report.blobs)
    close = sum(b.status == "close" for b in report.blobs)
    verdict = "identical" if report.identical else "same within tolerance" if report.same \
        else "DIFFERENT"
    tail = f", {close} within tolerance" if close else ""
    lines.append(f"{verdict}: {same}/{len(report.blobs)} blobs identical{tail}")
    return "\n".join(lines)


def render_json(report: DiffReport, name_a: str, name_b: str, tolerance: Tolerance) -> str:
    """The report as strict JSON; a float that is not finite is the string "nan",
    "inf" or "-inf"."""
    def blob(b: BlobDiff) -> dict[str, Any]:
        layer, _, index = b.key.rpartition("/")
        out: dict[str, Any] = {
            "key": b.key, "layer": layer, "index": int(index), "status": b.status,
            "shape_a": list(b.shape_a) if b.shape_a is not None else None,
            "shape_b": list(b.shape_b) if b.shape_b is not None else None}
        if b.status in ("differ", "close"):
            out.update({
                "count_differ": b.count_differ, "count_beyond": b.count_beyond,
                "first_index": list(b.first_index or ()), "max_abs": _number(b.max_abs),
                "max_index": list(b.max_index) if b.max_index is not None else None,
                "max_a": _number(b.max_values[0]) if b.max_values else None,
                "max_b": _number(b.max_values[1]) if b.max_values else None})
        return out

    document = {
        "a": name_a, "b": name_b, "atol": tolerance.atol, "rtol": tolerance.rtol,
        "identical": report.identical, "same": report.same,
        "blobs": [blob(b) for b in report.blobs]}
    return json.dumps(document, indent=1, allow_nan=False)
