"""CaffeNet: a Caffe prototxt as a ``torch.nn.Module`` whose forward is Caffe's."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..drawing import iter_blobs
from ..errors import CaffefillError, NetError
from ..init import PreparedNet, prepare_net
from ..net.model import NetLayer
from ..net.registry import traits_of
from ..overrides import FillerOverride
from ..rng import CaffeRNG
from ..writers.names import blob_names, module_names
from .ops import Env, Run, is_source, make_forward


class CaffeLayer(nn.Module):
    """One Caffe layer: its blobs (parameters, or buffers for BatchNorm's
    statistics) and its forward, ``forward(*bottoms) -> tuple of tops``."""

    def __init__(self, layer: NetLayer, run: Run | None) -> None:
        super().__init__()
        self.caffe_name = layer.name
        self.caffe_type = layer.type
        self.bottoms = tuple(layer.bottoms)
        self.tops = tuple(layer.param.top)
        self._layer = layer
        self._run = run
        self._blob_names = blob_names(layer)

    @property
    def layer(self) -> NetLayer:
        """The set-up layer (parameters, bottom and top shapes)."""
        return self._layer

    def blobs(self) -> list[Tensor]:
        """The layer's blobs in Caffe's order (like pycaffe's ``net.params[name]``)."""
        return [getattr(self, n) for n in self._blob_names]

    def forward(self, *bottoms: Tensor) -> tuple[Tensor, ...]:
        if self._run is None:
            raise RuntimeError(f"layer '{self.caffe_name}' is a net input: it has no forward")
        return tuple(self._run(bottoms, self.blobs()))

    def extra_repr(self) -> str:
        return f"type={self.caffe_type}, bottoms={list(self.bottoms)}, tops={list(self.tops)}"


class CaffeNet(nn.Module):
    """A Caffe net as a PyTorch module, holding caffefill's exact initial weights.

    The net is read, upgraded and filtered for ``phase`` as Caffe's
    ``Net<float>(prototxt, phase)`` does (automatic Split layers included),
    and each layer becomes a submodule named after it (see
    :mod:`caffefill.writers.names`), whose parameters hold the values Caffe
    fills for ``seed`` (float32; ``.double()`` works).  ``forward(**inputs)``
    takes the tops of the data layers (:attr:`input_names`) and returns every
    blob of the net by Caffe name, in Caffe's blob order (a blob written in
    place holds its last value, as in Caffe).

    The random stream continues after the fill (:attr:`rng`): Dropout in TRAIN
    and DummyData draw from it during forward, as Caffe does.
    Layers without a forward here are refused, by name, when the net is built.
    ``fillers``: filler overrides, as :func:`caffefill.init_net` takes them.
    """

    def __init__(self, prototxt: str | os.PathLike[str], *, phase: str | int = "TEST",
                 seed: int | None = None, stages: Sequence[str] = (), level: int = 0,
                 inputs: Mapping[str, Sequence[int]] | None = None, caffe: str | None = None,
                 boost: str | None = None, fillers: Sequence[FillerOverride | str] = ()) -> None:
        super().__init__()
        prepared = prepare_net(prototxt, phase=phase, seed=seed, stages=stages, level=level,
                               inputs=inputs, caffe=caffe, boost=boost, fillers=fillers)
        self._build(prepared)

    @classmethod
    def from_prepared(cls, prepared: PreparedNet) -> CaffeNet:
        """A CaffeNet over a net already loaded with :func:`caffefill.init.prepare_net`."""
        net = cls.__new__(cls)
        nn.Module.__init__(net)
        net._build(prepared)
        return net

    def _build(self, prepared: PreparedNet) -> None:
        model = prepared.model
        self.prepared = prepared
        self.phase = prepared.phase
        self.seed = prepared.seed
        self._env = Env(phase=model.phase, profile=prepared.profile)
        # Follows .double()/.half() like the parameters (a net may have none),
        # outside the state_dict: the dtype of the values the net makes itself.
        self.register_buffer("_dtype_probe", torch.empty(0), persistent=False)
        runs: list[Run | None] = []
        for layer in model.layers:  # every refusal before anything is drawn
            try:
                runs.append(None if is_source(layer) else make_forward(layer, self._env))
            except CaffefillError as exc:
                raise exc.located(path=model.path, line=layer.line, column=layer.column,
                                  layer=layer.name) from None
        rng = CaffeRNG(prepared.seed)
        values: dict[tuple[int, int], np.ndarray] = {}
        for blob in iter_blobs(model, rng, prepared.profile):
            values[(blob.layer.index, blob.index)] = blob.array
        self._env.rng = rng
        self._layers: list[tuple[str, CaffeLayer]] = []
        owned: dict[tuple[int, int], Tensor] = {}
        for layer, name, run in zip(model.layers, module_names(model), runs, strict=False):
            module = CaffeLayer(layer, run)
            for index, attr in enumerate(blob_names(layer)):
                owner = model.shared_owner(layer.index, index)
                tensor = owned.get(owner) if owner is not None else None
                if tensor is None:
                    data = torch.from_numpy(np.ascontiguousarray(values[(layer.index, index)]))
                    tensor = data if traits_of(layer.type).statistics else nn.Parameter(data)
                    owned[(layer.index, index)] = tensor
                if isinstance(tensor, nn.Parameter):
                    module.register_parameter(attr, tensor)
                else:
                    module.register_buffer(attr, tensor)
            # Not add_module: a layer may be called like a Module attribute
            # ("forward", "train"); the name only has to be a state_dict prefix.
            self._modules[name] = module
            self._layers.append((name, module))
        self.input_names: tuple[str, ...] = tuple(
            top for layer in model.layers if is_source(layer) for top in layer.param.top)
        self.input_shapes: dict[str, tuple[int, ...]] = {
            top: shape for layer in model.layers if is_source(layer)
            for top, shape in zip(layer.param.top, layer.top_shapes, strict=False)}
        #: The tops of the Input layers, in order: Caffe's ``net.input_blobs()``.
        self.net_inputs: tuple[str, ...] = tuple(
            top for layer in model.layers if layer.type == "Input" for top in layer.param.top)

    @property
    def rng(self) -> CaffeRNG:
        """The random stream, positioned after the fill (and whatever drew since)."""
        return self._env.stream()

    def layers(self) -> Iterator[tuple[str, CaffeLayer]]:
        """(submodule name, layer) in net order."""
        return iter(self._layers)

    def layer(self, caffe_name: str) -> CaffeLayer:
        """The last layer called ``caffe_name``."""
        for _, module in reversed(self._layers):
            if module.caffe_name == caffe_name:
                return module
        raise KeyError(caffe_name)

    def forward(self, inputs: Mapping[str, Any] | None = None, /,
                **named: Any) -> dict[str, Tensor]:
        """Run Caffe's forward pass; returns every blob by name (final values)."""
        blobs: dict[str, Tensor] = {}
        for _ in self.run(inputs, blobs, **named):
            pass
        return blobs

    def run(self, inputs: Mapping[str, Any] | None, blobs: dict[str, Tensor],
            /, **named: Any) -> Iterator[tuple[CaffeLayer, tuple[Tensor, ...]]]:
        """The forward pass one layer at a time: yields each computing layer with
        the tops it just produced (an in-place layer's own output, before a later
        layer overwrites the blob), filling ``blobs`` as Caffe's blob table."""
        self._env.dtype = self.get_buffer("_dtype_probe").dtype
        given = self._inputs(dict(inputs or {}, **named))
        for _, module in self._layers:
            if module._run is None:
                for top in module.tops:
                    blobs[top] = given[top]
                continue
            tops = module(*(blobs[b] for b in module.bottoms))
            for name, value in zip(module.tops, tops, strict=False):
                blobs[name] = value
            yield module, tops

    def _inputs(self, given: dict[str, Any]) -> dict[str, Tensor]:
        unknown = sorted(set(given) - set(self.input_names))
        if unknown:
            raise NetError(f"{', '.join(map(repr, unknown))}: not an input of this net "
                           f"(its inputs: {', '.join(self.input_names) or 'none'})",
                           path=self.prepared.model.path)
        missing = [n for n in self.input_names if n not in given]
        if missing:
            raise NetError(f"no value for the net input(s) {', '.join(map(repr, missing))}",
                           path=self.prepared.model.path)
        dtype = self._env.dtype
        out = {}
        for name in self.input_names:
            value = given[name]
            tensor = value if isinstance(value, Tensor) else torch.as_tensor(np.asarray(value))
            tensor = tensor.to(dtype)  # every Caffe blob holds floats
            if tuple(tensor.shape) != self.input_shapes[name]:
                raise NetError(f"input '{name}' has shape {list(tensor.shape)}, the net was "
                               f"set up for {list(self.input_shapes[name])} (give the shape "
                               f"with inputs={{'{name}': ...}} when building the net)",
                               path=self.prepared.model.path)
            out[name] = tensor
        return out

    def loss_weights(self) -> dict[str, float]:
        """Caffe's loss weight of every top that has one (``loss_weight``, or 1
        for the first top of a ``*Loss`` layer)."""
        weights: dict[str, float] = {}
        for _, module in self._layers:
            param = module.layer.param
            given = [float(w) for w in param.loss_weight]
            if not given and module.caffe_type.endswith("Loss"):
                given = [1.0]
            for top, weight in zip(module.tops, given, strict=False):
                if weight != 0:
                    weights[top] = weights.get(top, 0.0) + weight
        return weights

    def loss(self, blobs: Mapping[str, Tensor]) -> Tensor | None:
        """The net's total loss as Caffe sums it (each weighted top, summed), or
        None when the net has no loss."""
        total: Tensor | None = None
        for top, weight in self.loss_weights().items():
            term = blobs[top].sum() * weight
            total = term if total is None else total + term
        return total
