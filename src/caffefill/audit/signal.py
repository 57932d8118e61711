"""An estimate of the forward signal and of the gradients through the net at init.

Each blob gets a :class:`Level`: the mean E[x] and second moment E[x^2] of
its values (over units and samples, as a forward pass of random inputs
measures them), the share of them in a saturating activation's rails, and
how the gradient's second moment changes from the blob back to the last
*anchor* (the net's inputs, or a layer that sets the scale itself:
BatchNorm, MVN, Normalize, an Embed, a recurrent layer, a layer caffefill
cannot estimate).  Layer by layer, through the net's real graph, taking
each pre-activation as Gaussian with the mean and variance propagated so far
(the mean-field picture of He et al. 2015 and Glorot & Bengio 2010):

* a weight layer sums ``n`` inputs (its real fan-in: a Deconvolution's is
  C_in/group x kernel/stride per axis; a transposed InnerProduct's is the
  blob's first axis) with weights of mean mu_w and E[w^2] from the filler's
  spec: E[y] = n mu_w E[x] + E[b], E[y^2] = n E[w^2] E[x^2] + n(n-1)
  mu_w^2 E[x]^2 + ...; on the way back each input receives from
  count(top) x n / count(bottom) outputs, so the gradient's second moment
  is multiplied by that times E[w^2]; bilinear kernels interpolate;
* ReLU, leaky ReLU and PReLU use the rectified-Gaussian formulas (mean
  m Phi + s phi, ...), their gradient the share of positive inputs;
  Sigmoid, TanH, ELU, Swish, BNLL and AbsVal integrate the function, its
  square and its derivative's square against the Gaussian numerically;
  the share of a Sigmoid's or TanH's outputs within 1 % of their rails is
  P(|z| > logit(0.99)) or P(|z| > atanh(0.99));
* max pooling over k values takes the moments of the largest of k
  (independent) values, average pooling keeps the mean and divides the
  variance by k (a quarter of it stays: neighbours are correlated); LRN
  divides by (k + alpha E[x^2])^beta; training-time Dropout scales E[x^2]
  by 1/(1-p); Power and Scale apply their affine map;
* Eltwise sums add the variances of independent inputs (times coeff^2),
  products multiply, max takes the largest; Concat averages by element
  count; on the way back, the gradients of every input reaching the same
  anchor add up;
* layers that only move data (Split, Reshape, Crop, Slice, ...) keep it;
  losses, accuracies and labels carry no signal (None).

Levels are absolute.  An input's scale comes from :func:`input_level`:
8-bit images (an image data layer, or an Input/DummyData top shaped like a
batch of 1- or 3-channel images) are at the standard deviation of pixels
after the transform (about 65 when a mean is subtracted, 130 when not,
times ``scale``; an Input layer's transform happens outside the net, and
mean-subtracted pixels are the common case), every other input at 1.
:func:`drift` then compares a level with its anchor's: bringing a pixel
input (std 65) down to unit scale is what its first layer's small filler is
for, so the reference band is [min(anchor, 1), max(anchor, 1)], and the
drift is how many times the std is below or above that band (1 inside).

The estimate assumes independent weights and independent units; it is
meant to find orders of magnitude and rails, not digits.
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .._proto import caffefill_pb2 as pb
from ..fillers import SPECS
from ..net.model import NetLayer
from ..probe.measure import RAIL_MARGIN, LayerProbe
from ..probe.verdict import SATURATED, Verdict, judge
from .context import AuditContext, BlobRef

#: The share of a saturating activation's outputs in its rails above which
#: the layer counts as saturated (CF211; the verdict's share, probe's).
SATURATED_SHARE = SATURATED
#: "In the rails": within this fraction of the activation's range from its ends.
RAIL = RAIL_MARGIN
#: |z| beyond which sigmoid(z) and tanh(z) are in their rails.
SIGMOID_RAIL = math.log((1.0 - RAIL) / RAIL)
TANH_RAIL = math.atanh(1.0 - RAIL)


@dataclass(frozen=True, eq=False)
class Trail:
    """The weight layers met since the anchor, newest first: one layer and the
    factor it put on the root mean square, then the trail before it.

    A linked list, so that a layer extends its input's trail in constant time
    and memory and every blob shares the part of its trail it has in common
    with the others (a tuple per blob would make a long chain quadratic).
    Compared by identity.
    """

    layer: int  # the layer's index in the net
    name: str
    factor: float
    before: Trail | None = None
    #: The level's ``grad`` and ``moment`` at the layer's output, and the
    #: output's element count.
    grad: float = 1.0
    count: float = 1.0
    excess: float = 1.0

    def steps(self) -> list[Trail]:
        """The trail's entries, oldest first."""
        out: list[Trail] = []
        node: Trail | None = self
        while node is not None:
            out.append(node)
            node = node.before
        out.reverse()
        return out

    def __repr__(self) -> str:  # the default would recurse through the whole trail
        return f"Trail({self.name!r} x{self.factor:.3g}, ...)"


@dataclass(frozen=True)
class Level:
    """The estimated statistics of one blob's values.

    ``moment`` is E[x^2] and ``mean`` E[x]; ``nonneg`` whether the values are
    non-negative (after a ReLU); ``trail`` the weight layers met since the
    anchor (None: none); ``base`` the standard deviation at the anchor;
    ``saturated`` the share of the values in a saturating activation's rails
    (set by Sigmoid and TanH); ``grad`` the gradient's second moment at the
    anchor over its second moment here (the product of the backward gains
    of the layers between them).
    """

    moment: float
    mean: float = 0.0
    nonneg: bool = False
    trail: Trail | None = None
    base: float = 1.0
    saturated: float = 0.0
    grad: float = 1.0
    #: For a ReLU's output: the (mean, std) of the Gaussian it rectified.
    pre: tuple[float, float] | None = None
    #: For an activation's output: the standard deviation of its input.
    pre_std: float = 0.0
    #: The product, over the activations since the anchor, of how much more
    #: each shrinks the gradient's second moment than the signal's
    #: (E[f'(z)^2] E[z^2] / E[f(z)^2]: 1 for a ReLU of a zero-mean input).
    excess: float = 1.0

    @property
    def variance(self) -> float:
        return max(self.moment - self.mean * self.mean, 0.0)

    @property
    def std(self) -> float:
        return math.sqrt(self.variance)

    @property
    def ratio(self) -> float:
        """The standard deviation relative to the anchor's."""
        return self.std / self.base if self.base > 0 else self.std

    @property
    def grad_ratio(self) -> float:
        """The gradient's standard deviation at the anchor over its value here."""
        return math.sqrt(max(self.grad, 0.0))

    def but(self, **changes: Any) -> Level:
        """This level with some fields changed (``dataclasses.replace``, which
        costs a tenth of the walk: it looks every field up by name)."""
        return Level(**{**self.__dict__, **changes})

    def derived(self, mean: float, moment: float, *, nonneg: bool = False,
                gain: float = 1.0, saturated: float = 0.0) -> Level:
        """The level of a layer's output: new moments, the same trail and base,
        the backward ``gain`` (E[dx^2] / E[dy^2]) folded into ``grad``."""
        return Level(moment, mean, nonneg, self.trail, self.base, saturated, self.grad * gain,
                     excess=self.excess)


ANCHOR = Level(1.0)


def anchor_at(std: float) -> Level:
    """A fresh anchor whose values have this standard deviation (mean 0)."""
    if not std > 0 or not math.isfinite(std):
        return ANCHOR
    return Level(std * std, 0.0, False, None, std)


def drift(std: float, base: float) -> float:
    """How many times ``std`` is below (< 1) or above (> 1) the reference band
    [min(base, 1), max(base, 1)] of an anchor at ``base``: the number the
    threshold is compared with."""
    low, high = min(base, 1.0), max(base, 1.0)
    if math.isnan(std):
        return std
    if std < low:
        return std / low
    if std > high:
        return std / high
    return 1.0


def outside(level: Level, threshold: float) -> bool:
    """Whether ``level``'s drift is past ``threshold`` either way."""
    value = drift(level.std, level.base)
    return value < 1.0 / threshold or value > threshold


#: Standard deviation of 8-bit natural-image pixels, with and without the mean removed.
PIXEL_STD_CENTERED = 65.0
PIXEL_STD_RAW = 130.0
#: Channels of an image-shaped input.
IMAGE_CHANNELS = (1, 3)
#: The smallest side of an image-shaped input.
IMAGE_SIDE = 16


def data_level(layer: NetLayer) -> Level:
    """The level of an image data layer's first top, from its transform_param."""
    t = layer.param.transform_param
    centered = t.HasField("mean_file") or len(t.mean_value) > 0
    return anchor_at((PIXEL_STD_CENTERED if centered else PIXEL_STD_RAW) * float(t.scale))


def looks_like_images(shape: Sequence[int]) -> bool:
    """An N x C x H x W shape with 1 or 3 channels and sides of image size."""
    return len(shape) == 4 and shape[1] in IMAGE_CHANNELS and \
        min(shape[2], shape[3]) >= IMAGE_SIDE


def input_level(ctx: AuditContext, layer: NetLayer, top: int) -> Level:
    """The level of a source layer's top (see the module docstring): one model
    of pixel inputs for data layers that read images and Input layers that
    are given them."""
    if ctx.traits(layer).role == "labelled_source":
        return data_level(layer) if top == 0 else ANCHOR
    shapes = layer.top_shapes
    if top < len(shapes) and looks_like_images(shapes[top]) and \
            ctx.traits(layer).role == "source":
        return anchor_at(PIXEL_STD_CENTERED)
    return ANCHOR


# ---------------------------------------------------------------- Gaussian integrals


def _pdf(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _linspace(start: float, stop: float, num: int) -> tuple[float, ...]:
    """``numpy.linspace(start, stop, num)``, value for value."""
    step = (stop - start) / (num - 1)
    return (*(i * step + start for i in range(num - 1)), stop)


#: The activations' working range: a grid over it is added to the Gaussian's,
#: so that a narrow Gaussian and a steep function are both resolved.
_ACTIVE = _linspace(-12.0, 12.0, 961)
_SPREAD = _linspace(-9.0, 9.0, 721)


def _grid(mean: float, std: float) -> tuple[list[float], list[float]]:
    """Points z and trapezoid weights w with sum(w f(z)) ~ E[f(z)], z ~ N(mean, std^2).

    Plain Python over a thousand or so points: the audit meets a few such
    activations per net, and numpy would cost every audit its import."""
    if not std > 0:
        return [mean], [1.0]
    spread = [mean + std * u for u in _SPREAD]
    first, last = spread[0], spread[-1]
    if not math.isfinite(first + last):  # a NaN or infinite mean: nothing to integrate
        return [mean], [math.nan]
    # Two sorted runs: sorted() merges them; then each value once.
    merged = sorted(spread + [a for a in _ACTIVE if first < a < last])
    z = [v for v, before in zip(merged, [math.nan, *merged], strict=False) if v != before]
    density = [math.exp(-0.5 * t * t) for t in [(v - mean) / std for v in z]]
    half = [(b - a) / 2.0 for a, b in itertools.pairwise(z)]
    w = [a + b for a, b in zip([*half, 0.0], [0.0, *half], strict=True)]
    w = list(map(operator.mul, w, density))
    total = sum(w)
    return z, ([v / total for v in w] if total > 0 else w)


#: An activation over grid points: its values and its derivative's.
Fn = Callable[[list[float]], tuple[list[float], list[float]]]


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return float(sum(map(operator.mul, a, b)))


def pointwise(mean: float, std: float, f: Fn) -> tuple[float, float, float]:
    """(E[f(z)], E[f(z)^2], E[f'(z)^2]) for z ~ N(mean, std^2), by a trapezoid rule
    on a grid over the Gaussian and the activation's working range (exact
    enough for the orders of magnitude the estimate is for; no closed form
    needed per activation); ``f`` gives f and f' at the grid's points."""
    z, w = _grid(mean, std)
    y, d = f(z)
    return _dot(w, y), _dot(w, list(map(operator.mul, y, y))), \
        _dot(w, list(map(operator.mul, d, d)))


def rail_share(mean: float, std: float, rail: float) -> float:
    """P(|z| > rail) for z ~ N(mean, std^2)."""
    if not std > 0:
        return 1.0 if abs(mean) > rail else 0.0
    return _cdf((-rail - mean) / std) + _cdf((mean - rail) / std)


def rectified(mean: float, std: float, slope: float = 0.0) -> tuple[float, float, float]:
    """(E[f], E[f^2], E[f'^2]) of a leaky ReLU with ``slope`` on N(mean, std^2):
    the rectified-Gaussian formulas."""
    square = mean * mean + std * std
    if not std > 0:
        value = mean if mean > 0 else slope * mean
        return value, value * value, 1.0 if mean > 0 else slope * slope
    a = mean / std
    positive = _cdf(a)
    m_pos = mean * positive + std * _pdf(a)                 # E[max(z, 0)]
    s_pos = square * positive + mean * std * _pdf(a)        # E[max(z, 0)^2]
    m_neg, s_neg = mean - m_pos, square - s_pos
    return (m_pos + slope * m_neg, s_pos + slope * slope * s_neg,
            positive + slope * slope * (1.0 - positive))


def _sigmoids(z: list[float]) -> list[float]:
    tanh = math.tanh
    return [0.5 * (1.0 + tanh(0.5 * v)) for v in z]


_SPREAD_CDF = [_cdf(u) for u in _SPREAD]
_SPREAD_PDF = [math.exp(-0.5 * u * u) for u in _SPREAD]


@lru_cache(maxsize=64)
def _max_weights(k: int) -> list[float]:
    """The weights of the grid points in the density of the largest of k values."""
    density = [p * c ** (k - 1) for p, c in zip(_SPREAD_PDF, _SPREAD_CDF, strict=True)]
    total = sum(density)
    return [v / total for v in density]


@lru_cache(maxsize=64)
def _max_sums(k: int) -> tuple[list[float], list[float], list[float]]:
    """From each grid point on, the sums of w, w u and w u^2 (w: the weights of
    the largest of k values, u: the standard grid)."""
    weights = _max_weights(k)
    w, a, b = [0.0], [0.0], [0.0]
    for p, u in zip(reversed(weights), reversed(_SPREAD), strict=True):
        w.append(w[-1] + p)
        a.append(a[-1] + p * u)
        b.append(b[-1] + p * u * u)
    return w[::-1], a[::-1], b[::-1]


def max_moments(k: int, mean: float, std: float, clip: bool) -> tuple[float, float]:
    """(E[M], E[M^2]) of M, the largest of k independent N(mean, std^2) values
    (``clip``: of the values max(z, 0)): over the grid's points mean + std u,
    from sums over the standard grid kept per k (those clipped to 0 add nothing)."""
    k = max(k, 1)
    if not (std > 0 and math.isfinite(mean) and math.isfinite(std)):
        values = [mean + std * u for u in _SPREAD]
        if clip:
            values = [v if not v < 0.0 else 0.0 for v in values]
        weights = _max_weights(k)
        return _dot(weights, values), _dot(weights, list(map(operator.mul, values, values)))
    w, a, b = _max_sums(k)
    start = bisect.bisect_right(_SPREAD, -mean / std) if clip else 0
    w_, a_, b_ = w[start], a[start], b[start]
    return mean * w_ + std * a_, mean * mean * w_ + 2.0 * mean * std * a_ + std * std * b_


# ---------------------------------------------------------------- fillers and geometry


def filler_moments(filler: pb.FillerParameter | None, shape: Sequence[int],
                   ctx: AuditContext) -> tuple[float, float] | None:
    """(mean, E[w^2]) of a filler's values (its spec's moments); None when they
    cannot be told."""
    spec = None if filler is None else SPECS.get(filler.type)
    if spec is None or filler is None:
        return None
    return spec.moments(filler, shape, ctx.profile)


def weight_moment(filler: pb.FillerParameter | None, shape: Sequence[int],
                  ctx: AuditContext) -> float | None:
    """E[w^2] of the filler's values; None when it cannot be told or is zero."""
    moments = filler_moments(filler, shape, ctx)
    if moments is None:
        return None
    value = moments[1]
    return value if value > 0 else None


def fan_in(layer: NetLayer, blob: BlobRef) -> float:
    """How many inputs one output unit of a weight layer really sums over."""
    shape = blob.spec.shape
    if layer.type == "Deconvolution" and len(shape) >= 2 and layer.window is not None:
        group = max(int(layer.param.convolution_param.group), 1)
        value = float(shape[0]) / group
        for k, s in zip(shape[2:], layer.window.stride, strict=False):
            value *= float(k) / s
        return value
    if layer.type == "InnerProduct" and layer.param.inner_product_param.transpose:
        return float(shape[0])
    return float(math.prod(shape[1:])) if len(shape) > 1 else 1.0


def padded_share(layer: NetLayer) -> float:
    """The share of a convolution's kernel taps that fall inside its input (not
    on the zero padding), over all output positions."""
    window = layer.window
    if layer.type == "Deconvolution" or window is None or not window.pad or \
            not layer.bottom_shapes or not layer.top_shapes:
        return 1.0
    bottom, top = layer.bottom_shapes[0], layer.top_shapes[0]
    axes = len(window.kernel)
    share = 1.0
    for i in range(axes):
        size, out = bottom[len(bottom) - axes + i], top[len(top) - axes + i]
        k, s, p = window.kernel[i], window.stride[i], window.pad[i]
        d = window.dilation[i] if i < len(window.dilation) else 1
        if p == 0 or out <= 0 or k <= 0:
            continue
        share *= _taps_inside(size, out, k, s, p, d) / (out * k)
    return share


def _taps_inside(size: int, out: int, k: int, s: int, p: int, d: int) -> int:
    """How many of the ``out`` x ``k`` taps ``o * s - p + j * d`` fall in [0, size):
    per tap j, the outputs o whose tap does, counted without listing them."""
    if s <= 0:  # (a set-up net has positive strides; count one by one otherwise)
        return sum(1 for o in range(out) for j in range(k) if 0 <= o * s - p + j * d < size)
    inside = 0
    for j in range(k):
        offset = j * d - p  # o * s + offset in [0, size): o in [ceil(-offset / s), ...]
        first = max(0, -(offset // s))
        last = min(out - 1, (size - 1 - offset) // s)
        inside += max(0, last - first + 1)
    return inside


def _count_ratio(layer: NetLayer) -> float:
    """count(top) / count(bottom) of a layer's first bottom and top."""
    if not layer.top_shapes or not layer.bottom_shapes:
        return 1.0
    bottom = math.prod(layer.bottom_shapes[0])
    return math.prod(layer.top_shapes[0]) / bottom if bottom > 0 else 1.0


def _bias_moments(ctx: AuditContext, layer: NetLayer) -> tuple[float, float]:
    """(mean, E[b^2]) of a layer's bias (0, 0 without one)."""
    for blob in ctx.layer_blobs(layer)[1:]:
        if not blob.is_weight:
            owner = ctx.owner_blob(blob)
            filler = owner.filler
            if filler is None:  # Caffe's default FillerParameter: constant 0
                return 0.0, 0.0
            return filler_moments(filler, owner.spec.shape, ctx) or (0.0, 0.0)
    return 0.0, 0.0


def affine(level: Level, scale: tuple[float, float], shift: tuple[float, float],
           *, gain: float | None = None) -> Level:
    """y = s x + b with s, b independent of x: moments from (mean, E[.^2]) of s and b."""
    (ms, ss), (mb, sb) = scale, shift
    mean = ms * level.mean + mb
    moment = ss * level.moment + 2.0 * ms * mb * level.mean + sb
    return level.derived(mean, moment, gain=ss if gain is None else gain,
                         nonneg=level.nonneg and ms >= 0 and ss == ms * ms and mb == 0 == sb)


# ---------------------------------------------------------------- the walk


Step = Callable[[AuditContext, NetLayer, list[Level]], Level | None]


def _linear(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    weights = ctx.weight_blobs(layer)
    if not weights:
        return ANCHOR
    blob = weights[0]
    owner = ctx.owner_blob(blob)
    filler = owner.filler
    level = ins[0]
    if filler is not None and filler.type == "bilinear":
        return level.derived(level.mean, level.moment, nonneg=level.nonneg,
                             gain=_count_ratio(layer))
    moments = filler_moments(filler, blob.spec.shape, ctx)
    if moments is None or not moments[1] > 0:
        return ANCHOR
    mu_w, square_w = moments
    n = fan_in(layer, blob) * padded_share(layer)
    mu_b, square_b = _bias_moments(ctx, layer)
    summed = n * mu_w * level.mean
    mean = summed + mu_b
    moment = (n * square_w * level.moment + n * (n - 1.0) * mu_w * mu_w * level.mean ** 2
              + 2.0 * mu_b * summed + square_b)
    gain = n * square_w
    out = level.derived(mean, moment, gain=_count_ratio(layer) * gain)
    count = float(math.prod(layer.top_shapes[0])) if layer.top_shapes else 1.0
    return out.but(trail=Trail(layer.index, layer.name, math.sqrt(gain), level.trail,
                                    out.grad, count, out.excess))


def _activation(level: Level, stats: tuple[float, float, float], *, nonneg: bool = False,
                saturated: float = 0.0) -> Level:
    mean, moment, derivative = stats
    out = level.derived(mean, moment, nonneg=nonneg, gain=derivative, saturated=saturated)
    factor = derivative * level.moment / moment if moment > 0 else 1.0
    return out.but(pre_std=level.std, excess=level.excess * factor)


def _leaky(level: Level, slope: float) -> Level:
    if level.nonneg:  # already rectified: a ReLU passes it through
        return level
    out = _activation(level, rectified(level.mean, level.std, slope), nonneg=slope == 0.0)
    return out.but(pre=(level.mean, level.std)) if slope == 0.0 else out


def _relu(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    return _leaky(ins[0], float(layer.param.relu_param.negative_slope))


def _prelu(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    slope = 0.25
    blobs = ctx.layer_blobs(layer)
    if blobs:
        moments = filler_moments(ctx.owner_blob(blobs[0]).filler, blobs[0].spec.shape, ctx)
        if moments is not None:
            slope = moments[0]
    return _leaky(ins[0], slope)


def _sigmoid_values(z: list[float]) -> tuple[list[float], list[float]]:
    s = _sigmoids(z)
    return s, [v * (1.0 - v) for v in s]


def _tanh_values(z: list[float]) -> tuple[list[float], list[float]]:
    t = list(map(math.tanh, z))
    return t, [1.0 - v * v for v in t]


def _softplus_values(z: list[float]) -> tuple[list[float], list[float]]:
    """log(1 + e^z) without overflow (numpy's logaddexp(0, z)), and the sigmoid."""
    log1p, exp = math.log1p, math.exp
    return [v + log1p(exp(-v)) if v > 0 else log1p(exp(v)) if v <= 0 else v
            for v in z], _sigmoids(z)


def _sigmoid_step(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    level = ins[0]
    return _activation(level, pointwise(level.mean, level.std, _sigmoid_values),
                       nonneg=True, saturated=rail_share(level.mean, level.std, SIGMOID_RAIL))


def _tanh_step(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    level = ins[0]
    return _activation(level, pointwise(level.mean, level.std, _tanh_values),
                       saturated=rail_share(level.mean, level.std, TANH_RAIL))


def _elu(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    alpha = float(layer.param.elu_param.alpha)
    level = ins[0]

    def f(z: list[float]) -> tuple[list[float], list[float]]:
        expm1, exp = math.expm1, math.exp
        return ([v if v > 0 else alpha * expm1(v) for v in z],
                [1.0 if v > 0 else alpha * exp(v) for v in z])

    return _activation(level, pointwise(level.mean, level.std, f))


def _swish(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    beta = float(layer.param.swish_param.beta)
    level = ins[0]

    def f(z: list[float]) -> tuple[list[float], list[float]]:
        s = _sigmoids([beta * v for v in z])
        return ([v * t for v, t in zip(z, s, strict=True)],
                [t + beta * v * t * (1.0 - t) for v, t in zip(z, s, strict=True)])

    return _activation(level, pointwise(level.mean, level.std, f))


def _bnll(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    level = ins[0]
    return _activation(level, pointwise(level.mean, level.std, _softplus_values), nonneg=True)


def _absval(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    level = ins[0]
    if level.nonneg:
        return level.derived(level.mean, level.moment, nonneg=True)
    m, s = level.mean, level.std
    folded = (s * math.sqrt(2.0 / math.pi) * math.exp(-m * m / (2.0 * s * s)) +
              m * (1.0 - 2.0 * _cdf(-m / s))) if s > 0 else abs(m)
    return level.derived(folded, level.moment, nonneg=True)


def _same(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    return ins[0]


def _dropout(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    p = layer.param.dropout_param
    level = ins[0]
    if int(layer.param.phase) == pb.TRAIN and p.scale_train and 0.0 <= p.dropout_ratio < 1.0:
        keep = 1.0 - float(p.dropout_ratio)
        return level.derived(level.mean, level.moment / keep, nonneg=level.nonneg,
                             gain=1.0 / keep)
    return level


def _power(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    p = layer.param.power_param
    if p.power != 1.0:
        return ANCHOR
    scale, shift = float(p.scale), float(p.shift)
    return affine(ins[0], (scale, scale * scale), (shift, shift * shift))


def _pooling(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    method = layer.param.pooling_param.pool
    k = max(math.prod(layer.window.kernel), 1) if layer.window is not None else 1
    level = ins[0]
    ratio = _count_ratio(layer)
    if method == pb.PoolingParameter.MAX:
        if layer.window is not None:  # overlapping windows: the values each one adds
            k = min(k, max(math.prod(layer.window.stride), 1))
        if k <= 1:
            return level.derived(level.mean, level.moment, nonneg=level.nonneg, gain=ratio)
        if level.pre is None:
            mean, moment = max_moments(min(k, 4096), level.mean, level.std, level.nonneg)
            return level.derived(mean, moment, nonneg=level.nonneg, gain=ratio)
        # The largest of k rectified values is the rectified largest pre-activation;
        # its gradient goes to that value, positive unless all k are not: the ReLU
        # before passes it whole, not in the share of positive inputs counted there.
        pre_mean, pre_std = level.pre
        mean, moment = max_moments(min(k, 4096), pre_mean, pre_std, True)
        positive = _cdf(pre_mean / pre_std) if pre_std > 0 else float(pre_mean > 0)
        routed = (1.0 - (1.0 - positive) ** k) / positive if positive > 0 else 1.0
        # ... and it is the largest pre-activation rectified (for a pooling after it).
        top_mean, top_moment = max_moments(min(k, 4096), pre_mean, pre_std, False)
        top_std = math.sqrt(max(top_moment - top_mean * top_mean, 0.0))
        return level.derived(mean, moment, nonneg=True, gain=ratio * routed).but(
            pre=(top_mean, top_std))
    if method == pb.PoolingParameter.AVE:
        kept = 0.25 + 0.75 / k  # neighbouring values are correlated
        moment = level.mean ** 2 + level.variance * kept
        return level.derived(level.mean, moment, nonneg=level.nonneg, gain=ratio / k)
    return level


def _lrn(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    p = layer.param.lrn_param
    level = ins[0]
    base = float(p.k) + float(p.alpha) * level.moment
    if not base > 0 or not math.isfinite(float(p.beta)):
        return ANCHOR  # (a negative base to a fractional power is not a real number)
    try:
        denominator = base ** float(p.beta)
    except OverflowError:  # float ** raises where * gives inf (beta: 3.4e38)
        denominator = math.inf
    if not denominator > 0 or not math.isfinite(denominator):
        return ANCHOR
    square = denominator * denominator
    out = level.derived(level.mean / denominator, level.moment / square,
                        nonneg=level.nonneg, gain=1.0 / square)
    if level.pre is None:
        return out
    return out.but(pre=(level.pre[0] / denominator, level.pre[1] / denominator))


def _mvn(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    if layer.param.mvn_param.normalize_variance:
        return ANCHOR
    level = ins[0]  # the mean removed, the variance kept
    return level.derived(0.0, level.variance)


def _normalize(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    blobs = ctx.layer_blobs(layer)
    shapes = layer.bottom_shapes
    channels = shapes[0][1] if shapes and len(shapes[0]) > 1 else 1
    if layer.param.norm_param.across_spatial and shapes and len(shapes[0]) > 1:
        channels = math.prod(shapes[0][1:])
    scale = weight_moment(ctx.owner_blob(blobs[0]).filler, blobs[0].spec.shape, ctx) \
        if blobs else None
    return anchor_at(math.sqrt((scale if scale is not None else 1.0) / max(channels, 1)))


def _scale(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    level = ins[0]
    if len(ins) > 1:
        other = ins[1]
        return level.derived(level.mean * other.mean, level.moment * other.moment,
                             gain=other.moment)
    blobs = ctx.layer_blobs(layer)
    if not blobs or blobs[0].frozen:
        return ANCHOR
    scale = filler_moments(ctx.owner_blob(blobs[0]).filler, (1,), ctx)
    if scale is None:
        return ANCHOR
    shift = (0.0, 0.0)
    if len(blobs) > 1:
        shift = filler_moments(ctx.owner_blob(blobs[1]).filler, (1,), ctx) or shift
    return affine(level, scale, shift)


def _deepest(ins: list[Level]) -> Level:
    """The input whose scale moved furthest from its anchor's."""
    return max(ins, key=lambda level: abs(math.log(max(level.ratio, 1e-300))))


def _eltwise(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    p = layer.param.eltwise_param
    deepest = _deepest(ins)
    if p.operation == pb.EltwiseParameter.PROD:
        moment = math.prod(level.moment for level in ins)
        grad = sum(level.grad * moment / level.moment for level in ins if level.moment > 0)
        return deepest.derived(math.prod(level.mean for level in ins), moment).but(grad=grad)
    if p.operation == pb.EltwiseParameter.MAX:
        top = max(ins, key=lambda level: level.moment)
        return deepest.derived(top.mean, top.moment, nonneg=all(lv.nonneg for lv in ins)).but(
            grad=max(level.grad for level in ins))
    coeffs = list(p.coeff) if len(p.coeff) == len(ins) else [1.0] * len(ins)
    mean = sum(c * level.mean for c, level in zip(coeffs, ins, strict=False))
    variance = sum(c * c * level.variance for c, level in zip(coeffs, ins, strict=False))
    grad = sum(c * c * level.grad for c, level in zip(coeffs, ins, strict=False))
    nonneg = all(level.nonneg for level in ins) and all(c >= 0 for c in coeffs)
    return deepest.derived(mean, variance + mean * mean, nonneg=nonneg).but(grad=grad)


def _concat(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    counts = [float(max(math.prod(s), 1)) for s in layer.bottom_shapes]
    if len(counts) != len(ins):
        counts = [1.0] * len(ins)
    total = sum(counts)
    mean = sum(c * level.mean for c, level in zip(counts, ins, strict=False)) / total
    moment = sum(c * level.moment for c, level in zip(counts, ins, strict=False)) / total
    deepest = _deepest(ins)
    return deepest.derived(mean, moment, nonneg=all(level.nonneg for level in ins)).but(
        grad=sum(level.grad for level in ins))


#: The steps by name; a layer type names its step in its traits (``Traits.step``).
STEPS: dict[str, Step] = {
    "linear": _linear, "same": _same, "relu": _relu, "prelu": _prelu, "elu": _elu,
    "swish": _swish, "bnll": _bnll, "sigmoid": _sigmoid_step, "tanh": _tanh_step,
    "absval": _absval, "dropout": _dropout, "power": _power, "pooling": _pooling,
    "lrn": _lrn, "mvn": _mvn, "normalize": _normalize, "scale": _scale,
    "eltwise": _eltwise, "concat": _concat,
}

#: The roles whose layers start a fresh anchor unless their type names a step
#: of its own (their outputs are bounded or set by themselves).
ANCHOR_ROLES = frozenset({"anchor", "normalizing"})
#: The steps that are activations (their input is a pre-activation).
SATURATING_STEPS = frozenset({"sigmoid", "tanh"})


@dataclass(frozen=True)
class LayerLevels:
    """One layer and the levels of its tops (None: not a signal)."""

    layer: NetLayer
    tops: tuple[Level | None, ...]


def propagate(ctx: AuditContext) -> list[LayerLevels]:
    """The net in order, with every top's level (computed once per context)."""
    cached = ctx.cache.get("signal.levels")
    if isinstance(cached, list):
        return cached
    result = list(_walk(ctx))
    ctx.cache["signal.levels"] = result
    return result


def _walk(ctx: AuditContext) -> Iterator[LayerLevels]:
    assert ctx.model is not None
    levels: dict[str, Level | None] = {}
    for layer in ctx.model.layers:
        tops = _tops(ctx, layer, levels)
        for name, level in zip(layer.tops, tops, strict=False):
            levels[name] = level
        yield LayerLevels(layer, tuple(tops))


def _tops(ctx: AuditContext, layer: NetLayer, levels: dict[str, Level | None]
          ) -> list[Level | None]:
    traits = ctx.traits(layer)
    count = len(layer.tops)
    if ctx.is_loss(layer) or traits.step == "none":
        return [None] * count
    if not layer.bottoms:
        return [input_level(ctx, layer, i) for i in range(count)]
    ins = [levels.get(name) for name in layer.bottoms]
    known = [level for level in ins if level is not None]
    if not known:
        return [None] * count
    own_step = traits.signal is not None
    if ins[0] is None or layer.index in ctx.placeholder_layers or \
            (traits.role in ANCHOR_ROLES and not own_step):
        return [ANCHOR] * count
    step = STEPS.get(traits.step or "")
    if step is None:
        return [ANCHOR] * count
    level = step(ctx, layer, [lv if lv is not None else ANCHOR for lv in ins])
    if level is not None and not (math.isfinite(level.moment) and math.isfinite(level.mean)):
        level = level.but(moment=math.inf, mean=0.0)  # overflowed: it explodes
    return [level] * count


def first_drift(ctx: AuditContext, threshold: float) -> tuple[NetLayer, Level] | None:
    """The first top (net order) whose std drifted past ``threshold`` since a
    weight layer after its anchor (what CF202 reports), or None."""
    for step in propagate(ctx):
        for level in step.tops:
            if level is not None and level.trail is not None and outside(level, threshold):
                return step.layer, level
    return None


def _first(trail: Trail) -> Trail:
    while trail.before is not None:
        trail = trail.before
    return trail


def gradient_ratio(level: Level, count: float) -> float:
    """How the gradient changes on its way back from a blob of ``count`` values at
    ``level`` to the output of the first weight layer after the anchor: the
    ratio of the square roots of their summed squares (the gradient's size
    per sample, whatever the blob's size: a stride-2 pooling concentrates the
    gradient on a quarter of the values but keeps its sum, and the weights'
    gradients sum over all positions).  1 without a weight layer."""
    if level.trail is None:
        return 1.0
    first = _first(level.trail)
    energy = level.grad / first.grad * first.count / count if first.grad > 0 else math.inf
    return math.sqrt(energy) if energy >= 0 else math.nan


def gradient_excess(level: Level) -> float:
    """How many times more the activations since the first weight layer after
    the anchor shrink (< 1) or grow the gradient than the signal: the square
    root of the product of E[f'(z)^2] E[z^2] / E[f(z)^2] over them.  Weight
    layers, pooling and ReLUs change both alike (CF202 judges that); a
    sigmoid's slope, at most 1/4, shrinks the gradient while its 0.5 mean
    holds the signal."""
    if level.trail is None:
        return 1.0
    first = _first(level.trail)
    value = level.excess / first.excess if first.excess > 0 else math.inf
    return math.sqrt(value) if value >= 0 else math.nan


def first_gradient_drift(ctx: AuditContext, threshold: float
                         ) -> tuple[NetLayer, Level, float, float] | None:
    """The first top (net order) from which the gradient, on its way back to the
    first weight layer after the anchor, changes past ``threshold`` more than
    the forward signal does (what CF212 reports), with its
    :func:`gradient_ratio` and :func:`gradient_excess`; or None."""
    for step in propagate(ctx):
        for level, shape in zip(step.tops, step.layer.top_shapes, strict=False):
            if level is None or level.trail is None:
                continue
            excess = gradient_excess(level)
            if excess < 1.0 / threshold or excess > threshold:
                count = float(max(math.prod(shape), 1))
                return step.layer, level, gradient_ratio(level, count), excess
    return None


def ratio_text(ratio: float) -> str:
    """``350x`` or ``1/350``."""
    if ratio >= 1.0:
        return f"{ratio:.3g}x"
    return f"1/{1.0 / ratio:.3g}" if ratio > 0 else "0"


def estimated_layers(ctx: AuditContext) -> list[LayerProbe]:
    """The estimate as ``caffefill probe`` reports a measurement: one row per
    layer that computes something (data layers and Split layers left out), its
    first top's estimated mean, std and (Sigmoid, TanH) share in the rails, and
    the std of its first bottom (``input_std``) with their ratio."""
    rows = []
    levels: dict[str, Level | None] = {}
    for step in propagate(ctx):
        layer = step.layer
        # The level of the first bottom as it was before this layer ran (an
        # in-place layer's top is its bottom's name).
        below = levels.get(layer.bottoms[0]) if layer.bottoms else None
        levels.update(zip(layer.tops, step.tops, strict=False))
        if not layer.bottoms or layer.type == "Split" or not layer.tops:
            continue
        level = step.tops[0]
        role = ctx.traits(layer).role
        if level is None:
            rows.append(LayerProbe(layer.name, layer.type, layer.tops[0], role, None, None,
                                   None, None, None, None, 0.0, signal=False))
            continue
        finite = math.isfinite(level.moment)
        saturated = level.saturated if ctx.traits(layer).step in SATURATING_STEPS else None
        row = LayerProbe(layer.name, layer.type, layer.tops[0], role,
                         level.mean if finite else None, level.std if finite else None,
                         None, None, None, saturated, 0.0 if finite else 1.0)
        if below is not None and math.isfinite(below.moment) and below.std > 0:
            # As probe measures it: the std of what entered the layer, so the
            # verdict's depth counts from the net's input, not the first output.
            row.input_std = below.std
            if row.std is not None:
                row.ratio = row.std / below.std
        rows.append(row)
    return rows


def estimate_verdict(ctx: AuditContext) -> Verdict:
    """The verdict ``caffefill probe`` would give, judged on the estimate."""
    return judge(estimated_layers(ctx))
