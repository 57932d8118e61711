"""Would Caffe refuse this fill?  Decided by caffefill's own fillers, without drawing.

:func:`refusal` runs the checks of the filler's spec
(:meth:`caffefill.fillers.FillerSpec.check`): the same code that runs before
every fill's first draw, so what it raises is exactly what Caffe's
``CHECK`` s refuse; nothing is allocated, drawn or written.

:func:`classify` maps a refusal to its audit code by the kind of Caffe's
CHECK that it carries (``FillerError.kind``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .._proto import caffefill_pb2 as pb
from ..errors import CaffefillError, ErrorKind, FillerError, kept
from ..fillers import filler_spec
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


def refusal(param: pb.FillerParameter, shape: Sequence[int], profile: Profile
            ) -> FillerError | None:
    """The FillerError Caffe's filler raises on a blob of ``shape``, or None."""
    try:
        filler_spec(param.type).check(param, shape, profile)
    except FillerError as exc:
        return kept(exc)
    except (CaffefillError, ValueError, OverflowError):
        return None  # cannot be decided here; the fill itself will say
    return None


#: Blob shapes that between them pass every filler's shape checks.
_PROBE_SHAPES: tuple[tuple[int, ...], ...] = ((1,), (1, 1, 1, 1))


def parameter_refusal(param: pb.FillerParameter, profile: Profile) -> FillerError | None:
    """What Caffe refuses in the parameters alone, whatever the blob: the
    refusal every probe shape meets (a sparse gaussian is probed with as many
    rows as it asks non-zeros for), preferring one that is not about the shape."""
    shapes = [*_PROBE_SHAPES, (max(int(param.sparse), 1),)]
    errors = [refusal(param, shape, profile) for shape in shapes]
    refused = [e for e in errors if e is not None]
    if len(refused) < len(errors):
        return None
    return next((e for e in refused if classify(e) not in SHAPE_CODES), refused[0])


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

    by_text: dict[bytes, FillerError | None] = {}  # a net repeats a few fillers
    for block in ctx.src.filler_blocks:
        text = block.filler.SerializeToString(deterministic=True)
        if text not in by_text:
            by_text[text] = parameter_refusal(block.filler, ctx.profile)
        error = by_text[text]
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
