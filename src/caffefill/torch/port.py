"""Caffe's initial weights for a PyTorch module of your own.

:func:`fill_` fills one tensor as a Caffe filler would (``torch.nn.init``
style); :func:`load_caffe_init` copies a whole net's initial weights into a
module whose names follow the prototxt's layers (or a ``mapping`` of them),
converting the layouts where PyTorch's differ from Caffe's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import CaffefillError
from ..fillers import FillerParameter, fill, parse_filler
from ..init import init_net
from ..net.model import NetLayer
from ..rng import CaffeRNG
from ..weights import Weights


def fill_(tensor: Tensor, filler: FillerParameter | str, *, rng: CaffeRNG | int,
          caffe: str | None = None, boost: str | None = None) -> Tensor:
    """Fill ``tensor`` in place with the values Caffe's filler writes into a blob
    of the tensor's shape, drawn from ``rng`` (a :class:`caffefill.CaffeRNG`,
    which continues across calls, or a seed); returns ``tensor``.

    The shape is read as Caffe reads a blob's: fans of ``xavier``/``msra`` come
    from dims 0 and 1 and the rest (a ``Conv2d`` weight is laid out as Caffe's;
    a ``Linear`` weight is Caffe's InnerProduct weight).
    """
    stream = CaffeRNG(rng) if isinstance(rng, int) else rng
    values = fill(parse_filler(filler), tuple(tensor.shape), rng=stream, caffe=caffe,
                  boost=boost)
    with torch.no_grad():
        tensor.copy_(torch.from_numpy(values))
    return tensor


@dataclass
class PortReport:
    """What :func:`load_caffe_init` did: each module key it set, with the Caffe
    blob it came from (``layer/index``, or the layers of a converted blob), the
    names left unmatched on either side, and notes on settings that differ
    (a BatchNorm ``eps``)."""

    copied: dict[str, str] = field(default_factory=dict)
    unmatched_caffe: list[str] = field(default_factory=list)
    unmatched_module: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Source:
    """One value the Caffe net offers, under its PyTorch-style key."""

    key: str
    value: np.ndarray
    origin: str


def _gates(values: np.ndarray) -> np.ndarray:
    """Caffe's LSTM gate blocks i, f, o, g -> PyTorch's i, f, g, o (axis 0)."""
    i, f, o, g = np.split(values, 4, axis=0)
    return np.concatenate([i, f, g, o], axis=0)


def _sources(result: Weights) -> tuple[list[_Source], dict[str, float]]:
    """The Caffe net's initial values under PyTorch-style keys, converted, and
    the eps of each BatchNorm (by key prefix)."""
    model = result.model
    assert model is not None  # init_net's result carries its model
    out: list[_Source] = []
    eps: dict[str, float] = {}
    merged: set[int] = set()
    layers = model.layers
    for layer in layers:
        if layer.index in merged or not layer.blobs:
            continue
        blobs = result[layer.name]
        name = layer.name

        def add(key: str, value: np.ndarray, origin: str, _name: str = name) -> None:
            out.append(_Source(f"{_name}.{key}", np.asarray(value, dtype=np.float32), origin))

        if layer.type == "BatchNorm":
            stored = float(blobs[2].reshape(-1)[0])
            factor = 0.0 if stored == 0 else 1.0 / stored
            add("running_mean", blobs[0] * np.float32(factor), f"{name}/0 / {name}/2")
            add("running_var", blobs[1] * np.float32(factor), f"{name}/1 / {name}/2")
            eps[name] = float(np.float32(layer.param.batch_norm_param.eps))
            scale = _scale_after(layer, layers)
            if scale is not None:
                merged.add(scale.index)
                sblobs = result[scale.name]
                add("weight", sblobs[0], f"{scale.name}/0")
                if len(sblobs) > 1:
                    add("bias", sblobs[1], f"{scale.name}/1")
            continue
        if layer.type == "LSTM":
            static = len(blobs) == 4
            add("weight_ih_l0", _gates(blobs[0]), f"{name}/0 (gates i,f,g,o)")
            add("bias_ih_l0", _gates(blobs[1]), f"{name}/1 (gates i,f,g,o)")
            add("weight_hh_l0", _gates(blobs[3 if static else 2]),
                f"{name}/{3 if static else 2} (gates i,f,g,o)")
            add("bias_hh_l0", np.zeros_like(blobs[1]), "zero (Caffe has one bias)")
            if static:
                add("weight_static", _gates(blobs[2]), f"{name}/2 (gates i,f,g,o)")
            continue
        if layer.type == "RNN":
            static = len(blobs) == 6
            rest = blobs[3:] if static else blobs[2:]
            add("weight_ih_l0", blobs[0], f"{name}/0")
            add("bias_ih_l0", blobs[1], f"{name}/1")
            add("weight_hh_l0", rest[0], f"{name}/{len(blobs) - 3}")
            add("bias_hh_l0", np.zeros_like(blobs[1]), "zero (Caffe has one bias)")
            if static:
                add("weight_static", blobs[2], f"{name}/2")
            add("W_ho", rest[1], f"{name}/{len(blobs) - 2}")
            add("b_o", rest[2], f"{name}/{len(blobs) - 1}")
            continue
        roles = [spec.role for spec in layer.blobs]
        for index, (role, value) in enumerate(zip(roles, blobs, strict=False)):
            if layer.type == "InnerProduct" and index == 0 and \
                    layer.param.inner_product_param.transpose:
                value = value.T  # Caffe keeps (K, N); Linear wants (N, K)
            if layer.type in ("PReLU", "Scale") and index == 0:
                role = "weight"
            add(role or f"blob{index}", value, f"{name}/{index}")
    return out, eps


def _scale_after(bn: NetLayer, layers: Sequence[NetLayer]) -> NetLayer | None:
    """The Scale layer that takes BatchNorm ``bn``'s output next (Caffe's usual
    BatchNorm + Scale pair), if any."""
    top = bn.tops[0]
    for later in layers[bn.index + 1:]:
        if top in later.bottoms:
            ok = later.type == "Scale" and len(later.bottoms) == 1 and later.bottoms[0] == top
            return later if ok else None
    return None


Mapping_ = Mapping[str, str] | Callable[[str], str | None]


def _rename(key: str, mapping: Mapping_ | None) -> str | None:
    if mapping is None:
        return key
    if callable(mapping):
        return mapping(key)
    for pattern, replacement in mapping.items():
        match = re.fullmatch(pattern, key)
        if match:
            return match.expand(replacement) if replacement else None
    return key


def load_caffe_init(module: nn.Module, prototxt: str | os.PathLike[str], *, seed: int,
                    phase: str | int = "TEST", mapping: Mapping_ | None = None,
                    strict: bool = True, stages: Sequence[str] = (), level: int = 0,
                    inputs: Mapping[str, Sequence[int]] | None = None,
                    caffe: str | None = None, boost: str | None = None) -> PortReport:
    """Copy the initial weights Caffe gives ``prototxt`` for ``seed`` into ``module``.

    Each Caffe blob is offered under a PyTorch-style key ``<layer>.<name>``:
    ``weight``/``bias`` for Convolution, Deconvolution (= ``ConvTranspose``,
    same layout), InnerProduct (transposed back when ``transpose``), Embed,
    Scale and PReLU; a BatchNorm followed by its Scale becomes one
    ``BatchNorm*d`` (``running_mean``/``running_var`` = Caffe's stored sums
    divided by its scale factor, 0 right after init; ``weight``/``bias`` from
    the Scale); LSTM becomes ``nn.LSTM``'s ``weight_ih_l0``, ``weight_hh_l0``,
    ``bias_ih_l0`` with the gates reordered from Caffe's i, f, o, g to
    PyTorch's i, f, g, o, and ``bias_hh_l0`` zero (RNN likewise; its output
    layer stays ``W_ho``/``b_o``); other blobs keep their role's name.

    ``mapping`` renames the keys: ``{regex: replacement}`` (the first pattern
    that matches the whole key wins; ``\\1`` refers to its groups; an empty
    replacement drops the key) or a function (None drops it).  Every value is
    checked against the module's ``state_dict()`` shapes before anything is
    copied (a Caffe blob whose shape differs only by dims of 1 is reshaped).
    With ``strict`` (the default), a name unmatched on either side is an error
    that lists them all; otherwise the report lists them.
    """
    result = init_net(prototxt, phase=phase, seed=seed, stages=stages, level=level,
                      inputs=inputs, caffe=caffe, boost=boost)
    sources, eps = _sources(result)
    targets = module.state_dict(keep_vars=True)
    report = PortReport()
    plan: list[tuple[Tensor, np.ndarray]] = []
    shapes: list[str] = []
    for source in sources:
        key = _rename(source.key, mapping)
        if key is None:
            continue
        target = targets.get(key)
        if target is None:
            report.unmatched_caffe.append(f"{source.key} (-> {key})" if key != source.key
                                          else key)
            continue
        value = source.value
        if tuple(target.shape) != value.shape:
            squeezed = tuple(d for d in value.shape if d != 1)
            if squeezed != tuple(d for d in target.shape if d != 1):
                shapes.append(f"{key}: module {list(target.shape)}, Caffe {list(value.shape)} "
                              f"({source.origin})")
                continue
            value = value.reshape(tuple(target.shape))
        plan.append((target, value))
        report.copied[key] = source.origin
    taken = set(report.copied)
    report.unmatched_module = [k for k in targets if k not in taken
                               and not k.endswith("num_batches_tracked")]
    for prefix, caffe_eps in eps.items():
        for key in report.copied:
            owner = key.rpartition(".")[0]
            if report.copied[key].startswith(f"{prefix}/0"):
                sub = module.get_submodule(owner) if owner else module
                got = getattr(sub, "eps", None)
                if got is not None and float(np.float32(got)) != caffe_eps:
                    report.notes.append(f"{owner}: eps is {got}, Caffe's BatchNorm "
                                        f"'{prefix}' uses {caffe_eps:g}")
    if shapes:
        raise CaffefillError("shapes differ: " + "; ".join(shapes))
    if strict and (report.unmatched_caffe or report.unmatched_module):
        parts = []
        if report.unmatched_caffe:
            parts.append("Caffe blobs with no place in the module: "
                         + ", ".join(report.unmatched_caffe))
        if report.unmatched_module:
            parts.append("module entries Caffe does not fill: "
                         + ", ".join(report.unmatched_module))
        raise CaffefillError("; ".join(parts) + " (map names with mapping=, or strict=False)")
    with torch.no_grad():
        for target, value in plan:
            target.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return report
