"""Would Caffe refuse this fill?  Decided by caffefill's own fillers, without drawing.

:func:`refusal` runs the filler of :data:`caffefill.fillers.FILLERS` on the
blob with a random stream that stops the call at its first draw: every
filler checks its parameters and the blob before it draws, so what it
raises before that point is exactly what Caffe's ``CHECK`` s refuse, and
nothing is drawn or written.  The blob is ``np.empty`` of the real shape:
the filler never touches its memory before the first draw, so even large
blobs cost no memory.  Two fillers write without drawing, and get a small
stand-in blob instead, which gives the same verdict: ``constant`` (its
checks are ``count > 0`` and ``sparse == -1``; the model refuses empty blobs
anyway) and ``bilinear`` (its checks read the number of axes and the last
two dims only).

:func:`classify` maps a refusal to its audit code by the kind of Caffe's
CHECK that it carries (``FillerError.kind``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._proto import caffefill_pb2 as pb
from ..errors import CaffefillError, ErrorKind, FillerError
from ..fillers import FILLERS, unknown_type_error
from ..profiles import Profile
from .context import AuditContext, Place

#: Codes of the refusals, keyed by the kind of Caffe CHECK that fails.
_CODES = {
    ErrorKind.UNKNOWN_FILLER: "CF103",
    ErrorKind.SPARSE_UNSUPPORTED: "CF104",
    ErrorKind.SPARSE_TOO_DENSE: "CF105",
    ErrorKind.SPARSE_BELOW_DENSE: "CF105",
    ErrorKind.UNIFORM_MIN_ABOVE_MAX: "CF106",
    ErrorKind.BILINEAR_NOT_4D: "CF107",
    ErrorKind.BILINEAR_NOT_SQUARE: "CF107",
    ErrorKind.LEGACY_AXES: "CF108",
    ErrorKind.NONPOSITIVE_SIGMA: "CF109",
}

#: The refusals that depend on the blob's shape (the others on the parameters only).
SHAPE_CODES = frozenset({"CF105", "CF107", "CF108"})


class _FirstDraw(Exception):
    """Raised by :class:`_StopAtFirstDraw`: the filler accepted the blob."""


class _StopAtFirstDraw:
    """A stand-in for CaffeRNG whose every draw ends the dry run."""

    def _stop(self, *args: Any, **kwargs: Any) -> None:
        raise _FirstDraw

    gaussian = uniform = bernoulli_mask = discard = _stop

    @property
    def _stream(self) -> _StopAtFirstDraw:  # what caffefill.rng.kernel() reads
        return self


def _stand_in(filler_type: str, shape: Sequence[int]) -> tuple[int, ...]:
    if filler_type == "constant":
        return (1,)
    if filler_type == "bilinear":
        if len(shape) == 4:
            return (1, 1, int(shape[2]), int(shape[3]))
        return (1,) * len(shape)
    return tuple(int(d) for d in shape)


def refusal(param: pb.FillerParameter, shape: Sequence[int], profile: Profile
            ) -> FillerError | None:
    """The FillerError Caffe's filler raises on a blob of ``shape``, or None."""
    function = FILLERS.get(param.type)
    if function is None:
        return unknown_type_error(param.type)
    try:
        blob = np.empty(_stand_in(param.type, shape), dtype=np.float32)
        function(param, blob, _StopAtFirstDraw(), profile)  # type: ignore[arg-type]
    except _FirstDraw:
        return None
    except FillerError as exc:
        return exc
    except (CaffefillError, MemoryError, ValueError, OverflowError):
        return None  # cannot be decided here; the fill itself will say
    return None


def neutral_shape(param: pb.FillerParameter) -> tuple[int, ...]:
    """A blob shape that none of the filler's shape checks refuse."""
    if param.type == "bilinear":
        return (1, 1, 1, 1)
    if param.type == "gaussian" and param.sparse > 1:
        return (int(param.sparse),)
    return (1,)


def parameter_refusal(param: pb.FillerParameter, profile: Profile) -> FillerError | None:
    """What Caffe refuses in the parameters alone, whatever the blob."""
    return refusal(param, neutral_shape(param), profile)


def classify(error: FillerError) -> str:
    """The audit code of a refusal (CF100 when it is none of the known ones)."""
    if error.kind is None:
        return "CF100"
    return _CODES.get(error.kind, "CF100")


@dataclass(frozen=True)
class Refusal:
    """A fill Caffe refuses: its code, where, and the filler's error."""

    code: str
    place: Place
    error: FillerError


def refusals(ctx: AuditContext) -> list[Refusal]:
    """Every refused fill of the file, once per code and position.

    The filler blocks are checked for what their parameters alone make
    Caffe refuse (every block, whatever the phase); with exact shapes, each
    blob with a filler of its own is then checked for what its shape makes
    Caffe refuse.
    """
    cached = ctx.cache.get("refusals")
    if isinstance(cached, list):
        return cached
    found: list[Refusal] = []
    seen: set[tuple[str, int | None, int | None]] = set()

    def add(code: str, place: Place, error: FillerError) -> None:
        key = (code, place.line, place.column)
        if key not in seen:
            seen.add(key)
            found.append(Refusal(code, place, error))

    for block in ctx.src.filler_blocks:
        error = parameter_refusal(block.filler, ctx.profile)
        if error is not None:
            add(classify(error), ctx.block_place(block), error)
    if ctx.has("shapes"):
        for blob in ctx.blobs():
            if not blob.explicit or blob.filler is None:
                continue
            error = refusal(blob.filler, blob.spec.shape, ctx.profile)
            if error is not None and classify(error) in SHAPE_CODES:
                add(classify(error), ctx.blob_place(blob), error)
    ctx.cache["refusals"] = found
    return found
