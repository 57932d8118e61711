"""An estimate of how the forward signal's scale changes through the net at init.

Each blob gets a :class:`Level`: its second moment E[x^2] relative to the
last *anchor* (the net's inputs, or a layer that sets the scale itself:
BatchNorm, MVN, Normalize, an Embed, a recurrent layer, a layer caffefill
cannot estimate).  Layer by layer, through the net's real graph:

* a weight layer multiplies it by fan-in x E[w^2] (He et al. 2015): the
  fan-in a unit really sums over (a Deconvolution's is C_in/group x
  kernel/stride per axis; a transposed InnerProduct's is the blob's first
  axis), E[w^2] from the filler (std^2 + mean^2; a sparse Gaussian keeps
  the fraction ``sparse / outputs``); bilinear kernels interpolate (x1);
* ReLU halves a symmetric input (a leaky slope a gives (1 + a^2)/2, PReLU
  the same with its initial slope); Sigmoid and TanH compress it with the
  exact Gaussian formulas of Phi-approximated sigmoids (slope 1/4 and 1
  near zero, saturating at 1/4 and 1);
* max pooling over k values raises it to E[max^2] of k Gaussians, average
  pooling lowers it to between 1/k and the squared-mean share; LRN divides
  by (k + alpha E[x^2])^(2 beta); training-time Dropout scales by 1/(1-p);
* Eltwise sums add (times coeff^2), products multiply, max takes the
  largest; Concat averages by element count; Scale multiplies by its
  initial scale^2 (a frozen Scale is a deliberate rescaling: an anchor);
* layers that only move data (Split, Reshape, Crop, Slice, ...) keep it;
  losses, accuracies and labels carry no signal (None).

Levels are absolute: an image data layer (Data, ImageData, ...) starts at
the standard deviation of 8-bit pixels after its ``transform_param``
(about 65 when a mean is subtracted, 130 when not, times ``scale``); other
inputs and anchors start at 1.  :func:`outside` then compares a level
with its anchor's: shrinking a raw-pixel input (std 65) down to unit scale
is what its first layer's small filler is for, so the band is
[min(anchor, 1) / T, max(anchor, 1) x T] for a threshold T.

The estimate assumes independent, zero-mean weights; it is meant to find
orders of magnitude, not digits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from .._proto import caffefill_pb2 as pb
from ..fillers import SPECS
from ..net.model import NetLayer
from .context import AuditContext, BlobRef

#: The roles whose layers start a fresh anchor (their outputs are bounded or
#: set by themselves).
ANCHOR_ROLES = frozenset({"anchor", "normalizing"})


@dataclass(frozen=True, eq=False)
class Trail:
    """The weight layers met since the anchor, newest first: one layer and the
    factor it put on the standard deviation, then the trail before it.

    A linked list, so that a layer extends its input's trail in constant time
    and memory and every blob shares the part of its trail it has in common
    with the others (a tuple per blob would make a long chain quadratic).
    Compared by identity.
    """

    layer: int  # the layer's index in the net
    name: str
    factor: float
    before: Trail | None = None

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
    """The estimated scale of one blob.

    ``moment`` is E[x^2] relative to the anchor; ``nonneg`` whether the
    values are non-negative (after a ReLU); ``trail`` the weight layers met
    since the anchor (None: none), with the factor each put on the standard
    deviation.
    """

    moment: float
    nonneg: bool = False
    trail: Trail | None = None
    #: The standard deviation at the anchor.
    base: float = 1.0

    @property
    def std(self) -> float:
        return math.sqrt(max(self.moment, 0.0))

    @property
    def ratio(self) -> float:
        """The standard deviation relative to the anchor's."""
        return self.std / self.base if self.base > 0 else self.std

    def scaled(self, factor: float, *, nonneg: bool | None = None) -> Level:
        """This level with its moment multiplied by ``factor``."""
        return Level(self.moment * factor, self.nonneg if nonneg is None else nonneg,
                     self.trail, self.base)

    def with_moment(self, moment: float, nonneg: bool = False) -> Level:
        return Level(moment, nonneg, self.trail, self.base)


ANCHOR = Level(1.0)


def outside(level: Level, threshold: float) -> bool:
    """Whether ``level`` left its anchor's band (see the module docstring)."""
    std = level.std
    return std < min(level.base, 1.0) / threshold or std > max(level.base, 1.0) * threshold


#: Standard deviation of 8-bit natural-image pixels, with and without the mean removed.
PIXEL_STD_CENTERED = 65.0
PIXEL_STD_RAW = 130.0


def data_level(layer: NetLayer) -> Level:
    """The level of an image data layer's first top, from its transform_param."""
    t = layer.param.transform_param
    centered = t.HasField("mean_file") or len(t.mean_value) > 0
    std = (PIXEL_STD_CENTERED if centered else PIXEL_STD_RAW) * float(t.scale)
    if not std > 0 or not math.isfinite(std):
        return ANCHOR
    return Level(std * std, False, None, std)


# ---------------------------------------------------------------- helpers


def _phi(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


@lru_cache(maxsize=256)
def max_gain(k: int, nonneg: bool) -> float:
    """E[max^2] of k standard Gaussians over E[x^2] of one (rectified when ``nonneg``)."""
    if k <= 1:
        return 1.0
    step = 0.01
    total = 0.0
    z = -10.0 if not nonneg else 0.0
    while z < 10.0:
        total += z * z * k * _phi(z) * _cdf(z) ** (k - 1) * step
        z += step
    return total / (0.5 if nonneg else 1.0)


def sigmoid_moment(m: float) -> float:
    """Var(sigmoid(x)) for x ~ N(0, m), with sigmoid(x) ~ Phi(x sqrt(pi/8))."""
    a2 = m * math.pi / 8.0
    return math.asin(a2 / (1.0 + a2)) / (2.0 * math.pi)


def tanh_moment(m: float) -> float:
    """E[tanh(x)^2] for x ~ N(0, m), with tanh(x) = 2 sigmoid(2x) - 1."""
    a2 = m * math.pi / 2.0
    return 2.0 / math.pi * math.asin(a2 / (1.0 + a2))


def weight_moment(filler: pb.FillerParameter | None, shape: Sequence[int],
                  ctx: AuditContext) -> float | None:
    """E[w^2] of the filler's values (its spec's moments); None when it cannot
    be told or is zero."""
    spec = None if filler is None else SPECS.get(filler.type)
    if spec is None or filler is None:
        return None
    moments = spec.moments(filler, shape, ctx.profile)
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


# ---------------------------------------------------------------- the walk


Step = Callable[[AuditContext, NetLayer, list[Level]], Level | None]


def _linear(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    weights = ctx.weight_blobs(layer)
    if not weights:
        return ANCHOR
    blob = weights[0]
    owner = ctx.owner_blob(blob)
    filler = owner.filler
    if filler is not None and filler.type == "bilinear":
        return ins[0]
    moment = weight_moment(filler, blob.spec.shape, ctx)
    if moment is None:
        return ANCHOR
    gain = fan_in(layer, blob) * moment
    level = ins[0]
    return Level(level.moment * gain, False,
                 Trail(layer.index, layer.name, math.sqrt(gain), level.trail), level.base)


def _relu(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    slope = float(layer.param.relu_param.negative_slope)
    if ins[0].nonneg:
        return ins[0]
    return ins[0].scaled((1.0 + slope * slope) / 2.0, nonneg=slope == 0.0)


def _prelu(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    slope = 0.25
    blobs = ctx.layer_blobs(layer)
    if blobs and blobs[0].filler is not None and blobs[0].filler.type == "constant":
        slope = float(blobs[0].filler.value)
    return ins[0].scaled((1.0 + slope * slope) / 2.0, nonneg=False)


def _sigmoid(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    return ins[0].with_moment(sigmoid_moment(ins[0].moment))


def _tanh(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    return ins[0].with_moment(tanh_moment(ins[0].moment))


def _half(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    return ins[0].scaled(0.5, nonneg=False)


def _same(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    return ins[0]


def _absval(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    return ins[0].scaled(1.0, nonneg=True)


def _dropout(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    p = layer.param.dropout_param
    if int(layer.param.phase) == pb.TRAIN and p.scale_train and 0.0 <= p.dropout_ratio < 1.0:
        return ins[0].scaled(1.0 / (1.0 - float(p.dropout_ratio)))
    return ins[0]


def _power(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    p = layer.param.power_param
    if p.power == 1.0 and p.shift == 0.0:
        return ins[0].scaled(float(p.scale) ** 2, nonneg=ins[0].nonneg and p.scale >= 0)
    return ANCHOR


def _pooling(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    method = layer.param.pooling_param.pool
    k = max(math.prod(layer.window.kernel), 1) if layer.window is not None else 1
    level = ins[0]
    if method == pb.PoolingParameter.MAX:
        return level.scaled(max_gain(min(k, 4096), level.nonneg))
    if method == pb.PoolingParameter.AVE:
        share = 1.0 / math.pi if level.nonneg else 0.25
        return level.scaled(share + (1.0 - share) / k)
    return level


def _lrn(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    p = layer.param.lrn_param
    base = float(p.k) + float(p.alpha) * ins[0].moment
    exponent = 2.0 * float(p.beta)
    if not base > 0 or not math.isfinite(exponent):
        return ANCHOR  # (a negative base to a fractional power is not a real number)
    try:
        denominator = base ** exponent
    except OverflowError:  # float ** raises where * gives inf (beta: 3.4e38)
        denominator = math.inf
    if not denominator > 0:
        return ANCHOR
    return ins[0].scaled(1.0 / denominator)


def _mvn(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    if layer.param.mvn_param.normalize_variance:
        return ANCHOR
    return ins[0]


def _normalize(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    blobs = ctx.layer_blobs(layer)
    channels = layer.bottom_shapes[0][1] if layer.bottom_shapes and \
        len(layer.bottom_shapes[0]) > 1 else 1
    scale = weight_moment(blobs[0].filler, blobs[0].spec.shape, ctx) if blobs else None
    return Level((scale if scale is not None else 1.0) / max(channels, 1))


def _scale(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    if len(ins) > 1:
        return ins[0].scaled(ins[1].moment, nonneg=False)
    blobs = ctx.layer_blobs(layer)
    if not blobs or blobs[0].frozen:
        return ANCHOR
    moment = weight_moment(blobs[0].filler, (1,), ctx)
    if moment is None:
        return ANCHOR
    return ins[0].scaled(moment)


def _deepest(ins: list[Level]) -> Level:
    """The input whose scale moved furthest from its anchor's."""
    return max(ins, key=lambda level: abs(math.log(max(level.ratio, 1e-300))))


def _eltwise(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    p = layer.param.eltwise_param
    deepest = _deepest(ins)
    if p.operation == pb.EltwiseParameter.PROD:
        return deepest.with_moment(math.prod(level.moment for level in ins))
    if p.operation == pb.EltwiseParameter.MAX:
        return deepest.with_moment(max(level.moment for level in ins),
                                   all(lv.nonneg for lv in ins))
    coeffs = list(p.coeff) if len(p.coeff) == len(ins) else [1.0] * len(ins)
    total = sum(c * c * level.moment for c, level in zip(coeffs, ins, strict=False))
    nonneg = all(level.nonneg for level in ins) and all(c >= 0 for c in coeffs)
    return deepest.with_moment(total, nonneg)


def _concat(ctx: AuditContext, layer: NetLayer, ins: list[Level]) -> Level | None:
    counts = [float(max(math.prod(s), 1)) for s in layer.bottom_shapes]
    if len(counts) != len(ins):
        counts = [1.0] * len(ins)
    total = sum(counts)
    moment = sum(c * level.moment for c, level in zip(counts, ins, strict=False)) / total
    deepest = _deepest(ins)
    return deepest.with_moment(moment, all(level.nonneg for level in ins))


#: The steps by name; a layer type names its step in its traits (``Traits.step``).
STEPS: dict[str, Step] = {
    "linear": _linear, "same": _same, "relu": _relu, "prelu": _prelu, "half": _half,
    "sigmoid": _sigmoid, "tanh": _tanh, "absval": _absval, "dropout": _dropout,
    "power": _power, "pooling": _pooling, "lrn": _lrn, "mvn": _mvn, "normalize": _normalize,
    "scale": _scale, "eltwise": _eltwise, "concat": _concat,
}


@dataclass(frozen=True)
class LayerLevels:
    """One layer and the levels of its tops (None: not a signal)."""

    layer: NetLayer
    tops: tuple[Level | None, ...]


def propagate(ctx: AuditContext) -> Iterator[LayerLevels]:
    """Walk the net in order, estimating every top's level."""
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
        if traits.role == "labelled_source":
            return [data_level(layer)] + [None] * (count - 1)
        return [ANCHOR] * count
    ins = [levels.get(name) for name in layer.bottoms]
    known = [level for level in ins if level is not None]
    if not known:
        return [None] * count
    if ins[0] is None or traits.role in ANCHOR_ROLES or layer.index in ctx.placeholder_layers:
        return [ANCHOR] * count
    step = STEPS.get(traits.step or "")
    if step is None:
        return [ANCHOR] * count
    level = step(ctx, layer, [lv if lv is not None else ANCHOR for lv in ins])
    return [level] * count
