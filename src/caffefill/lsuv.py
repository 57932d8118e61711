"""LSUV: layer-sequential unit-variance initialisation (Mishkin & Matas, 2015,
"All you need is a good init"), on caffefill's exact Caffe start.

1. Orthonormal start: the weight of every layer whose registry traits say it
   is ``linear`` (Convolution, Deconvolution, InnerProduct, depthwise
   convolutions) is drawn with caffefill's ``orthogonal`` filler, from Caffe's
   stream in Caffe's order - as the filler override ``NAME=type:
   "orthogonal"`` for each such layer would (:mod:`caffefill.overrides`);
   biases and every other blob as the prototxt (and the user's own overrides,
   which win over the orthogonal start) say.  A layer whose weight is frozen
   (``lr_mult: 0``, a fixed bilinear upsampler, say) or shared from an
   earlier layer keeps its filler and is not rescaled.
2. Layer by layer in net order, the net's forward (:class:`CaffeNet`, run on
   the given inputs) measures the variance of the layer's output (its first
   top, right after the layer, over all its values) and divides the layer's
   weight by ``sqrt(variance)``, until ``|variance - 1| < tol`` or ``max_iter``
   rescalings; the later layers then run on the rescaled output.

The result is deterministic for a seed and inputs.  Needs PyTorch (the
``caffefill[torch]`` extra).
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import CaffefillError
from .net.registry import traits_of
from .torch import require_torch
from .weights import Weights

if TYPE_CHECKING:  # torch is imported when LSUV runs (after require_torch), numpy and
    # the engine on first use: the command line reads the defaults below at start, and
    # `caffefill --version` or `caffefill audit` must not pay for them
    import numpy as np
    from torch import Tensor

    from .drawing import FilledBlob
    from .init import PreparedNet
    from .net.model import NetLayer
    from .torch.module import CaffeLayer, CaffeNet

#: The filler of the orthonormal start.
START = 'type: "orthogonal"'
#: ``--lsuv-tol`` and ``--lsuv-iter``'s defaults.
DEFAULT_TOL = 0.1
DEFAULT_MAX_ITER = 10


@dataclass
class LayerVariance:
    """What LSUV did to one layer."""

    layer: str
    #: The variance of its output after the last rescaling.
    variance: float
    #: How many times its weight was rescaled.
    iterations: int
    converged: bool

    def record(self) -> dict[str, Any]:
        variance = self.variance if math.isfinite(self.variance) else None  # strict JSON
        return {"layer": self.layer, "variance": variance, "iterations": self.iterations,
                "converged": self.converged}


def lsuv_layers(prepared: PreparedNet) -> list[NetLayer]:
    """The layers LSUV starts orthonormal and rescales, in net order: linear
    layers that own their weight and learn it."""
    from .overrides import filler_home

    model = prepared.model
    chosen = []
    for layer in model.layers:
        if traits_of(layer.type).role != "linear" or filler_home(layer, "weight") is None:
            continue
        if model.shared_owner(layer.index, 0) is not None:
            continue
        if len(layer.param.param) > 0 and layer.param.param[0].lr_mult == 0:
            continue
        chosen.append(layer)
    return chosen


def orthonormal_start(prepared: PreparedNet) -> tuple[PreparedNet, list[str]]:
    """``prepared`` with the LSUV layers' weights drawn orthogonal, except the
    layers whose weight one of the net's own filler overrides sets; and the
    names of the layers started orthogonal."""
    from .overrides import apply_overrides, parse_override

    names = [layer.name for layer in lsuv_layers(prepared)
             if not any(o.target == "weight" and o.matches(layer.name)
                        for o in prepared.overrides)]
    start = [parse_override(f"{glob.escape(name)}={START}") for name in names]
    model, _ = apply_overrides(prepared.model, start, inputs=prepared.inputs,
                               profile=prepared.profile)
    return dataclasses.replace(prepared, model=model), names


def _variance(value: Tensor) -> float:
    """Population variance of the float32 values, in float64."""
    import torch

    return float(value.detach().to(torch.float64).var(unbiased=False))


def run_lsuv(net: CaffeNet, inputs: Mapping[str, Any], *, tol: float = DEFAULT_TOL,
             max_iter: int = DEFAULT_MAX_ITER, given: bool = True) -> list[LayerVariance]:
    """Rescale, in place, the weight of each LSUV layer of ``net`` (in net
    order) until its output's variance on ``inputs`` is within ``tol`` of 1 or
    ``max_iter`` rescalings were made (``given``: the inputs are the user's,
    for the message when the forward pass fails)."""
    import torch

    targets = {layer.name for layer in lsuv_layers(net.prepared)}
    fed: dict[int, tuple[Tensor, ...]] = {}
    running: list[NetLayer] = []  # the layer running now (last)

    def keep(module: Any, args: tuple[Tensor, ...]) -> None:
        running[:] = [module.layer]
        if module.caffe_name in targets:
            fed[id(module)] = args

    hooks = [module.register_forward_pre_hook(keep) for _, module in net.layers()]
    results: list[LayerVariance] = []
    blobs: dict[str, Tensor] = {}
    try:
        with torch.no_grad():
            for module, tops in net.run(inputs, blobs):
                if module.caffe_name not in targets or not tops:
                    continue
                results.append(_rescale(module, fed.pop(id(module)), tops, blobs, tol,
                                        max_iter))
    except (RuntimeError, ValueError, IndexError) as exc:  # torch's own refusals
        model = net.prepared.model
        layer = running[-1] if running else None
        raise CaffefillError(
            f"LSUV's forward pass failed here: {exc} (on "
            f"{'the given inputs' if given else 'unit-Gaussian inputs'})",
            path=model.path, line=layer.line if layer else None,
            column=layer.column if layer else None,
            layer=layer.name if layer else None) from None
    finally:
        for hook in hooks:
            hook.remove()
    return results


def _rescale(module: CaffeLayer, bottoms: tuple[Tensor, ...], tops: tuple[Tensor, ...],
             blobs: dict[str, Tensor], tol: float, max_iter: int) -> LayerVariance:
    weight = module.blobs()[0]
    variance = _variance(tops[0])
    done = 0
    while abs(variance - 1.0) >= tol and done < max_iter:
        if not (variance > 0 and math.isfinite(variance)):
            break  # nothing to rescale by (an output that is constant, or not finite)
        weight.mul_(1.0 / math.sqrt(variance))
        done += 1
        tops = module(*bottoms)
        for name, value in zip(module.tops, tops, strict=False):
            blobs[name] = value  # the later layers run on the rescaled output
        variance = _variance(tops[0])
    return LayerVariance(module.caffe_name, variance, done, abs(variance - 1.0) < tol)


def net_blobs(net: CaffeNet) -> list[FilledBlob]:
    """The net's blobs as they are now, in Caffe's order (what writers take)."""
    import numpy as np

    from .drawing import FilledBlob

    out = []
    for (_, module), layer in zip(net.layers(), net.prepared.model.layers, strict=True):
        for index, value in enumerate(module.blobs()):
            array = value.detach().cpu().numpy().astype(np.float32, copy=False)
            out.append(FilledBlob(layer, index, array.shape, array))
    return out


@dataclass
class LsuvResult:
    """The net after LSUV: its blobs, the per-layer variances and the metadata."""

    net: CaffeNet
    layers: list[LayerVariance]
    meta: dict[str, Any]

    @property
    def unconverged(self) -> list[LayerVariance]:
        return [layer for layer in self.layers if not layer.converged]

    def blobs(self) -> list[FilledBlob]:
        return net_blobs(self.net)

    def weights(self) -> Weights:
        result = Weights(meta=self.meta, model=self.net.prepared.model)
        for blob in self.blobs():
            result.setdefault(blob.layer.name, []).append(blob.array)
        return result


def lsuv(prepared: PreparedNet, *, data: Mapping[str | None, np.ndarray] | None = None,
         data_path: str | None = None, tol: float = DEFAULT_TOL,
         max_iter: int = DEFAULT_MAX_ITER) -> LsuvResult:
    """LSUV on the net ``prepared`` (see the module docstring).  ``data``: the
    net inputs' values by top name (a None key: the first input), as ``--data``
    reads them from ``data_path`` (:func:`caffefill.probe.measure.load_data`);
    inputs not given are fed as ``probe`` feeds them: each Input top a unit
    Gaussian from Caffe's stream right after the weights (as
    :func:`caffefill.forward` does), other data layers' first top a unit
    Gaussian, labels 0.  The net's own filler overrides (``prepare_net(...,
    fillers=...)``) win over the orthonormal start."""
    require_torch("LSUV")
    from .probe.measure import feed_inputs
    from .torch.module import CaffeNet

    if not tol > 0 or not math.isfinite(tol):
        raise CaffefillError(f"the LSUV tolerance must be a finite number > 0, got {tol}")
    if max_iter < 0:
        raise CaffefillError(f"the LSUV iteration limit must be >= 0, got {max_iter}")
    started, orthogonal = orthonormal_start(prepared)
    net = CaffeNet.from_prepared(started)
    values = feed_inputs(net, data or {}, started.seed, data_path)
    layers = run_lsuv(net, values, tol=tol, max_iter=max_iter, given=bool(data))
    record: dict[str, Any] = {"start": START, "start_layers": orthogonal, "tol": tol,
                              "max_iter": max_iter}
    if data:
        record["data"] = data_path or "given arrays"
        record["data_sha256"] = _digest(data)
    else:
        record["data"] = "unit Gaussian (Input tops from the seed's stream after the fill)"
    record["layers"] = [layer.record() for layer in layers]
    meta = started.meta()
    meta["lsuv"] = record
    return LsuvResult(net, layers, meta)


def _digest(data: Mapping[str | None, np.ndarray]) -> str:
    """SHA-256 of the input arrays: each name, dtype, shape and C-order bytes."""
    import numpy as np

    digest = hashlib.sha256()
    for key in sorted(data, key=lambda k: "" if k is None else k):
        array = np.ascontiguousarray(data[key])
        digest.update(f"{key}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
