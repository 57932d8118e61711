"""Every filler type, one :class:`FillerSpec` each: Caffe's seven, bit-exact
over the C core, and caffefill's own (``orthogonal``, ``trunc_normal``).

A spec says which fields the filler reads, whether it draws, whether it can
be drawn piece by piece, its checks, its moments and what it does.  The
checks refuse with a FillerError everything Caffe aborts on (its CHECK text
is kept on the error as ``caffe_message``, which CHECK failed as ``kind``)
before anything is drawn; the draws follow Caffe's order on one stream.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import float32
from ._proto import caffefill_pb2 as pb
from .errors import CaffefillError, ErrorKind, FillerError
from .float32 import f32 as cfloat
from .messages import check_failed, glog_number, nearest
from .profiles import DEFAULT_PROFILE, Profile

if TYPE_CHECKING:
    import numpy as np

    from .rng import CaffeRNG

# numpy, the C core and the random stream are imported where a fill is drawn:
# the checks, the moments and the specs (all that ``show`` and ``audit`` use)
# are scalar float32 arithmetic (caffefill.float32), and importing numpy would
# cost them more than a tenth of a second at start-up.

FillerParameter = pb.FillerParameter


# ---------------------------------------------------------------- blob helpers


def legacy_axis(shape: Sequence[int], index: int) -> int:
    """Blob::LegacyShape(index): 1 past the last axis; refuses > 4 axes."""
    if len(shape) > 4:
        raise FillerError(
            f"this filler uses Caffe's legacy num()/channels() accessors, which refuse "
            f"blobs with more than 4 axes (this blob has {len(shape)}: {list(shape)}); "
            f"use gaussian/uniform, or reproduce BVLC master with caffe='master'",
            caffe_message=check_failed(
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
            caffe_message=check_failed(
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


def fan_values(shape: Sequence[int], profile: Profile = DEFAULT_PROFILE) -> tuple[int, int] | None:
    """(fan_in, fan_out) as the profile's Caffe computes them, or None if it cannot."""
    if not shape:
        return (1, 1)
    try:
        f = fans(shape, profile)
    except CaffefillError:
        return None
    return f.fan_in, f.fan_out


def variance_n(param: FillerParameter, f: Fans) -> float:
    """The float32 ``n`` of xavier/msra for the chosen variance_norm."""
    if param.variance_norm == pb.FillerParameter.AVERAGE:
        return float32.div(cfloat(f.fan_in + f.fan_out), 2.0)
    if param.variance_norm == pb.FillerParameter.FAN_OUT:
        return cfloat(f.fan_out)
    return cfloat(f.fan_in)


def xavier_scale(param: FillerParameter, shape: Sequence[int],
                 profile: Profile = DEFAULT_PROFILE) -> float:
    """sqrt(3 / n) in float32: the bound of xavier's uniform."""
    return float32.sqrt(float32.div(3.0, variance_n(param, fans(shape, profile))))


def msra_std(param: FillerParameter, shape: Sequence[int],
             profile: Profile = DEFAULT_PROFILE) -> float:
    """sqrt(2 / n) in float32: msra's standard deviation."""
    return float32.sqrt(float32.div(2.0, variance_n(param, fans(shape, profile))))


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
            caffe_message=check_failed(
                "this->filler_param_.sparse() == -1", param.sparse, -1,
                "Sparsity not supported by this Filler."),
            kind=ErrorKind.SPARSE_UNSUPPORTED,
        )


def _require_sigma(sigma: float) -> None:
    if not sigma > 0:
        raise FillerError(
            f"a Gaussian needs std > 0 (got {glog_number(sigma)}); for a constant fill use "
            f"type: \"constant\"",
            caffe_message=check_failed("sigma > 0", sigma, 0),
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
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise FillerError(
            f"{what} min: {glog_number(lo)} max: {glog_number(hi)} is not a finite range: "
            f"Caffe never returns from this fill (every draw is inf or NaN and is retried); "
            f"give finite bounds")
    top = float32.next_up(cfloat(hi))
    if not top > cfloat(lo):
        raise FillerError(
            f"{what} min: {glog_number(lo)} max: {glog_number(hi)}: both bounds are the "
            f"largest float, and Caffe draws values below nextafter(max), which cannot pass "
            f"it, so it never returns from this fill; lower min")
    if not profile.uniform_splits_wide_range:
        span = cfloat(top - cfloat(lo))
        if not math.isfinite(span):
            raise FillerError(
                f"{what} min: {glog_number(lo)} max: {glog_number(hi)} spans more than float "
                f"can hold: a Caffe built against Boost <= 1.55 never returns from this fill "
                f"(Boost 1.56 and later handle it); narrow the range")


# ------------------------------------------------------------------ draws

#: Fills the flat values of a blob (or, for a filler drawn piece by piece,
#: any consecutive piece of them, the pieces in order on one stream).
PieceFill = Callable[["CaffeRNG", "np.ndarray"], None]
Shape = tuple[int, ...]
#: (mean, E[w^2]) of a filler's values.
Moments = tuple[float, float]


def _gaussian_draw(mean: float, std: float, profile: Profile) -> PieceFill:
    def draw(rng: CaffeRNG, piece: np.ndarray) -> None:
        from .rng import kernel

        kernel(rng).gaussian(piece, mean, std, profile.normal_kind)

    return draw


def _uniform_draw(lo: float, hi: float) -> PieceFill:
    def draw(rng: CaffeRNG, piece: np.ndarray) -> None:
        from .rng import kernel

        kernel(rng).uniform(piece, lo, hi)

    return draw


# ------------------------------------------------------------------ Caffe's fillers
#
# Each ``_prepare_*`` runs the filler's checks on the parameters and the
# blob's shape, in Caffe's order (its CHECKs come before its first draw),
# and returns the function that draws.  Nothing is allocated or drawn, so
# the same function serves the fill, the audit's refusals and the fills
# whose values are thrown away.


def _prepare_constant(param: FillerParameter, shape: Shape, profile: Profile) -> PieceFill:
    _require_values(shape)
    _require_no_sparse(param)
    value = cfloat(param.value)
    return lambda rng, piece: piece.fill(value)


def _sparse_probability(param: FillerParameter, shape: Shape) -> float:
    """gaussian's refusals; returns the sparse mask probability (0 when dense)."""
    _require_values(shape)
    _require_sigma(param.std)
    sparse = param.sparse
    if sparse < -1:
        raise FillerError(
            f"sparse must be -1 (dense) or a count of non-zero inputs, got {sparse}",
            caffe_message=check_failed("sparse >= -1", sparse, -1),
            kind=ErrorKind.SPARSE_BELOW_DENSE,
        )
    probability = 0.0
    if sparse >= 0:
        if len(shape) < 1:
            raise FillerError("sparse Gaussian needs a blob with at least one axis",
                              caffe_message=check_failed("blob->num_axes() >= 1", 0, 1),
                              kind=ErrorKind.SPARSE_NO_AXIS)
        probability = float32.div(cfloat(sparse), cfloat(shape[0]))
        if probability > 1:
            raise FillerError(
                f"sparse: {sparse} asks for more non-zero weights per output than the blob's "
                f"first axis has ({shape[0]}): the probability {glog_number(probability)} is "
                f"above 1; use sparse <= {shape[0]}",
                caffe_message=check_failed("p <= 1", probability, 1),
                kind=ErrorKind.SPARSE_TOO_DENSE,
            )
    return probability


def _prepare_gaussian(param: FillerParameter, shape: Shape, profile: Profile) -> PieceFill:
    probability = _sparse_probability(param, shape)
    draw = _gaussian_draw(param.mean, param.std, profile)
    if param.sparse < 0:
        return draw

    def sparse(rng: CaffeRNG, flat: np.ndarray) -> None:
        from .rng import kernel

        draw(rng, flat)
        # The mask is drawn after all the normals: not a one-pass fill.
        kernel(rng).bernoulli_mask(flat, probability)

    return sparse


def _prepare_uniform(param: FillerParameter, shape: Shape, profile: Profile) -> PieceFill:
    _require_values(shape)
    lo, hi = cfloat(param.min), cfloat(param.max)
    if not lo <= hi:
        raise FillerError(
            f"uniform min ({glog_number(lo)}) is greater than max ({glog_number(hi)}); swap them",
            caffe_message=check_failed("a <= b", lo, hi),
            kind=ErrorKind.UNIFORM_MIN_ABOVE_MAX,
        )
    # Caffe hangs in the draw, before any later check.
    _require_drawable_range(lo, hi, profile, "uniform")
    _require_no_sparse(param)
    return _uniform_draw(lo, hi)


def _unitball_rows(shape: Shape, profile: Profile) -> int:
    # Rows: Caffe 1.0 uses num() (1 for a 0-D blob, > 4 axes refused), BVLC
    # master shape(0) (any number of axes, 0-D refused).
    return legacy_axis(shape, 0) if profile.legacy_fans else shape_axis(shape, 0)


def _prepare_positive_unitball(param: FillerParameter, shape: Shape,
                               profile: Profile) -> PieceFill:
    _require_values(shape)
    rows = _unitball_rows(shape, profile)
    _require_no_sparse(param)

    def fill(rng: CaffeRNG, flat: np.ndarray) -> None:
        from .rng import kernel

        kernel(rng).unitball(flat, rows)

    return fill


def _prepare_xavier(param: FillerParameter, shape: Shape, profile: Profile) -> PieceFill:
    _require_values(shape)
    scale = xavier_scale(param, shape, profile)
    _require_drawable_range(-scale, scale, profile, "xavier's uniform")
    _require_no_sparse(param)
    return _uniform_draw(-scale, scale)


def _prepare_msra(param: FillerParameter, shape: Shape, profile: Profile) -> PieceFill:
    _require_values(shape)
    std = msra_std(param, shape, profile)
    _require_sigma(std)
    _require_no_sparse(param)
    return _gaussian_draw(0.0, std, profile)


def _prepare_bilinear(param: FillerParameter, shape: Shape, profile: Profile) -> PieceFill:
    if len(shape) != 4:
        raise FillerError(
            f"bilinear needs a 4-D (N, C, K, K) kernel, this blob is {list(shape)}",
            caffe_message=check_failed("blob->num_axes() == 4", len(shape), 4,
                                        "Blob must be 4 dim."),
            kind=ErrorKind.BILINEAR_NOT_4D,
        )
    if shape[2] != shape[3]:
        raise FillerError(
            f"bilinear needs a square kernel, this one is {shape[2]} x {shape[3]}; "
            f"use kernel_size (not kernel_h/kernel_w that differ)",
            caffe_message=check_failed("blob->width() == blob->height()", shape[3], shape[2],
                                        "Filter must be square"),
            kind=ErrorKind.BILINEAR_NOT_SQUARE,
        )
    _require_no_sparse(param)
    size = int(shape[3])

    def fill(rng: CaffeRNG, flat: np.ndarray) -> None:
        from . import _core

        if flat.size:
            _core.bilinear(flat, size, profile.bilinear_kind)

    return fill


# ------------------------------------------------------------------ caffefill's own fillers
#
# Initializers Caffe users asked for and Caffe never merged.  They draw from
# the same stream with Caffe's own Gaussian, so a net that uses them is as
# reproducible as any other; their exact definitions are caffefill's:
#
# orthogonal (gain g): the blob is a (rows, cols) matrix, rows = shape[0]
#   (1 for a 0-D blob), cols = count / rows.  Its count values are drawn as
#   the gaussian filler with mean 0, std 1 draws them (one stream, C order),
#   then, in float64, numpy.linalg.qr of the matrix (of its transpose when
#   rows < cols) gives Q, each column of Q is multiplied by the sign of R's
#   diagonal entry (+1 for 0) so the result is uniform over orthogonal
#   matrices (Saxe et al., 2013; Mezzadri, 2007), the matrix is transposed
#   back, multiplied by g and rounded to float32.  Rows (or columns, when
#   there are fewer) are orthonormal times g.  The draws are exact; the QR is
#   LAPACK's, whose last float64 bits may differ between LAPACK builds, which
#   very rarely moves a float32 rounding.
#
# trunc_normal (mean, std, a, b): rounds of Caffe's Gaussian with mean 0 and
#   std 1, each round one call (as caffe_rng_gaussian) of as many values as
#   are still missing; the draws z with a <= z <= b (bounds in standard
#   deviations, default -2 and 2) are kept in stream order, the others thrown
#   away, and each value is std * z + mean in float32, as Boost's
#   normal_distribution(mean, std) computes it.  No draw is taken past the
#   last value's.  With the ziggurat (Boost >= 1.56) every draw is one
#   stream value whatever the calls, so this is "redraw each value until it
#   falls inside"; with Box-Muller (Boost <= 1.55) a call of an odd count
#   drops its last sine value, so the rounds are part of the definition.


def _require_gain(gain: float) -> None:
    if not math.isfinite(gain):
        raise FillerError(f"orthogonal gain must be finite (got {glog_number(gain)})")


def _prepare_orthogonal(param: FillerParameter, shape: Shape, profile: Profile) -> PieceFill:
    _require_values(shape)
    _require_no_sparse(param)
    _require_gain(param.gain)
    rows = int(shape[0]) if shape else 1
    cols = math.prod(shape) // rows
    gain = cfloat(param.gain)
    unit = _gaussian_draw(0.0, 1.0, profile)

    def fill(rng: CaffeRNG, flat: np.ndarray) -> None:
        import numpy as np

        unit(rng, flat)
        matrix = flat.reshape(rows, cols).astype(np.float64)
        wide = rows < cols
        q, r = np.linalg.qr(matrix.T if wide else matrix)
        signs = np.where(np.diag(r) < 0, -1.0, 1.0)
        q *= signs
        flat[:] = ((q.T if wide else q) * gain).reshape(-1)

    return fill


#: Least probability of a truncated normal's interval: below it the draw
#: would take more than this many tries per value on average.
TRUNC_MIN_MASS = 1e-4


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _normal_pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi) if math.isfinite(x) else 0.0


def _trunc_bounds(param: FillerParameter) -> tuple[float, float]:
    a, b = cfloat(param.a), cfloat(param.b)
    if not a < b:
        raise FillerError(f"trunc_normal needs a < b (got a: {glog_number(a)} "
                          f"b: {glog_number(b)}); the bounds are in standard deviations "
                          f"from the mean")
    mass = _normal_cdf(b) - _normal_cdf(a)
    if not mass >= TRUNC_MIN_MASS:
        raise FillerError(
            f"trunc_normal a: {glog_number(a)} b: {glog_number(b)} keeps a share {mass:.3g} "
            f"of the normal draws: the fill would draw more than {1 / TRUNC_MIN_MASS:g} times "
            f"per value; widen the bounds or move them nearer 0")
    return a, b


def _prepare_trunc_normal(param: FillerParameter, shape: Shape, profile: Profile) -> PieceFill:
    _require_values(shape)
    _require_sigma(param.std)
    _require_no_sparse(param)
    a, b = _trunc_bounds(param)
    def fill(rng: CaffeRNG, piece: np.ndarray) -> None:
        import numpy as np

        from .rng import kernel

        kind = profile.normal_kind
        lo, hi = np.float32(a), np.float32(b)
        mean, std = np.float32(param.mean), np.float32(param.std)
        stream = kernel(rng)
        done = 0
        while done < piece.size:
            # Exactly as many draws as values still missing: each draw gives
            # at most one, so none is taken past the last value's.
            z = np.empty(piece.size - done, dtype=np.float32)
            stream.gaussian(z, 0.0, 1.0, kind)
            kept = z[(z >= lo) & (z <= hi)]
            piece[done:done + kept.size] = kept * std + mean  # float32, as Boost does
            done += kept.size

    return fill


# ------------------------------------------------------------------ moments
#
# (mean, E[w^2]) of the values a filler gives a blob, over the blob and the
# stream: what ``show`` prints as std and what the audit's signal estimate
# multiplies by.  A CaffefillError (a refused fill) or an ArithmeticError
# means they cannot be told.


def _moments_constant(param: FillerParameter, shape: Shape, profile: Profile) -> Moments:
    value = cfloat(param.value)
    return value, value * value


def _moments_gaussian(param: FillerParameter, shape: Shape, profile: Profile) -> Moments:
    keep = 1.0
    if param.sparse >= 0 and shape and shape[0]:
        keep = min(1.0, param.sparse / float(shape[0]))
    mean, std = float(param.mean), float(param.std)
    return keep * mean, keep * (std * std + mean * mean)


def _moments_uniform(param: FillerParameter, shape: Shape, profile: Profile) -> Moments:
    lo, hi = float(param.min), float(param.max)
    return (lo + hi) / 2.0, (lo * lo + lo * hi + hi * hi) / 3.0


def _moments_positive_unitball(param: FillerParameter, shape: Shape,
                               profile: Profile) -> Moments:
    # Each row is n uniform values over their sum (about n / 2): mean 1/n,
    # E[w^2] about E[u^2] / (n/2)^2 = 4 / (3 n^2).
    n = math.prod(shape) / _unitball_rows(shape, profile)
    return 1.0 / n, 4.0 / (3.0 * n * n)


def _moments_xavier(param: FillerParameter, shape: Shape, profile: Profile) -> Moments:
    scale = xavier_scale(param, shape, profile)
    return 0.0, scale * scale / 3.0


def _moments_msra(param: FillerParameter, shape: Shape, profile: Profile) -> Moments:
    std = msra_std(param, shape, profile)
    return 0.0, std * std


def _moments_bilinear(param: FillerParameter, shape: Shape, profile: Profile) -> Moments:
    # Every (n, c) slice holds the same K x K kernel: its values' moments.
    import numpy as np

    from .rng import CaffeRNG

    kernel_values = np.empty((1, 1, *shape[2:]), dtype=np.float32)
    fill_blob(param, kernel_values, CaffeRNG(0), profile)
    return float(kernel_values.mean()), float(np.square(kernel_values, dtype=np.float64).mean())


def _moments_orthogonal(param: FillerParameter, shape: Shape, profile: Profile) -> Moments:
    # min(rows, cols) orthonormal vectors times g: g^2 min(r, c) / (r c).
    rows = int(shape[0]) if shape else 1
    cols = math.prod(shape) / rows
    gain = cfloat(param.gain)
    return 0.0, gain * gain / max(rows, cols)


def _moments_trunc_normal(param: FillerParameter, shape: Shape, profile: Profile) -> Moments:
    a, b = _trunc_bounds(param)
    mass = _normal_cdf(b) - _normal_cdf(a)
    shift = (_normal_pdf(a) - _normal_pdf(b)) / mass
    spread = 1.0 + (_finite_times(a, _normal_pdf(a)) - _finite_times(b, _normal_pdf(b))) / mass
    mean, std = float(param.mean), float(param.std)
    mu = mean + std * shift
    variance = std * std * (spread - shift * shift)
    return mu, variance + mu * mu


def _finite_times(x: float, density: float) -> float:
    return x * density if density else 0.0


# ------------------------------------------------------------------ specs


def _never(param: FillerParameter, profile: Profile) -> bool:
    return False


def _always(param: FillerParameter, profile: Profile) -> bool:
    return True


def _dense(param: FillerParameter, profile: Profile) -> bool:
    return param.sparse == -1


def _pairless(param: FillerParameter, profile: Profile) -> bool:
    # Box-Muller (Boost <= 1.55) drops a call's odd last value: the rounds of
    # a rejection draw are then part of the definition, so the blob is whole.
    from . import _core

    return profile.normal_kind != _core.NORMAL_BOX_MULLER


@dataclass(frozen=True)
class FillerSpec:
    """Everything caffefill knows about one filler type, in one place."""

    #: The ``type`` string.
    name: str
    #: The FillerParameter fields it reads (``type`` aside).
    fields_read: tuple[str, ...]
    #: Whether it takes values from the stream.
    draws: bool
    #: Whether a blob's values can be drawn piece by piece with these
    #: parameters and profile: the pieces (of an even number of values) in
    #: order on one stream equal the whole blob at once, which lets writers
    #: stream large blobs.
    by_piece: Callable[[FillerParameter, Profile], bool]
    #: Runs the checks (Caffe's refusals) for a blob of this shape, then
    #: returns the function that draws (see :data:`PieceFill`).
    prepare: Callable[[FillerParameter, Shape, Profile], PieceFill]
    #: (mean, E[w^2]) of the values it gives a blob of this shape.
    moment_fn: Callable[[FillerParameter, Shape, Profile], Moments]
    #: One line on what it does.
    description: str
    #: False for caffefill's own fillers, which no Caffe knows.
    caffe: bool = True
    #: Whether it reads the blob's fans through Caffe's legacy 4-axis
    #: accessors (``num()``): Caffe 1.0 refuses it on blobs of 5+ axes.
    fans: bool = False

    def check(self, param: FillerParameter, shape: Sequence[int],
              profile: Profile = DEFAULT_PROFILE) -> None:
        """Refuse (FillerError) what the filler refuses for a blob of ``shape``."""
        self.prepare(param, tuple(int(d) for d in shape), profile)

    def moments(self, param: FillerParameter, shape: Sequence[int],
                profile: Profile = DEFAULT_PROFILE) -> Moments | None:
        """(mean, E[w^2]) of its values for a blob of ``shape``; None when they
        cannot be told (the fill is refused, or they are not finite)."""
        try:
            mean, square = self.moment_fn(param, tuple(int(d) for d in shape), profile)
        except (CaffefillError, ArithmeticError, ValueError):
            return None
        return (mean, square) if math.isfinite(mean) and math.isfinite(square) else None

    def std(self, param: FillerParameter, shape: Sequence[int],
            profile: Profile = DEFAULT_PROFILE) -> float | None:
        """The standard deviation of its values (None: cannot be told)."""
        moments = self.moments(param, shape, profile)
        if moments is None:
            return None
        mean, square = moments
        return math.sqrt(max(square - mean * mean, 0.0))


SPECS: dict[str, FillerSpec] = {spec.name: spec for spec in (
    FillerSpec("constant", ("value",), False, _always, _prepare_constant, _moments_constant,
               "writes `value` everywhere"),
    FillerSpec("gaussian", ("mean", "std", "sparse"), True, _dense, _prepare_gaussian,
               _moments_gaussian,
               "normal values of `mean` and `std`; with `sparse`, a random share zeroed"),
    FillerSpec("positive_unitball", (), True, _never, _prepare_positive_unitball,
               _moments_positive_unitball,
               "uniform values in [0, 1), each row then divided by its sum", fans=True),
    FillerSpec("uniform", ("min", "max"), True, _always, _prepare_uniform, _moments_uniform,
               "uniform values in [`min`, `max`]"),
    FillerSpec("xavier", ("variance_norm",), True, _always, _prepare_xavier, _moments_xavier,
               "uniform in +-sqrt(3 / n), n the fan `variance_norm` names", fans=True),
    FillerSpec("msra", ("variance_norm",), True, _always, _prepare_msra, _moments_msra,
               "normal with std sqrt(2 / n), n the fan `variance_norm` names", fans=True),
    FillerSpec("bilinear", (), False, _never, _prepare_bilinear, _moments_bilinear,
               "the bilinear upsampling kernel, from the kernel size alone"),
    FillerSpec("orthogonal", ("gain",), True, _never, _prepare_orthogonal, _moments_orthogonal,
               "a random orthogonal (rows, cols) matrix times `gain`", caffe=False),
    FillerSpec("trunc_normal", ("mean", "std", "a", "b"), True, _pairless, _prepare_trunc_normal,
               _moments_trunc_normal,
               "normal of `mean` and `std`, redrawn outside `a`..`b` stds", caffe=False),
)}

#: Every FillerParameter field some filler reads, in the schema's order.
FILLER_FIELDS = tuple(f.name for f in pb.FillerParameter.DESCRIPTOR.fields
                      if any(f.name in spec.fields_read for spec in SPECS.values()))


def filler_spec(name: str) -> FillerSpec:
    """The spec of filler type ``name``; refuses an unknown type as Caffe's GetFiller does."""
    spec = SPECS.get(name)
    if spec is None:
        raise unknown_type_error(name)
    return spec


def known_types_text() -> str:
    """Caffe's filler types, then caffefill's own apart (no Caffe reads those)."""
    caffe = ", ".join(n for n, s in SPECS.items() if s.caffe)
    own = ", ".join(n for n, s in SPECS.items() if not s.caffe)
    return f"Caffe's types are {caffe}; caffefill also fills {own}, which no Caffe can read"


def unknown_type_error(name: str) -> FillerError:
    hint = nearest(name, SPECS)
    suggestion = ""
    if hint:
        own = "" if SPECS[hint].caffe else " (caffefill's own)"
        suggestion = f"did you mean \"{hint}\"{own}? "
    return FillerError(
        f"unknown filler type \"{name}\": {suggestion}{known_types_text()}",
        caffe_message=f"Check failed: false Unknown filler name: {name}",
        kind=ErrorKind.UNKNOWN_FILLER,
    )


def caffe_unknown_error(name: str) -> FillerError | None:
    """What Caffe says of a type caffefill fills but Caffe does not know (its
    own fillers), None for Caffe's types and unknown ones."""
    spec = SPECS.get(name)
    if spec is None or spec.caffe:
        return None
    return FillerError(
        f"filler type \"{name}\" is caffefill's own: `caffefill init` fills it, but Caffe "
        f"aborts setting up a net that names it, so no Caffe can use this prototxt "
        f"({known_types_text()})",
        caffe_message=f"Check failed: false Unknown filler name: {name}",
        kind=ErrorKind.UNKNOWN_FILLER,
    )


#: Fields ``describe`` leaves out at these values (they change nothing).
_QUIET_DEFAULTS: dict[str, float] = {"mean": 0.0, "sparse": -1}


def describe(param: FillerParameter | None) -> str:
    """``gaussian(std=0.01)``: the filler with the parameters it reads;
    caffefill's own fillers are marked ``[caffefill]``."""
    if param is None:
        return "zeros"
    spec = SPECS.get(param.type)
    if spec is None:
        return param.type
    parts = []
    for name in spec.fields_read:
        value = getattr(param, name)
        if name == "variance_norm":
            parts.append(pb.FillerParameter.VarianceNorm.Name(value))
        elif value != _QUIET_DEFAULTS.get(name):
            parts.append(f"{name}={value:g}")
    text = f"{param.type}({', '.join(parts)})" if parts else param.type
    return text if spec.caffe else f"{text} [caffefill]"


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
    filler_spec(param.type).prepare(param, blob.shape, profile)(rng, blob.reshape(-1))


def plan_pieces(param: FillerParameter, shape: Sequence[int],
                profile: Profile = DEFAULT_PROFILE) -> PieceFill | None:
    """For a filler drawn piece by piece (:attr:`FillerSpec.by_piece`), run its
    checks for a blob of ``shape`` and return the function that fills
    consecutive pieces of the flat blob, in order; None for the others, which
    must fill the whole blob at once."""
    spec = filler_spec(param.type)
    if not spec.by_piece(param, profile):
        return None
    return spec.prepare(param, tuple(int(d) for d in shape), profile)


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
    import numpy as np

    from .profiles import resolve
    from .rng import CaffeRNG, check_seed

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
