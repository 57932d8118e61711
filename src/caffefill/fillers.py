"""Caffe's seven fillers, one table entry each, bit-exact over the C core.

Each entry validates the blob and the parameters first, refusing with a
FillerError everything Caffe aborts on (its CHECK text is kept on the error
as ``caffe_message``, which CHECK failed as ``kind``), then draws from the
stream in Caffe's order.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._proto import caffefill_pb2 as pb
from .errors import ErrorKind, FillerError
from .profiles import DEFAULT_PROFILE, Profile
from .rng import CaffeRNG, check_seed, kernel

FillerParameter = pb.FillerParameter
VARIANCE_NORMS = {pb.FillerParameter.FAN_IN: "FAN_IN", pb.FillerParameter.FAN_OUT: "FAN_OUT",
                  pb.FillerParameter.AVERAGE: "AVERAGE"}


def cfloat(value: float | np.floating[Any]) -> float:
    """A Python float rounded to float32, as Caffe's Dtype holds it."""
    return float(np.float32(value))


def cfmt(value: float) -> str:
    """A number as glog prints it in a CHECK message (C++ ostream default)."""
    if float(value).is_integer() and abs(value) < 1e16:
        return str(int(value))
    return f"{value:g}"


def _check_failed(expr: str, lhs: float, rhs: float, note: str = "") -> str:
    text = f"Check failed: {expr} ({cfmt(lhs)} vs. {cfmt(rhs)})"
    return f"{text} {note}" if note else text


# ---------------------------------------------------------------- blob helpers


def legacy_axis(shape: Sequence[int], index: int) -> int:
    """Blob::LegacyShape(index): 1 past the last axis; refuses > 4 axes."""
    if len(shape) > 4:
        raise FillerError(
            f"this filler uses Caffe's legacy num()/channels() accessors, which refuse "
            f"blobs with more than 4 axes (this blob has {len(shape)}: {list(shape)}); "
            f"use gaussian/uniform, or reproduce BVLC master with caffe='master'",
            caffe_message=_check_failed(
                "num_axes() <= 4", len(shape), 4,
                "Cannot use legacy accessors on Blobs with > 4 axes."),
            kind=ErrorKind.LEGACY_AXES,
        )
    if index >= len(shape) or index < -len(shape):
        return 1
    return int(shape[index])


def shape_axis(shape: Sequence[int], index: int) -> int:
    """Blob::shape(index) (BVLC master's accessor): refuses an axis the blob lacks."""
    ndim = len(shape)
    if not -ndim <= index < ndim:
        count = math.prod(shape)
        described = " ".join(str(int(d)) for d in shape)
        described = f"{described} ({count})" if described else f"({count})"
        expr, lhs, rhs = (("axis_index >= -num_axes()", index, -ndim) if index < -ndim
                          else ("axis_index < num_axes()", index, ndim))
        raise FillerError(
            f"BVLC master's filler reads axis {index} of the blob, which has {ndim} "
            f"ax{'i' if ndim == 1 else 'e'}s ({list(shape)}); give the blob that axis",
            caffe_message=_check_failed(
                expr, lhs, rhs,
                f"axis {index} out of range for {ndim}-D Blob with shape {described}"),
            kind=ErrorKind.MISSING_AXIS,
        )
    return int(shape[index])


@dataclass(frozen=True)
class Fans:
    fan_in: int
    fan_out: int


def fans(shape: Sequence[int], profile: Profile = DEFAULT_PROFILE) -> Fans:
    """fan_in and fan_out exactly as the profile's Caffe computes them."""
    count = math.prod(shape)
    if profile.legacy_fans:
        # Caffe 1.0: count / num() and count / channels(), missing axes count as 1.
        num, channels = legacy_axis(shape, 0), legacy_axis(shape, 1)
    else:
        # BVLC master: count / shape(0) (no axis 0 is an error) and, for blobs
        # with more than one axis, count / shape(1); a 1-D blob's fan_out is count.
        num = shape_axis(shape, 0)
        channels = int(shape[1]) if len(shape) > 1 else 1
    fan_in = count // num if num else 0
    fan_out = count // channels if channels else 0
    return Fans(fan_in, fan_out)


def variance_n(param: FillerParameter, f: Fans) -> float:
    """The float32 ``n`` of xavier/msra for the chosen variance_norm."""
    if param.variance_norm == pb.FillerParameter.AVERAGE:
        return cfloat(cfloat(f.fan_in + f.fan_out) / np.float32(2))
    if param.variance_norm == pb.FillerParameter.FAN_OUT:
        return cfloat(f.fan_out)
    return cfloat(f.fan_in)


def xavier_scale(param: FillerParameter, shape: Sequence[int],
                 profile: Profile = DEFAULT_PROFILE) -> float:
    """sqrt(3 / n) in float32: the bound of xavier's uniform."""
    n = np.float32(variance_n(param, fans(shape, profile)))
    return float(np.sqrt(np.float32(3) / n, dtype=np.float32))


def msra_std(param: FillerParameter, shape: Sequence[int],
             profile: Profile = DEFAULT_PROFILE) -> float:
    """sqrt(2 / n) in float32: msra's standard deviation."""
    n = np.float32(variance_n(param, fans(shape, profile)))
    return float(np.sqrt(np.float32(2) / n, dtype=np.float32))


# ------------------------------------------------------------------ refusals


def _require_values(shape: Sequence[int]) -> None:
    if math.prod(shape) == 0:
        raise FillerError(
            f"the blob {list(shape)} has no values to fill; check the layer's dimensions",
            caffe_message="Check failed: blob->count()",
            kind=ErrorKind.EMPTY_BLOB,
        )


def _require_no_sparse(param: FillerParameter) -> None:
    if param.sparse != -1:
        raise FillerError(
            f"'sparse: {param.sparse}' only works with the gaussian filler, "
            f"not {param.type}; remove it or use type: \"gaussian\"",
            caffe_message=_check_failed(
                "this->filler_param_.sparse() == -1", param.sparse, -1,
                "Sparsity not supported by this Filler."),
            kind=ErrorKind.SPARSE_UNSUPPORTED,
        )


def _require_sigma(sigma: float) -> None:
    if not sigma > 0:
        raise FillerError(
            f"a Gaussian needs std > 0 (got {cfmt(sigma)}); for a constant fill use "
            f"type: \"constant\"",
            caffe_message=_check_failed("sigma > 0", sigma, 0),
            kind=ErrorKind.NONPOSITIVE_SIGMA,
        )


def _require_drawable_range(lo: float, hi: float, profile: Profile, what: str) -> None:
    """Refuse, before any draw, a uniform range Caffe's draw never returns from.

    Caffe draws ``uniform_real(lo, nextafter(hi, FLT_MAX))`` and Boost redraws
    every value that is not below the upper bound.  That loop never ends when
    a bound is not finite (every value is inf or NaN), when the upper bound
    cannot move past ``lo`` (``min`` = ``max`` = FLT_MAX: nextafter stays at
    FLT_MAX, so every value equals the bound), or, with Boost <= 1.55, when
    the width ``nextafter(hi) - lo`` overflows float (1.56 and later draw such
    a range as twice its half).  ``lo <= hi`` is checked by the caller.
    """
    f32 = np.float32
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise FillerError(
            f"{what} min: {cfmt(lo)} max: {cfmt(hi)} is not a finite range: Caffe never "
            f"returns from this fill (every draw is inf or NaN and is retried); give finite "
            f"bounds")
    top = np.nextafter(f32(hi), f32(np.finfo(np.float32).max))
    if not top > f32(lo):
        raise FillerError(
            f"{what} min: {cfmt(lo)} max: {cfmt(hi)}: both bounds are the largest float, and "
            f"Caffe draws values below nextafter(max), which cannot pass it, so it never "
            f"returns from this fill; lower min")
    if not profile.uniform_splits_wide_range:
        with np.errstate(over="ignore", invalid="ignore"):
            span = top - f32(lo)
        if not np.isfinite(span):
            raise FillerError(
                f"{what} min: {cfmt(lo)} max: {cfmt(hi)} spans more than float can hold: a "
                f"Caffe built against Boost <= 1.55 never returns from this fill (Boost 1.56 "
                f"and later handle it); narrow the range")


# ------------------------------------------------------------------ fillers

FillFn = Callable[[FillerParameter, np.ndarray, CaffeRNG, Profile], None]


# Fillers that take one draw sequence with one value per position (constant,
# uniform, xavier, msra, dense gaussian) are written as *plans*: the checks
# run on the shape, then a function fills any consecutive piece of the flat
# blob.  Filling the pieces in order on one stream equals filling the blob at
# once (every draw continues the stream), which lets writers fill and write
# large blobs piece by piece.
PieceFill = Callable[[CaffeRNG, np.ndarray], None]
PlanFn = Callable[[FillerParameter, Sequence[int], Profile], PieceFill]


def _plan_constant(param: FillerParameter, shape: Sequence[int], profile: Profile) -> PieceFill:
    _require_values(shape)
    _require_no_sparse(param)
    value = np.float32(param.value)
    return lambda rng, piece: piece.fill(value)


def _gaussian_checks(param: FillerParameter, shape: Sequence[int]) -> float:
    """gaussian's refusals; returns the sparse mask probability (0 when dense)."""
    _require_values(shape)
    _require_sigma(param.std)
    sparse = param.sparse
    if sparse < -1:
        raise FillerError(
            f"sparse must be -1 (dense) or a count of non-zero inputs, got {sparse}",
            caffe_message=_check_failed("sparse >= -1", sparse, -1),
            kind=ErrorKind.SPARSE_BELOW_DENSE,
        )
    probability = 0.0
    if sparse >= 0:
        if len(shape) < 1:
            raise FillerError("sparse Gaussian needs a blob with at least one axis",
                              caffe_message=_check_failed("blob->num_axes() >= 1", 0, 1),
                              kind=ErrorKind.SPARSE_NO_AXIS)
        probability = cfloat(np.float32(sparse) / np.float32(shape[0]))
        if probability > 1:
            raise FillerError(
                f"sparse: {sparse} asks for more non-zero weights per output than the blob's "
                f"first axis has ({shape[0]}): the probability {cfmt(probability)} is "
                f"above 1; use sparse <= {shape[0]}",
                caffe_message=_check_failed("p <= 1", probability, 1),
                kind=ErrorKind.SPARSE_TOO_DENSE,
            )
    return probability


def _gaussian_draw(mean: float, std: float, profile: Profile) -> PieceFill:
    kind = profile.normal_kind
    return lambda rng, piece: kernel(rng).gaussian(piece, mean, std, kind)


def _plan_dense_gaussian(param: FillerParameter, shape: Sequence[int],
                         profile: Profile) -> PieceFill:
    _gaussian_checks(param, shape)
    return _gaussian_draw(param.mean, param.std, profile)


def _gaussian(param: FillerParameter, blob: np.ndarray, rng: CaffeRNG, profile: Profile) -> None:
    probability = _gaussian_checks(param, blob.shape)
    _gaussian_draw(param.mean, param.std, profile)(rng, blob.reshape(-1))
    if param.sparse >= 0:
        # The mask is drawn after all the normals: not a one-pass fill.
        kernel(rng).bernoulli_mask(blob.reshape(-1), probability)


def _uniform_draw(lo: float, hi: float) -> PieceFill:
    return lambda rng, piece: kernel(rng).uniform(piece, lo, hi)


def _plan_uniform(param: FillerParameter, shape: Sequence[int], profile: Profile) -> PieceFill:
    _require_values(shape)
    lo, hi = cfloat(param.min), cfloat(param.max)
    if not lo <= hi:
        raise FillerError(
            f"uniform min ({cfmt(lo)}) is greater than max ({cfmt(hi)}); swap them",
            caffe_message=_check_failed("a <= b", lo, hi),
            kind=ErrorKind.UNIFORM_MIN_ABOVE_MAX,
        )
    # Caffe hangs in the draw, before any later check.
    _require_drawable_range(lo, hi, profile, "uniform")
    _require_no_sparse(param)
    return _uniform_draw(lo, hi)


def _positive_unitball(param: FillerParameter, blob: np.ndarray, rng: CaffeRNG,
                       profile: Profile) -> None:
    _require_values(blob.shape)
    shape = blob.shape
    # Rows: Caffe 1.0 uses num() (1 for a 0-D blob, > 4 axes refused), BVLC
    # master shape(0) (any number of axes, 0-D refused).
    rows = legacy_axis(shape, 0) if profile.legacy_fans else shape_axis(shape, 0)
    _require_no_sparse(param)
    kernel(rng).uniform(blob.reshape(-1), 0.0, 1.0)
    from . import _core

    _core.normalize_rows(blob.reshape(-1), rows)


def _plan_xavier(param: FillerParameter, shape: Sequence[int], profile: Profile) -> PieceFill:
    _require_values(shape)
    scale = xavier_scale(param, shape, profile)
    _require_drawable_range(-scale, scale, profile, "xavier's uniform")
    _require_no_sparse(param)
    return _uniform_draw(-scale, scale)


def _plan_msra(param: FillerParameter, shape: Sequence[int], profile: Profile) -> PieceFill:
    _require_values(shape)
    std = msra_std(param, shape, profile)
    _require_sigma(std)
    _require_no_sparse(param)
    return _gaussian_draw(0.0, std, profile)


def _whole(plan: PlanFn) -> FillFn:
    """A planned filler applied to a whole blob."""

    def fill(param: FillerParameter, blob: np.ndarray, rng: CaffeRNG, profile: Profile) -> None:
        plan(param, blob.shape, profile)(rng, blob.reshape(-1))

    return fill


def _check_bilinear(param: FillerParameter, shape: Sequence[int]) -> None:
    if len(shape) != 4:
        raise FillerError(
            f"bilinear needs a 4-D (N, C, K, K) kernel, this blob is {list(shape)}",
            caffe_message=_check_failed("blob->num_axes() == 4", len(shape), 4,
                                        "Blob must be 4 dim."),
            kind=ErrorKind.BILINEAR_NOT_4D,
        )
    if shape[2] != shape[3]:
        raise FillerError(
            f"bilinear needs a square kernel, this one is {shape[2]} x {shape[3]}; "
            f"use kernel_size (not kernel_h/kernel_w that differ)",
            caffe_message=_check_failed("blob->width() == blob->height()", shape[3], shape[2],
                                        "Filter must be square"),
            kind=ErrorKind.BILINEAR_NOT_SQUARE,
        )
    _require_no_sparse(param)


def _bilinear(param: FillerParameter, blob: np.ndarray, rng: CaffeRNG, profile: Profile) -> None:
    shape = blob.shape
    _check_bilinear(param, shape)
    if blob.size:
        from . import _core

        _core.bilinear(blob.reshape(-1), int(shape[3]), profile.bilinear_kind)


FILLERS: dict[str, FillFn] = {
    "constant": _whole(_plan_constant),
    "gaussian": _gaussian,
    "positive_unitball": _positive_unitball,
    "uniform": _whole(_plan_uniform),
    "xavier": _whole(_plan_xavier),
    "msra": _whole(_plan_msra),
    "bilinear": _bilinear,
}


def nearest_type(name: str) -> str | None:
    lowered = {t.lower(): t for t in FILLERS}
    if name.lower() in lowered:
        return lowered[name.lower()]
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def unknown_type_error(name: str) -> FillerError:
    hint = nearest_type(name)
    suggestion = f"did you mean \"{hint}\"? " if hint else ""
    return FillerError(
        f"unknown filler type \"{name}\": {suggestion}known types are "
        + ", ".join(FILLERS),
        caffe_message=f"Check failed: false Unknown filler name: {name}",
        kind=ErrorKind.UNKNOWN_FILLER,
    )


# ------------------------------------------------------------------ API


def parse_filler(filler: FillerParameter | str) -> FillerParameter:
    """A FillerParameter from a message or its prototxt text."""
    if isinstance(filler, pb.FillerParameter):
        return filler
    if isinstance(filler, str):
        from .errors import ParseError
        from .net.reader import parse_message

        param = pb.FillerParameter()
        try:
            # The prototxt reader (protobuf's C++ syntax, as Caffe reads it); unknown
            # fields are errors here: a misspelt 'std' must not silently fall back.
            parse_message(filler, param, path="filler", strict=True)
        except ParseError as exc:
            shown = filler if len(filler) <= 60 else filler[:57] + "..."
            where = f" (column {exc.column})" if exc.column is not None and \
                "\n" not in filler else ""
            raise FillerError(f"cannot read filler {shown!r}{where}: {exc.message}") from None
        return param
    # A FillerParameter from another schema (pycaffe's caffe_pb2, say).
    serialize = getattr(filler, "SerializeToString", None)
    if serialize is None:
        raise FillerError(f"expected a FillerParameter or its text, not {type(filler).__name__}")
    param = pb.FillerParameter()
    param.ParseFromString(serialize())
    return param


def fill_blob(param: FillerParameter, blob: np.ndarray, rng: CaffeRNG,
              profile: Profile = DEFAULT_PROFILE) -> None:
    """Fill ``blob`` (float32, C order) in place as Caffe's GetFiller(param)->Fill."""
    function = FILLERS.get(param.type)
    if function is None:
        raise unknown_type_error(param.type)
    function(param, blob, rng, profile)


_PLANS: dict[str, PlanFn] = {
    "constant": _plan_constant,
    "uniform": _plan_uniform,
    "xavier": _plan_xavier,
    "msra": _plan_msra,
}


def plan_pieces(param: FillerParameter, shape: Sequence[int],
                profile: Profile = DEFAULT_PROFILE) -> PieceFill | None:
    """For a filler that draws one value per position, run its checks for a
    blob of ``shape`` and return the function that fills consecutive pieces
    of the flat blob, in order; None for the others (positive_unitball, a
    sparse gaussian, bilinear), which must fill the whole blob at once."""
    if not fills_by_piece(param):
        return None
    plan = _plan_dense_gaussian if param.type == "gaussian" else _PLANS[param.type]
    return plan(param, shape, profile)


def fills_by_piece(param: FillerParameter) -> bool:
    """Whether :func:`plan_pieces` fills blobs of this filler piece by piece."""
    return param.sparse == -1 if param.type == "gaussian" else param.type in _PLANS


#: Fillers that write their values without taking anything from the stream.
DRAWLESS = frozenset({"constant", "bilinear"})


def check_drawless(param: FillerParameter, shape: Sequence[int]) -> bool:
    """Run the checks of a filler that draws nothing, for a blob of ``shape``,
    without allocating it.

    For a fill whose values are thrown away (a DummyData top, an unrolled
    recurrent net's shared copies) only the filler's refusals matter.
    Returns True when that is all there was to do, False when the filler
    draws from the stream (the caller must run it on a real blob).
    """
    if param.type == "constant":
        _require_values(shape)
        _require_no_sparse(param)
        return True
    if param.type == "bilinear":
        _check_bilinear(param, shape)
        return True
    if param.type not in FILLERS:
        raise unknown_type_error(param.type)
    return False


def check_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """A blob shape Caffe can hold: at most 32 axes of int32 dims, at most 2**31 - 1 values."""
    dims = tuple(int(d) for d in shape)
    if len(dims) > 32:
        raise FillerError(f"shape {list(dims)} has {len(dims)} axes; Caffe allows 32")
    if any(d < 0 for d in dims):
        raise FillerError(f"negative dimension in shape {list(dims)}")
    if any(d > 2**31 - 1 for d in dims):
        raise FillerError(f"dimension past Caffe's int32 limit in shape {list(dims)}")
    if math.prod(d for d in dims if d) > 2**31 - 1:
        # Caffe stops counting at a 0 dim, but no array can have these dims.
        raise FillerError(f"shape {list(dims)}: its non-zero dims multiply past Caffe's int32 "
                          f"blob limit")
    if math.prod(dims) > 2**31 - 1:
        raise FillerError(
            f"shape {list(dims)} has {math.prod(dims)} values, past Caffe's int32 blob limit"
        )
    return dims


def fill(
    filler: FillerParameter | str,
    shape: Sequence[int],
    *,
    seed: int | None = None,
    rng: CaffeRNG | None = None,
    caffe: str | None = None,
    boost: str | None = None,
) -> np.ndarray:
    """One Caffe filler call: a new float32 array of ``shape``.

    With ``seed`` a fresh stream is used (``Caffe::set_random_seed(seed)``);
    with ``rng`` the draws continue that stream.  ``caffe`` and ``boost``
    pick the Caffe build to reproduce (see :mod:`caffefill.profiles`).
    """
    from .profiles import resolve

    profile = resolve(caffe, boost)
    param = parse_filler(filler)
    dims = check_shape(shape)
    if rng is None:
        if seed is None:
            raise FillerError("fill() needs a seed or an rng")
        rng = CaffeRNG(check_seed(seed))
    elif seed is not None:
        raise FillerError("pass either seed or rng to fill(), not both")
    blob = np.empty(dims, dtype=np.float32)
    fill_blob(param, blob, rng, profile)
    return blob
