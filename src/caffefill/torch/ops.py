"""Caffe's forward pass of each layer type, over PyTorch tensors.

Each layer type's forward lives in its registry entry (``LayerEntry.forward``,
see :mod:`caffefill.net.registry`); the built-in ones are defined here and
attached to their entries when this module is imported, and a type registered
with ``register(..., forward=make)`` brings its own.
A forward is built once per layer, before anything runs: ``make(layer, env)``
reads the layer's parameters (refusing, as a :class:`~caffefill.errors.NetError`
located at the layer, what has no forward here) and returns a function
``run(bottoms, blobs) -> tops``: the bottom tensors in Caffe's order, the
layer's blobs (its parameters and buffers, in Caffe's blob order) and the top
tensors it produces, in top order.  The functions follow Caffe 1.0's
``Forward_cpu`` (and the forks' for their layers), not PyTorch's defaults:
pooling windows, LRN, BatchNorm statistics, the losses' normalisation and
Dropout's draws are Caffe's.  Every function builds new tensors (no in-place
update of a bottom), so autograd runs through the whole net.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .._proto import caffefill_pb2 as pb
from ..fillers import FillerParameter, fill_blob
from ..net.model import NetLayer
from ..net.registry import LayerContext, entry, set_forward
from ..profiles import DEFAULT_PROFILE, Profile
from ..rng import CaffeRNG

Run = Callable[[Sequence[Tensor], Sequence[Tensor]], list[Tensor]]
Make = Callable[[NetLayer, "Env"], Run]

FLT_MIN = float(np.finfo(np.float32).tiny)


@dataclass
class Env:
    """What a layer's forward may use besides its bottoms and blobs: the net's
    phase, the random stream (Dropout and DummyData draw from it) and the
    dtype of the values a layer makes without a bottom (DummyData)."""

    phase: int
    rng: CaffeRNG | None = None
    profile: Profile = field(default_factory=lambda: DEFAULT_PROFILE)
    #: The module's floating dtype (float32 until .double() and the like).
    dtype: torch.dtype = torch.float32

    def stream(self) -> CaffeRNG:
        if self.rng is None:
            raise RuntimeError("this net has no random stream yet")
        return self.rng


def forward_of(*types: str) -> Callable[[Make], Make]:
    """Decorator: ``make`` is the forward of each given layer type, kept in the
    type's registry entry (:func:`caffefill.net.registry.set_forward`)."""
    return set_forward(*types)


def context(layer: NetLayer, env: Env) -> LayerContext:
    """A LayerContext for the setup helpers (conv geometry, axes) of ``layer``."""
    phase = int(layer.param.phase) if layer.param.HasField("phase") else env.phase
    return LayerContext(param=layer.param, bottoms=list(layer.bottom_shapes), phase=phase,
                        line=layer.line, column=layer.column)


def refuse(layer: NetLayer, env: Env, why: str) -> Exception:
    return context(layer, env).error(f"{layer.type} layer '{layer.name}': {why}")


def layer_phase(layer: NetLayer, env: Env) -> int:
    return int(layer.param.phase) if layer.param.HasField("phase") else env.phase


def axis_of(axis: int, ndim: int) -> int:
    return axis + ndim if axis < 0 else axis


def along(vector: Tensor, ndim: int, axis: int) -> Tensor:
    """``vector`` (shape S) reshaped to broadcast over a tensor of ``ndim`` axes
    from ``axis`` on."""
    shape = [1] * axis + list(vector.shape) + [1] * (ndim - axis - vector.dim())
    return vector.reshape(shape)


# --------------------------------------------------------------------- neurons


def _neuron(fn: Callable[[Tensor], Tensor]) -> Run:
    return lambda bottoms, blobs: [fn(bottoms[0])]


@forward_of("ReLU")
def _relu(layer: NetLayer, env: Env) -> Run:
    slope = float(np.float32(layer.param.relu_param.negative_slope))
    if slope == 0.0:
        return _neuron(F.relu)
    # Caffe: max(x, 0) + slope * min(x, 0)
    return _neuron(lambda x: torch.clamp(x, min=0) + slope * torch.clamp(x, max=0))


@forward_of("Sigmoid")
def _sigmoid(layer: NetLayer, env: Env) -> Run:
    return _neuron(torch.sigmoid)


@forward_of("TanH")
def _tanh(layer: NetLayer, env: Env) -> Run:
    return _neuron(torch.tanh)


@forward_of("AbsVal")
def _absval(layer: NetLayer, env: Env) -> Run:
    return _neuron(torch.abs)


@forward_of("BNLL")
def _bnll(layer: NetLayer, env: Env) -> Run:
    # Caffe: x > 0 ? x + log(1 + exp(-x)) : log(1 + exp(x))
    return _neuron(lambda x: torch.where(x > 0, x + torch.log1p(torch.exp(-x.abs())),
                                         torch.log1p(torch.exp(-x.abs()))))


@forward_of("ELU")
def _elu(layer: NetLayer, env: Env) -> Run:
    alpha = float(np.float32(layer.param.elu_param.alpha))
    return _neuron(lambda x: torch.where(x > 0, x, alpha * torch.expm1(torch.clamp(x, max=0))))


@forward_of("Threshold")
def _threshold(layer: NetLayer, env: Env) -> Run:
    t = float(np.float32(layer.param.threshold_param.threshold))
    return _neuron(lambda x: (x > t).to(x.dtype))


@forward_of("Clip")
def _clip(layer: NetLayer, env: Env) -> Run:
    p = layer.param.clip_param
    lo, hi = float(np.float32(p.min)), float(np.float32(p.max))
    return _neuron(lambda x: torch.clamp(x, lo, hi))


@forward_of("Swish")
def _swish(layer: NetLayer, env: Env) -> Run:
    beta = float(np.float32(layer.param.swish_param.beta))
    return _neuron(lambda x: x * torch.sigmoid(beta * x))


def _power_fn(power: float, scale: float, shift: float) -> Callable[[Tensor], Tensor]:
    """PowerLayer: (shift + scale * x) ^ power, with Caffe's special cases."""
    if power * scale == 0:  # Caffe's diff_scale == 0: a constant
        value = 1.0 if power == 0 else shift ** power
        return lambda x: torch.full_like(x, value)

    def run(x: Tensor) -> Tensor:
        y = x * scale if scale != 1 else x
        if shift != 0:
            y = y + shift
        return y if power == 1 else torch.pow(y, power)
    return run


@forward_of("Power")
def _power(layer: NetLayer, env: Env) -> Run:
    p = layer.param.power_param
    return _neuron(_power_fn(*(float(np.float32(v)) for v in (p.power, p.scale, p.shift))))


def _base_scale_shift(layer: NetLayer, env: Env, kind: str) -> tuple[float, float, float]:
    """Exp's and Log's base (-1: e), scale and shift as float32 values."""
    p = getattr(layer.param, f"{kind}_param")
    base, scale, shift = (float(np.float32(v)) for v in (p.base, p.scale, p.shift))
    if base != -1 and base <= 0:
        raise refuse(layer, env, f"{kind}_param.base must be strictly positive")
    return base, scale, shift


@forward_of("Exp")
def _exp(layer: NetLayer, env: Env) -> Run:
    base, scale, shift = _base_scale_shift(layer, env, "exp")
    log_base = 1.0 if base == -1 else math.log(base)
    inner = float(np.float32(log_base * scale))
    outer = 1.0 if shift == 0 else float(np.float32(math.exp(log_base * shift)))
    return _neuron(lambda x: outer * torch.exp(inner * x) if outer != 1 else torch.exp(inner * x))


@forward_of("Log")
def _log(layer: NetLayer, env: Env) -> Run:
    base, scale, shift = _base_scale_shift(layer, env, "log")
    base_scale = 1.0 if base == -1 else float(np.float32(1 / math.log(base)))

    def run(x: Tensor) -> Tensor:
        y = x * scale if scale != 1 else x
        y = torch.log(y + shift if shift != 0 else y)
        return y * base_scale if base_scale != 1 else y
    return _neuron(run)


@forward_of("PReLU")
def _prelu(layer: NetLayer, env: Env) -> Run:
    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        x = bottoms[0]
        slope = blobs[0] if blobs[0].numel() == 1 else along(blobs[0], x.dim(), 1)
        return [torch.clamp(x, min=0) + slope * torch.clamp(x, max=0)]
    return run


@forward_of("Dropout")
def _dropout(layer: NetLayer, env: Env) -> Run:
    if layer_phase(layer, env) != pb.TRAIN:
        return lambda bottoms, blobs: [bottoms[0]]
    threshold = np.float32(layer.param.dropout_param.dropout_ratio)
    # DropoutLayer: scale_ = 1. / (1. - threshold_) kept as float, and
    # caffe_rng_bernoulli(count, 1. - threshold_, mask) with a double p:
    # boost::bernoulli_distribution<double> takes one raw draw per value and
    # keeps it when double(u) <= p * (2^32 - 1).
    scale = float(np.float32(1.0 / (1.0 - float(threshold))))
    keep = 1.0 - float(threshold)
    limit = keep * 4294967295.0

    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        x = bottoms[0]
        count = x.numel()
        if keep == 0.0:
            mask = np.zeros(count, dtype=np.float32)
        else:
            mask = (env.stream().uint32(count).astype(np.float64) <= limit).astype(np.float32)
        m = torch.from_numpy(mask).to(x.dtype).reshape(x.shape)
        return [x * m * scale]
    return run


# --------------------------------------------------------------------- learnable


def _conv_fns(ns: int) -> tuple[Callable[..., Tensor], Callable[..., Tensor]]:
    return ({1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[ns],
            {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[ns])


def _batched(run: Callable[[Tensor], Tensor], axis: int) -> Callable[[Tensor], Tensor]:
    """``run`` over (N, C, spatial...) applied with the channel axis at ``axis``:
    the axes before it are folded into one batch axis, as Caffe's num_ is."""
    if axis == 1:
        return run

    def wrapped(x: Tensor) -> Tensor:
        lead = x.shape[:axis]
        y = run(x.reshape(-1, *x.shape[axis:]))
        return y.reshape(*lead, *y.shape[1:])
    return wrapped


@forward_of("Convolution", "Deconvolution", "DepthwiseConvolution")
def _convolution(layer: NetLayer, env: Env) -> Run:
    from ..net.layers.vision import conv_geometry

    p = layer.param.convolution_param
    g = conv_geometry(context(layer, env), p, layer.bottom_shapes[0])
    ns = len(g.kernel)
    if not 1 <= ns <= 3:
        raise refuse(layer, env, f"{ns} spatial axes: PyTorch convolves 1 to 3")
    conv, deconv = _conv_fns(ns)
    groups = int(p.group)
    bias_term = bool(p.bias_term)
    deconvolve = layer.type == "Deconvolution"

    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        w, b = blobs[0], (blobs[1] if bias_term else None)

        def one(x: Tensor) -> Tensor:
            if deconvolve:
                return deconv(x, w, b, g.stride, g.pad, 0, groups, g.dilation)
            return conv(x, w, b, g.stride, g.pad, g.dilation, groups)
        apply = _batched(one, g.channel_axis)
        return [apply(x) for x in bottoms]
    return run


@forward_of("ConvolutionDepthwise")
def _convolution_depthwise(layer: NetLayer, env: Env) -> Run:
    p = layer.param.convolution_param
    c = layer.bottom_shapes[0][1]

    def pair(hf: str, wf: str, values: Sequence[int], default: int) -> tuple[int, int]:
        if p.HasField(hf) and p.HasField(wf):
            return int(getattr(p, hf)), int(getattr(p, wf))
        seq = list(values)
        return (default, default) if not seq else (int(seq[0]), int(seq[min(1, len(seq) - 1)]))

    stride = pair("stride_h", "stride_w", p.stride, 1)
    pad = pair("pad_h", "pad_w", p.pad, 0)
    dl = [int(d) for d in p.dilation]
    dilation = (1, 1) if not dl else (dl[0], dl[min(1, len(dl) - 1)])
    bias_term = bool(p.bias_term)

    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        return [F.conv2d(bottoms[0], blobs[0], blobs[1] if bias_term else None, stride, pad,
                         dilation, c)]
    return run


@forward_of("InnerProduct")
def _inner_product(layer: NetLayer, env: Env) -> Run:
    p = layer.param.inner_product_param
    axis = axis_of(int(p.axis), len(layer.bottom_shapes[0]))
    transpose, bias_term = bool(p.transpose), bool(p.bias_term)
    top = layer.top_shapes[0]

    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        x = bottoms[0].reshape(math.prod(top[:axis]), -1)
        w = blobs[0].t() if transpose else blobs[0]
        return [F.linear(x, w, blobs[1] if bias_term else None).reshape(top)]
    return run


@forward_of("Embed")
def _embed(layer: NetLayer, env: Env) -> Run:
    bias_term = bool(layer.param.embed_param.bias_term)

    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        index = bottoms[0].detach().to(torch.int64)  # static_cast<int>: truncation
        y = F.embedding(index, blobs[0])
        return [y + blobs[1] if bias_term else y]
    return run


def _param_axes(layer: NetLayer, axis: int, num_axes: int, second: bool) -> tuple[int, int]:
    """Scale/Bias: the axis the parameter starts at and how many axes it spans."""
    ndim = len(layer.bottom_shapes[0])
    start = axis_of(axis, ndim)
    if second:
        return start, len(layer.bottom_shapes[1])
    return start, (ndim - start if num_axes == -1 else num_axes)


@forward_of("Scale", "Bias")
def _scale_or_bias(layer: NetLayer, env: Env) -> Run:
    """ScaleLayer (times its operand, plus its bias blob with bias_term) and
    BiasLayer (plus its operand); the operand is the layer's first blob, or the
    second bottom, broadcast from ``axis``."""
    scaling = layer.type == "Scale"
    p = layer.param.scale_param if scaling else layer.param.bias_param
    second = len(layer.bottoms) > 1
    start, _ = _param_axes(layer, int(p.axis), int(p.num_axes), second)
    bias_term = scaling and bool(layer.param.scale_param.bias_term)

    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        x = bottoms[0]
        operand = along(bottoms[1] if second else blobs[0], x.dim(), start)
        y = x * operand if scaling else x + operand
        if bias_term:
            y = y + along(blobs[-1], x.dim(), start)
        return [y]
    return run


@forward_of("BatchNorm")
def _batch_norm(layer: NetLayer, env: Env) -> Run:
    p = layer.param.batch_norm_param
    use_global = bool(p.use_global_stats) if p.HasField("use_global_stats") \
        else layer_phase(layer, env) == pb.TEST
    eps = float(np.float32(p.eps))
    fraction = float(np.float32(p.moving_average_fraction))

    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        x = bottoms[0]
        c = x.shape[1] if x.dim() > 1 else 1
        flat = x.reshape(x.shape[0], c, -1)
        mean_blob, var_blob, factor = blobs[0], blobs[1], blobs[2]
        if use_global:
            stored = float(factor.reshape(-1)[0])
            scale = 0.0 if stored == 0 else 1.0 / stored
            mean, var = mean_blob * scale, var_blob * scale
        else:
            mean = flat.mean(dim=(0, 2))
            var = ((flat - mean.reshape(1, c, 1)) ** 2).mean(dim=(0, 2))
            with torch.no_grad():  # Caffe's moving averages, kept in the blobs
                m = flat.shape[0] * flat.shape[2]
                correction = m / (m - 1) if m > 1 else 1.0
                factor.mul_(fraction).add_(1)
                mean_blob.mul_(fraction).add_(mean.detach())
                var_blob.mul_(fraction).add_(var.detach() * correction)
        y = (flat - mean.reshape(1, c, 1)) / torch.sqrt(var + eps).reshape(1, c, 1)
        return [y.reshape(x.shape)]
    return run


@forward_of("Normalize")
def _normalize(layer: NetLayer, env: Env) -> Run:
    p = layer.param.norm_param
    across, shared = bool(p.across_spatial), bool(p.channel_shared)
    eps = float(np.float32(p.eps))

    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        x = bottoms[0]
        squares = x * x
        if across:  # one norm per item, sqrt(sum + eps)
            norm = torch.sqrt(squares.reshape(x.shape[0], -1).sum(dim=1) + eps)
            y = x / norm.reshape(-1, *([1] * (x.dim() - 1)))
        else:  # one per position, sqrt(sum over channels + eps)
            y = x / torch.sqrt(squares.sum(dim=1, keepdim=True) + eps)
        scale = blobs[0]
        return [y * scale.reshape(()) if shared else y * along(scale, x.dim(), 1)]
    return run


@forward_of("Parameter")
def _parameter(layer: NetLayer, env: Env) -> Run:
    return lambda bottoms, blobs: [blobs[0]]


# --------------------------------------------------------------------- spatial


@dataclass
class PoolWindow:
    kernel: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int]


def pool_window(layer: NetLayer) -> PoolWindow:
    """A Pooling layer's window: kernel and stride as its setup read them
    (``layer.window``; the whole input for global pooling), and its pad."""
    p = layer.param.pooling_param
    if layer.window is None:
        raise ValueError(f"layer '{layer.name}' has no pooling window")
    kh, kw = layer.window.kernel
    sh, sw = layer.window.stride
    pad = (int(p.pad_h), int(p.pad_w)) if p.HasField("pad_h") else (int(p.pad),) * 2
    return PoolWindow((int(kh), int(kw)), (int(sh), int(sw)), pad)


def _torch_pooled(size: int, k: int, s: int, p: int) -> int:
    out = -(-(size + 2 * p - k) // s) + 1
    if (out - 1) * s >= size + p:
        out -= 1
    return out


def make_pool(maximum: bool, window: PoolWindow, bottom: Sequence[int],
              out: Sequence[int]) -> Callable[[Tensor], Tensor]:
    """Caffe's MAX or AVE pooling of (N, C, H, W) to ``out`` = (OH, OW).

    Caffe's windows start at ``o * stride - pad`` and are clipped to the input
    (MAX) or to the padded input (AVE's divisor); PyTorch's own pooling gives
    the same windows when its output size agrees and the pad is at most half
    the kernel; otherwise the input is padded explicitly to cover exactly
    Caffe's windows and AVE divides by Caffe's window sizes.
    """
    (kh, kw), (sh, sw), (ph, pw) = window.kernel, window.stride, window.pad
    h, w = int(bottom[2]), int(bottom[3])
    oh, ow = int(out[0]), int(out[1])
    native = (ph <= kh // 2 and pw <= kw // 2
              and (_torch_pooled(h, kh, sh, ph), _torch_pooled(w, kw, sw, pw)) == (oh, ow))
    if native and maximum:
        return lambda x: F.max_pool2d(x, (kh, kw), (sh, sw), (ph, pw), ceil_mode=True)
    if native:
        return lambda x: F.avg_pool2d(x, (kh, kw), (sh, sw), (ph, pw), ceil_mode=True,
                                      count_include_pad=True)
    extra_h = (oh - 1) * sh + kh - h - ph
    extra_w = (ow - 1) * sw + kw - w - pw
    padding = (pw, extra_w, ph, extra_h)
    if maximum:
        return lambda x: F.max_pool2d(F.pad(x, padding, value=-math.inf), (kh, kw), (sh, sw))
    divisor = np.empty((oh, ow), dtype=np.float32)
    for i in range(oh):
        rows = min(i * sh - ph + kh, h + ph) - (i * sh - ph)
        for j in range(ow):
            divisor[i, j] = rows * (min(j * sw - pw + kw, w + pw) - (j * sw - pw))
    div = torch.from_numpy(divisor)

    def average(x: Tensor) -> Tensor:
        total = F.avg_pool2d(F.pad(x, padding), (kh, kw), (sh, sw), divisor_override=1)
        return total / div.to(x.dtype)
    return average


@forward_of("Pooling")
def _pooling(layer: NetLayer, env: Env) -> Run:
    p = layer.param.pooling_param
    if p.pool == pb.PoolingParameter.STOCHASTIC:
        raise refuse(layer, env, "STOCHASTIC pooling has no CPU forward in Caffe")
    window = pool_window(layer)
    maximum = p.pool == pb.PoolingParameter.MAX
    pool = make_pool(maximum, window, layer.bottom_shapes[0], layer.top_shapes[0][2:])
    if len(layer.tops) > 1:  # MAX with its mask top: Caffe's argmax index h * W + w
        (kh, kw), (sh, sw), (ph, pw) = window.kernel, window.stride, window.pad
        if (_torch_pooled(layer.bottom_shapes[0][2], kh, sh, ph),
                _torch_pooled(layer.bottom_shapes[0][3], kw, sw, pw)) != \
                tuple(layer.top_shapes[0][2:]) or ph > kh // 2 or pw > kw // 2:
            raise refuse(layer, env, "a mask top with this window geometry is not reproduced")

        def with_mask(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
            y, index = F.max_pool2d(bottoms[0], (kh, kw), (sh, sw), (ph, pw), ceil_mode=True,
                                    return_indices=True)
            return [y, index.to(y.dtype)]
        return with_mask
    return lambda bottoms, blobs: [pool(bottoms[0])]


@forward_of("LRN")
def _lrn(layer: NetLayer, env: Env) -> Run:
    p = layer.param.lrn_param
    size = int(p.local_size)
    alpha, beta, k = (float(np.float32(v)) for v in (p.alpha, p.beta, p.k))
    if p.norm_region == pb.LRNParameter.ACROSS_CHANNELS:
        # scale = k + alpha / size * sum of squares over the window; x * scale^-beta
        return _neuron(lambda x: F.local_response_norm(x, size, alpha, beta, k))
    # WITHIN_CHANNEL: Caffe chains Power(2), AVE pooling (size, pad (size-1)/2,
    # stride 1), Power(-beta, scale alpha, shift 1) and a product.
    pre_pad = (size - 1) // 2
    n, c, h, w = layer.bottom_shapes[0]
    pool = make_pool(False, PoolWindow((size, size), (1, 1), (pre_pad, pre_pad)), (n, c, h, w),
                     (h, w))
    power = _power_fn(-beta, alpha, 1.0)
    return _neuron(lambda x: x * power(pool(x * x)))


@forward_of("Crop")
def _crop(layer: NetLayer, env: Env) -> Run:
    p = layer.param.crop_param
    data = layer.bottom_shapes[0]
    start = axis_of(int(p.axis), len(data))
    top = layer.top_shapes[0]
    index: list[slice] = []
    for i in range(len(data)):
        if i < start:
            index.append(slice(None))
            continue
        offset = 0
        if len(p.offset) == 1:
            offset = int(p.offset[0])
        elif len(p.offset) > 1:
            offset = int(p.offset[i - start])
        index.append(slice(offset, offset + top[i]))
    key = tuple(index)
    return lambda bottoms, blobs: [bottoms[0][key]]


@forward_of("Interp")
def _interp(layer: NetLayer, env: Env) -> Run:
    p = layer.param.interp_param
    beg, end = int(p.pad_beg), int(p.pad_end)
    size = tuple(layer.top_shapes[0][2:])
    h, w = layer.bottom_shapes[0][2:]

    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        x = bottoms[0][:, :, -beg:h + end, -beg:w + end]
        # caffe_cpu_interp2: source step (in - 1) / (out - 1), i.e. corners aligned
        return [F.interpolate(x, size=size, mode="bilinear", align_corners=True)]
    return run


@forward_of("Upsample")
def _upsample(layer: NetLayer, env: Env) -> Run:
    n, c, oh, ow = layer.top_shapes[0]

    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        x, mask = bottoms
        flat = x.reshape(n, c, -1)
        index = mask.detach().to(torch.int64).reshape(n, c, -1)
        top = flat.new_zeros(n, c, oh * ow).scatter(2, index, flat)
        return [top.reshape(n, c, oh, ow)]
    return run


@forward_of("Im2col")
def _im2col(layer: NetLayer, env: Env) -> Run:
    from ..net.layers.vision import conv_geometry

    g = conv_geometry(context(layer, env), layer.param.convolution_param,
                      layer.bottom_shapes[0], min_spatial=1)
    if len(g.kernel) != 2 or g.channel_axis != 1:
        raise refuse(layer, env, "only 2-D im2col over axis 1 is reproduced")
    top = layer.top_shapes[0]
    kernel, dilation = tuple(g.kernel), tuple(g.dilation)
    pad, stride = tuple(g.pad), tuple(g.stride)
    return lambda bottoms, blobs: [F.unfold(bottoms[0], kernel, dilation, pad,
                                            stride).reshape(top)]


# --------------------------------------------------------------------- data moves


@forward_of("Split")
def _split(layer: NetLayer, env: Env) -> Run:
    n = len(layer.tops)
    return lambda bottoms, blobs: [bottoms[0]] * n


@forward_of("Silence")
def _silence(layer: NetLayer, env: Env) -> Run:
    return lambda bottoms, blobs: []


def _reshaper(layer: NetLayer, env: Env) -> Run:
    top = layer.top_shapes[0]
    return lambda bottoms, blobs: [bottoms[0].reshape(top)]


forward_of("Reshape", "Flatten")(_reshaper)


def _cut_axis(layer: NetLayer, env: Env, kind: str) -> int:
    """Concat's or Slice's axis, read as the layer's setup reads it."""
    from ..net.layers.shape import axis_or_dim

    p = getattr(layer.param, f"{kind}_param")
    return axis_or_dim(context(layer, env), p, kind, layer.bottom_shapes[0])


@forward_of("Concat")
def _concat(layer: NetLayer, env: Env) -> Run:
    axis = _cut_axis(layer, env, "concat")
    if len(layer.bottoms) == 1:
        return lambda bottoms, blobs: [bottoms[0]]
    return lambda bottoms, blobs: [torch.cat(list(bottoms), dim=axis)]


@forward_of("Slice")
def _slice(layer: NetLayer, env: Env) -> Run:
    axis = _cut_axis(layer, env, "slice")
    sizes = [int(s[axis]) for s in layer.top_shapes]
    if len(sizes) == 1:
        return lambda bottoms, blobs: [bottoms[0]]
    return lambda bottoms, blobs: list(torch.split(bottoms[0], sizes, dim=axis))


@forward_of("Tile")
def _tile(layer: NetLayer, env: Env) -> Run:
    p = layer.param.tile_param
    ndim = len(layer.bottom_shapes[0])
    reps = [1] * ndim
    reps[axis_of(int(p.axis), ndim)] = int(p.tiles)
    return lambda bottoms, blobs: [bottoms[0].repeat(*reps)]


@forward_of("Permute")
def _permute(layer: NetLayer, env: Env) -> Run:
    ndim = len(layer.bottom_shapes[0])
    order: list[int] = []
    for o in layer.param.permute_param.order:
        if int(o) not in order:
            order.append(int(o))
    order += [i for i in range(ndim) if i not in order]
    return lambda bottoms, blobs: [bottoms[0].permute(*order).contiguous()]


@forward_of("BatchReindex")
def _batch_reindex(layer: NetLayer, env: Env) -> Run:
    return lambda bottoms, blobs: [bottoms[0][bottoms[1].detach().to(torch.int64)]]


@forward_of("Eltwise")
def _eltwise(layer: NetLayer, env: Env) -> Run:
    p = layer.param.eltwise_param
    op = p.operation
    if op == pb.EltwiseParameter.SUM:
        coeffs = [float(np.float32(c)) for c in p.coeff] or [1.0] * len(layer.bottoms)

        def total(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
            y = bottoms[0] * coeffs[0] if coeffs[0] != 1 else bottoms[0]
            for c, x in zip(coeffs[1:], bottoms[1:], strict=False):
                y = y + (x * c if c != 1 else x)
            return [y]
        return total
    if op == pb.EltwiseParameter.PROD:
        def product(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
            y = bottoms[0]
            for x in bottoms[1:]:
                y = y * x
            return [y]
        return product

    def maximum(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        y = bottoms[0]
        for x in bottoms[1:]:
            y = torch.maximum(y, x)
        return [y]
    return maximum


@forward_of("Reduction")
def _reduction(layer: NetLayer, env: Env) -> Run:
    p = layer.param.reduction_param
    coeff = float(np.float32(p.coeff))
    top = layer.top_shapes[0]
    R = pb.ReductionParameter
    ops: dict[int, Callable[[Tensor], Tensor]] = {
        R.SUM: lambda v: v.sum(dim=1), R.ASUM: lambda v: v.abs().sum(dim=1),
        R.SUMSQ: lambda v: (v * v).sum(dim=1), R.MEAN: lambda v: v.mean(dim=1)}
    op = ops[int(p.operation)]

    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        x = bottoms[0]
        y = op(x.reshape(math.prod(top), -1))
        return [(y * coeff if coeff != 1 else y).reshape(top)]
    return run


@forward_of("ArgMax")
def _argmax(layer: NetLayer, env: Env) -> Run:
    p = layer.param.argmax_param
    k, out_max = int(p.top_k), bool(p.out_max_val)
    top = layer.top_shapes[0]
    if p.HasField("axis"):
        axis = axis_of(int(p.axis), len(layer.bottom_shapes[0]))

        def along_axis(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
            values, index = torch.topk(bottoms[0], k, dim=axis)
            return [values if out_max else index.to(bottoms[0].dtype)]
        return along_axis

    def per_item(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        x = bottoms[0]
        values, index = torch.topk(x.reshape(x.shape[0], -1), k, dim=1)
        y = torch.cat([index.to(x.dtype), values], dim=1) if out_max else index.to(x.dtype)
        return [y.reshape(top)]
    return per_item


@forward_of("Softmax")
def _softmax(layer: NetLayer, env: Env) -> Run:
    axis = axis_of(int(layer.param.softmax_param.axis), len(layer.bottom_shapes[0]))
    return lambda bottoms, blobs: [torch.softmax(bottoms[0], dim=axis)]


@forward_of("MVN")
def _mvn(layer: NetLayer, env: Env) -> Run:
    p = layer.param.mvn_param
    shape = layer.bottom_shapes[0]
    groups = shape[0] if p.across_channels else shape[0] * (shape[1] if len(shape) > 1 else 1)
    variance, eps = bool(p.normalize_variance), float(np.float32(p.eps))

    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        x = bottoms[0].reshape(groups, -1)
        centred = x - x.mean(dim=1, keepdim=True)
        if variance:  # divided by sqrt(E((X-EX)^2)) + eps
            std = torch.sqrt((centred * centred).mean(dim=1, keepdim=True)) + eps
            centred = centred / std
        return [centred.reshape(shape)]
    return run


# --------------------------------------------------------------------- recurrent


def _lstm_step(gates: Tensor, c_prev: Tensor, cont: Tensor) -> tuple[Tensor, Tensor]:
    """LSTMUnitLayer: gates (N, 4H) in Caffe's order i, f, o, g; the forget
    gate is multiplied by cont (0 when cont is 0)."""
    i, f, o, g = gates.chunk(4, dim=1)
    f = torch.where(cont == 0, torch.zeros_like(f), cont * torch.sigmoid(f))
    c = f * c_prev + torch.sigmoid(i) * torch.tanh(g)
    return c, torch.sigmoid(o) * torch.tanh(c)


@forward_of("LSTMUnit")
def _lstm_unit(layer: NetLayer, env: Env) -> Run:
    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        c_prev, x, cont = bottoms
        n = x.shape[1]
        c, h = _lstm_step(x.reshape(n, -1), c_prev.reshape(n, -1), cont.reshape(n, 1))
        return [c.reshape(c_prev.shape), h.reshape(c_prev.shape)]
    return run


@forward_of("LSTM", "RNN")
def _recurrent(layer: NetLayer, env: Env) -> Run:
    lstm = layer.type == "LSTM"
    p = layer.param.recurrent_param
    expose = bool(p.expose_hidden)
    t_steps, n = layer.bottom_shapes[0][:2]
    hidden = int(p.num_output)
    static = len(layer.bottoms) > 2 + ((2 if lstm else 1) if expose else 0)
    first_state = 3 if static else 2

    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        x, cont = bottoms[0].reshape(t_steps, n, -1), bottoms[1]
        w = list(blobs)
        w_x, b_x = w[0], w[1]
        rest = w[3:] if static else w[2:]
        inputs = F.linear(x, w_x, b_x)
        if static:
            inputs = inputs + F.linear(bottoms[2].reshape(n, -1), w[2]).unsqueeze(0)
        if expose:
            h = bottoms[first_state].reshape(n, hidden)
            c = bottoms[first_state + 1].reshape(n, hidden) if lstm else h
        else:
            h = inputs.new_zeros(n, hidden)
            c = inputs.new_zeros(n, hidden)
        outputs = []
        for t in range(t_steps):
            ct = cont[t].reshape(n, 1)
            h_conted = ct * h
            if lstm:
                gates = F.linear(h_conted, rest[0]) + inputs[t]
                c, h = _lstm_step(gates, c, ct)
                outputs.append(h)
            else:
                h = torch.tanh(F.linear(h_conted, rest[0]) + inputs[t])
                outputs.append(torch.tanh(F.linear(h, rest[1], rest[2])))
        tops = [torch.stack(outputs)]
        if expose:
            tops.append(h.reshape(1, n, hidden))
            if lstm:
                tops.append(c.reshape(1, n, hidden))
        return tops
    return run


# --------------------------------------------------------------------- data


@forward_of("DummyData")
def _dummy_data(layer: NetLayer, env: Env) -> Run:
    """DummyDataLayer: constant tops keep their value; the others are refilled
    from the stream on every forward pass, in top order."""
    p = layer.param.dummy_data_param
    fillers = list(p.data_filler)
    tops = layer.top_shapes

    def filler_of(i: int) -> FillerParameter:
        if not fillers:
            return FillerParameter()
        chosen: FillerParameter = fillers[0] if len(fillers) == 1 else fillers[i]
        return chosen

    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        out = []
        for i, shape in enumerate(tops):
            array = np.empty(shape, dtype=np.float32)
            f = filler_of(i)
            if f.type == "constant":
                array.fill(np.float32(f.value))
            else:
                fill_blob(f, array, env.stream(), env.profile)
            out.append(torch.from_numpy(array).to(env.dtype))  # drawn in float32, as Caffe
        return out
    return run


# --------------------------------------------------------------------- losses


def _loss_norm(p: pb.LossParameter, default: int) -> int:
    """A loss layer's normalization mode: ``normalization`` when given, else the
    legacy ``normalize`` (VALID or BATCH_SIZE), else the layer's default."""
    if p.HasField("normalization"):
        return int(p.normalization)
    if p.HasField("normalize"):
        return int(pb.LossParameter.VALID if p.normalize else pb.LossParameter.BATCH_SIZE)
    return default


def _normalizer(mode: int, outer: int, inner: int, valid: Tensor | int) -> Tensor | float:
    L = pb.LossParameter
    if mode == L.FULL:
        value: Tensor | float = float(outer * inner)
    elif mode == L.VALID:
        value = valid if isinstance(valid, Tensor) else float(valid)
    elif mode == L.BATCH_SIZE:
        value = float(outer)
    else:
        value = 1.0
    if isinstance(value, Tensor):
        return torch.clamp(value, min=1.0)
    return max(1.0, value)


@forward_of("SoftmaxWithLoss")
def _softmax_loss(layer: NetLayer, env: Env) -> Run:
    lp = layer.param.loss_param
    shape = layer.bottom_shapes[0]
    axis = axis_of(int(layer.param.softmax_param.axis), len(shape))
    outer, inner = math.prod(shape[:axis]), math.prod(shape[axis + 1:])
    ignore = int(lp.ignore_label) if lp.HasField("ignore_label") else None
    mode = _loss_norm(lp, pb.LossParameter.VALID)
    two = len(layer.tops) > 1

    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        x, label = bottoms
        prob = torch.softmax(x, dim=axis)
        p3 = prob.reshape(outer, shape[axis], inner)
        lab = label.detach().reshape(outer, 1, inner).to(torch.int64)
        valid = torch.ones_like(lab, dtype=torch.bool) if ignore is None else lab != ignore
        picked = p3.gather(1, torch.where(valid, lab, torch.zeros_like(lab)))
        logs = torch.log(torch.clamp(picked, min=FLT_MIN))
        loss = -(logs * valid.to(x.dtype)).sum()
        norm = _normalizer(mode, outer, inner, valid.sum().to(x.dtype))
        tops = [(loss / norm).reshape(())]
        return [*tops, prob] if two else tops
    return run


@forward_of("EuclideanLoss")
def _euclidean_loss(layer: NetLayer, env: Env) -> Run:
    num = layer.bottom_shapes[0][0]

    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        diff = bottoms[0] - bottoms[1]
        return [((diff * diff).sum() / num / 2).reshape(())]
    return run


@forward_of("SigmoidCrossEntropyLoss")
def _sigmoid_cross_entropy(layer: NetLayer, env: Env) -> Run:
    lp = layer.param.loss_param
    shape = layer.bottom_shapes[0]
    ignore = int(lp.ignore_label) if lp.HasField("ignore_label") else None
    mode = _loss_norm(lp, pb.LossParameter.BATCH_SIZE)
    outer, inner = shape[0], math.prod(shape[1:])

    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        x, target = bottoms[0], bottoms[1].detach()
        positive = (x >= 0).to(x.dtype)
        terms = x * (target - positive) - torch.log1p(torch.exp(x - 2 * x * positive))
        valid = torch.ones_like(target, dtype=torch.bool) if ignore is None \
            else target.to(torch.int64) != ignore
        loss = -(terms * valid.to(x.dtype)).sum()
        return [(loss / _normalizer(mode, outer, inner, valid.sum().to(x.dtype))).reshape(())]
    return run


@forward_of("MultinomialLogisticLoss")
def _multinomial_logistic(layer: NetLayer, env: Env) -> Run:
    num = layer.bottom_shapes[0][0]

    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        prob = bottoms[0].reshape(num, -1)
        lab = bottoms[1].detach().reshape(num, 1).to(torch.int64)
        picked = torch.clamp(prob.gather(1, lab), min=1e-20)
        return [(-torch.log(picked).sum() / num).reshape(())]
    return run


@forward_of("HingeLoss")
def _hinge(layer: NetLayer, env: Env) -> Run:
    num = layer.bottom_shapes[0][0]
    squared = layer.param.hinge_loss_param.norm == pb.HingeLossParameter.L2

    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        x = bottoms[0].reshape(num, -1)
        lab = bottoms[1].detach().reshape(num, 1).to(torch.int64)
        sign = -torch.ones_like(x)
        sign = sign.scatter(1, lab, torch.ones_like(lab, dtype=x.dtype))
        margin = torch.clamp(1 + sign * x, min=0)
        total = (margin * margin).sum() if squared else margin.sum()
        return [(total / num).reshape(())]
    return run


@forward_of("Accuracy")
def _accuracy(layer: NetLayer, env: Env) -> Run:
    p = layer.param.accuracy_param
    shape = layer.bottom_shapes[0]
    axis = axis_of(int(p.axis), len(shape))
    outer, classes, inner = math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])
    top_k = int(p.top_k)
    ignore = int(p.ignore_label) if p.HasField("ignore_label") else None
    per_class = len(layer.tops) > 1

    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        x = bottoms[0].detach().reshape(outer, classes, inner)
        lab = bottoms[1].detach().reshape(outer, 1, inner).to(torch.int64)
        valid = torch.ones_like(lab, dtype=torch.bool) if ignore is None else lab != ignore
        safe = torch.where(valid, lab, torch.zeros_like(lab))
        true = x.gather(1, safe)
        index = torch.arange(classes).reshape(1, classes, 1)
        # Caffe sorts (value, index) pairs descending: ahead of the label are the
        # larger values and, on a tie, the larger indices.
        ahead = ((x > true) | ((x == true) & (index > safe))).sum(dim=1, keepdim=True)
        correct = (ahead < top_k) & valid
        count = valid.sum()
        acc = correct.sum().to(x.dtype) / count.clamp(min=1).to(x.dtype) if count > 0 \
            else x.new_zeros(())
        tops = [acc.reshape(())]
        if per_class:
            hits = torch.zeros(classes, dtype=x.dtype).index_add_(
                0, safe[valid], correct[valid].to(x.dtype))
            seen = torch.zeros(classes, dtype=x.dtype).index_add_(
                0, safe[valid], torch.ones_like(safe[valid], dtype=x.dtype))
            tops.append(torch.where(seen > 0, hits / seen.clamp(min=1), torch.zeros_like(seen)))
        return tops
    return run


@forward_of("InfogainLoss")
def _infogain_loss(layer: NetLayer, env: Env) -> Run:
    """InfogainLossLayer: -sum_l H[label, l] log(max(p_l, 1e-20)) over the
    softmax along ``axis``, H from the third bottom or the BlobProto file
    ``source``, normalized as ``normalization`` says (default VALID)."""
    lp = layer.param.loss_param
    shape = layer.bottom_shapes[0]
    axis = axis_of(int(layer.param.infogain_loss_param.axis), len(shape))
    outer, labels, inner = math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])
    ignore = int(lp.ignore_label) if lp.HasField("ignore_label") else None
    mode = int(lp.normalization)
    two = len(layer.tops) > 1
    fixed = None if len(layer.bottoms) > 2 else _infogain_matrix(layer, env, labels)

    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        x, label = bottoms[0], bottoms[1]
        h = (bottoms[2] if fixed is None else fixed.to(x.dtype)).reshape(labels, labels)
        prob = torch.softmax(x, dim=axis)
        logs = torch.log(torch.clamp(prob.reshape(outer, labels, inner), min=1e-20))
        lab = label.detach().reshape(outer, inner).to(torch.int64)
        valid = torch.ones_like(lab, dtype=torch.bool) if ignore is None else lab != ignore
        rows = h[torch.where(valid, lab, torch.zeros_like(lab))]  # (outer, inner, labels)
        terms = (rows * logs.transpose(1, 2)).sum(dim=2)
        loss = -(terms * valid.to(x.dtype)).sum()
        tops = [(loss / _normalizer(mode, outer, inner, valid.sum().to(x.dtype))).reshape(())]
        return [*tops, prob] if two else tops
    return run


def _infogain_matrix(layer: NetLayer, env: Env, labels: int) -> Tensor:
    """InfogainLoss's H read from ``infogain_loss_param.source`` (a BlobProto),
    as Caffe reads it at setup (the path taken from the working directory)."""
    source = layer.param.infogain_loss_param.source
    proto = pb.BlobProto()
    try:
        with open(source, "rb") as f:
            proto.ParseFromString(f.read())
    except (OSError, ValueError) as exc:
        raise refuse(layer, env, f"cannot read infogain_loss_param.source {source!r}: "
                                 f"{exc}") from None
    values = np.asarray(proto.double_data if len(proto.double_data) else proto.data,
                        dtype=np.float32)
    if values.size != labels * labels:
        raise refuse(layer, env, f"the infogain matrix in {source!r} holds {values.size} "
                                 f"values, not {labels}x{labels}")
    return torch.from_numpy(values.copy())


@forward_of("ContrastiveLoss")
def _contrastive_loss(layer: NetLayer, env: Env) -> Run:
    """ContrastiveLossLayer: similar pairs add d^2, dissimilar ones
    max(margin - d, 0)^2 (legacy_version: max(margin - d^2, 0)); / N / 2."""
    p = layer.param.contrastive_loss_param
    margin = float(np.float32(p.margin))
    legacy = bool(p.legacy_version)
    num = layer.bottom_shapes[0][0]

    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        a, b, similar = bottoms
        diff = (a - b).reshape(num, -1)
        dist_sq = (diff * diff).sum(dim=1)
        same = similar.detach().reshape(num).to(torch.int64) != 0  # Caffe casts to int
        if legacy:
            apart = torch.clamp(margin - dist_sq, min=0)
        else:
            apart = torch.clamp(margin - torch.sqrt(dist_sq), min=0) ** 2
        loss = torch.where(same, dist_sq, apart).sum()
        return [(loss / num / 2).reshape(())]
    return run


@forward_of("SmoothL1Loss")
def _smooth_l1_loss(layer: NetLayer, env: Env) -> Run:
    """SmoothL1LossLayer of Fast/Faster R-CNN and SSD: d = w_in * (b0 - b1)
    (w_in: a third bottom), 0.5 sigma^2 d^2 where |d| < 1 / sigma^2, else
    |d| - 0.5 / sigma^2, times w_out (a fourth bottom), summed, / N.  SSD and
    Fast R-CNN have no sigma (1, the default)."""
    if len(layer.tops) > 1:
        raise refuse(layer, env, "the per-item loss top of this fork's SmoothL1Loss is not "
                                 "reproduced")
    sigma = np.float32(layer.param.smooth_l1_loss_param.sigma)
    sigma2 = float(sigma * sigma)
    num = layer.bottom_shapes[0][0]

    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        d = bottoms[0] - bottoms[1]
        if len(bottoms) > 2:
            d = bottoms[2] * d
        magnitude = torch.abs(d)
        errors = torch.where(magnitude < 1.0 / sigma2, 0.5 * d * d * sigma2,
                             magnitude - 0.5 / sigma2)
        if len(bottoms) > 3:
            errors = bottoms[3] * errors
        return [(errors.sum() / num).reshape(())]
    return run


@forward_of("SPP")
def _spp(layer: NetLayer, env: Env) -> Run:
    """SPPLayer: for each pyramid level a pooling over 2^level x 2^level bins
    covering the input (SPPLayer::GetPoolingParam), flattened and concatenated
    (one level: the pooling alone, 4-D)."""
    from ..net.layers.vision import pooling_shape, spp_pooling

    p = layer.param.spp_param
    bottom = layer.bottom_shapes[0]
    if len(bottom) != 4:
        raise refuse(layer, env, "only a 4-D input is reproduced")
    if p.pool == pb.SPPParameter.STOCHASTIC:
        raise refuse(layer, env, "STOCHASTIC pooling has no CPU forward in Caffe")
    pools = []
    for level in range(int(p.pyramid_height)):
        pooling = spp_pooling(level, bottom[2], bottom[3], p.pool)
        top, window = pooling_shape(context(layer, env), pooling, bottom)
        pools.append(make_pool(pooling.pool == pb.PoolingParameter.MAX,
                               PoolWindow((int(window.kernel[0]), int(window.kernel[1])),
                                          (int(window.stride[0]), int(window.stride[1])),
                                          (int(pooling.pad_h), int(pooling.pad_w))),
                               bottom, top[2:]))
    if len(pools) == 1:
        return lambda bottoms, blobs: [pools[0](bottoms[0])]
    return lambda bottoms, blobs: [torch.cat([pool(bottoms[0]).flatten(1) for pool in pools],
                                             dim=1)]


@forward_of("Filter")
def _filter(layer: NetLayer, env: Env) -> Run:
    """FilterLayer: the items (along axis 0) of each bottom but the last whose
    selector (the last bottom) is not zero; the tops have as many items as
    there are such selectors."""
    def run(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        keep = torch.nonzero(bottoms[-1].detach().reshape(-1) != 0).reshape(-1)
        return [bottom.index_select(0, keep) for bottom in bottoms[:len(layer.tops)]]
    return run


@forward_of("PriorBox")
def _prior_box(layer: NetLayer, env: Env) -> Run:
    """SSD's PriorBoxLayer: boxes that depend on the shapes only, computed once
    in Caffe's float/double arithmetic (prior_box_layer.cpp, branch ssd)."""
    boxes = torch.from_numpy(prior_boxes(layer))
    return lambda bottoms, blobs: [boxes.to(bottoms[0].dtype)]


def prior_boxes(layer: NetLayer) -> np.ndarray:
    """The (1, 2, H * W * priors * 4) top of a PriorBox layer: corners, then variances."""
    from ..net.layers.forks import prior_aspect_ratios

    p = layer.param.prior_box_param
    f32 = np.float32
    shape = layer.bottom_shapes[0]
    layer_h, layer_w = int(shape[2]), int(shape[3])
    if p.HasField("img_h") or p.HasField("img_w"):
        img_h, img_w = int(p.img_h), int(p.img_w)
    else:
        img_h = img_w = int(p.img_size) if p.HasField("img_size") else 0
    if img_h == 0 or img_w == 0:
        image = layer.bottom_shapes[1]
        img_h, img_w = int(image[2]), int(image[3])
    if p.HasField("step_h") or p.HasField("step_w"):
        step_h, step_w = f32(p.step_h), f32(p.step_w)
    else:
        step_h = step_w = f32(p.step) if p.HasField("step") else f32(0)
    if step_h == 0 or step_w == 0:
        step_w, step_h = f32(img_w) / f32(layer_w), f32(img_h) / f32(layer_h)
    sizes: list[tuple[float, float]] = []  # (width, height) of each prior at a position
    for s, min_size in enumerate(p.min_size):
        m = int(min_size)  # Caffe holds it in an int here
        sizes.append((m, m))
        if len(p.max_size):
            side = float(f32(math.sqrt(m * int(p.max_size[s]))))
            sizes.append((side, side))
        for ar in prior_aspect_ratios(p):
            if abs(float(ar) - 1.0) < 1e-6:
                continue
            root = math.sqrt(float(ar))
            sizes.append((float(f32(m * root)), float(f32(m / root))))
    offset = f32(p.offset)
    cx = ((np.arange(layer_w, dtype=f32) + offset) * step_w).astype(np.float64)
    cy = ((np.arange(layer_h, dtype=f32) + offset) * step_h).astype(np.float64)
    cx, cy = np.meshgrid(cx, cy)  # (H, W)
    corners = [np.stack([(cx - bw / 2.0) / img_w, (cy - bh / 2.0) / img_h,
                         (cx + bw / 2.0) / img_w, (cy + bh / 2.0) / img_h], axis=-1)
               for bw, bh in sizes]
    boxes = np.stack(corners, axis=2).astype(f32).reshape(-1)  # (H, W, priors, 4)
    if p.clip:
        boxes = np.clip(boxes, f32(0), f32(1))
    variance = [f32(v) for v in p.variance] or [f32(0.1)]
    variances = np.resize(np.asarray(variance, dtype=f32), boxes.size)
    return np.stack([boxes, variances]).reshape(1, 2, -1)


@forward_of("BN")
def _bn(layer: NetLayer, env: Env) -> Run:
    """The ``BN`` layer of SegNet (scale, shift; LEARN mode normalizes by the
    batch's mean and E[x^2] - E[x]^2 plus 1e-9, and writes them to its extra
    tops; INFERENCE mode only scales and shifts) or of PSPNet (slope, bias,
    mean, variance; the stored statistics when frozen or in TEST, else the
    batch's, plus ``eps``).  The moving averages PSPNet's TRAIN forward
    updates are left as they are."""
    from ..net.layers.forks import is_pspnet_bn

    p = layer.param.bn_param
    if is_pspnet_bn(p):
        stored = bool(p.frozen) or layer_phase(layer, env) == pb.TEST
        eps = float(np.float32(p.eps))

        def pspnet(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
            x = bottoms[0]
            if stored:
                mean, var = blobs[2], blobs[3]
            else:
                mean = x.mean(dim=(0, 2, 3), keepdim=True)
                var = ((x - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
            return [(x - mean) * torch.pow(var + eps, -0.5) * blobs[0] + blobs[1]]
        return pspnet
    learn = p.bn_mode == pb.BNParameter.LEARN

    def segnet(bottoms: Sequence[Tensor], blobs: Sequence[Tensor]) -> list[Tensor]:
        x = bottoms[0]
        scale, shift = blobs[0], blobs[1]
        if not learn:
            return [x * scale + shift]
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        var = (x * x).mean(dim=(0, 2, 3), keepdim=True) - mean * mean
        tops = [(x - mean) / torch.sqrt(var + 1e-9) * scale + shift, mean, var]
        return tops[:len(layer.tops)]
    return segnet


def is_source(layer: NetLayer) -> bool:
    """Whether ``layer``'s tops are net inputs: a data layer (its registry
    entry is a source with no forward: its data lives outside the prototxt),
    or a Python layer with no bottoms, which is a data layer written in Python."""
    found = entry(layer.type)
    if found is not None and found.forward is None and \
            found.traits.role in ("source", "labelled_source"):
        return True
    return layer.type == "Python" and not layer.bottoms


def make_forward(layer: NetLayer, env: Env) -> Run:
    """The forward of ``layer``, or a located NetError naming the layer when it
    has none here."""
    found = entry(layer.type)
    make: Make | None = None if found is None else found.forward
    if make is None:
        raise refuse(layer, env, "no forward pass is reproduced for this layer type")
    return make(layer, env)
