"""One forward and one backward pass of a freshly initialised net, measured layer by layer.

:func:`measure` builds the net with caffefill's exact initial weights
(:class:`caffefill.torch.CaffeNet`), feeds it (the given data, else each
``Input`` top filled with a unit Gaussian from Caffe's stream right after the
weights, as :func:`caffefill.forward` does), and records for every layer that
computes something - in net order, data layers and Split layers left out -
the statistics of its output right after it ran (an in-place layer's own
output, not the blob's final value) and of the gradient it passes back to
its input.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import CaffefillError, ErrorKind, NetError
from ..net.registry import traits_of

if TYPE_CHECKING:  # the engine and numpy load on first use: the audit imports this module
    import numpy as np

    from ..init import PreparedNet

#: The default of ``--threshold``: a layer whose output std is more than this
#: many times its input's (or less than its inverse) is flagged.
DEFAULT_THRESHOLD = 5.0

#: How close to a rail a saturating activation's output counts as saturated.
RAIL_MARGIN = 0.01

#: The output range of the saturating activations, by the signal step of
#: their traits (:attr:`caffefill.net.registry.Traits.step`).
RAILS: Mapping[str, tuple[float, float]] = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}

#: Values kept per layer for the histograms (evenly strided over the blob).
SAMPLE_SIZE = 20000

#: Layer types that only copy a blob for several consumers (not probed).
_COPIES = frozenset({"Split"})


@dataclass
class LayerProbe:
    """What one layer did: statistics of its first top right after it ran
    (over the finite float32 values; None when there are none), and of the
    gradient it passed back to its first bottom."""

    layer: str
    type: str
    top: str
    role: str
    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    #: Share of outputs equal to 0 (ReLU-family layers; None for the others).
    dead: float | None
    #: Share of outputs within :data:`RAIL_MARGIN` of a rail (sigmoid: 0 or 1,
    #: tanh: -1 or 1; None for layers without rails).
    saturated: float | None
    nonfinite: float
    #: Std of the gradient this layer passes to its first bottom (None: no
    #: gradient reaches it).
    grad_std: float | None = None
    grad_nonfinite: float = 0.0
    #: Std of the first bottom as fed to the layer (None: it has none).
    input_std: float | None = None
    #: Output std over ``input_std`` (in a chain: over the previous layer's
    #: output std); None when either is 0 or unknown.
    ratio: float | None = None
    #: "grows" / "shrinks" when ``ratio`` passes the threshold, else None.
    flag: str | None = None
    #: Whether the output carries signal on (not a loss, an accuracy, a softmax).
    signal: bool = True
    activations: np.ndarray = field(default_factory=lambda: _no_values(), repr=False)
    gradients: np.ndarray | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The JSON row (strict JSON: None where a value is not finite)."""
        row: dict[str, Any] = {"layer": self.layer, "type": self.type, "top": self.top}
        for key in ("mean", "std", "min", "max", "dead", "saturated", "nonfinite", "grad_std",
                    "input_std", "ratio"):
            row[key] = _finite(getattr(self, key))
        row["flag"] = self.flag
        return row


@dataclass
class ProbeResult:
    """The measurement of one net: its layers in net order and the verdict."""

    net: str
    path: str
    seed: int
    phase: str
    layers: list[LayerProbe]
    #: "net": the net's own loss layers; "gaussian": sum of outputs x a fixed
    #: unit Gaussian; "none": nothing to differentiate.
    loss: str
    threshold: float = DEFAULT_THRESHOLD
    #: What was changed for this run (a filler override), for comparisons.
    label: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    #: The reader's warnings about the prototxt (unknown fields, unused --input).
    warnings: list[Any] = field(default_factory=list)

    @property
    def verdict(self) -> Any:
        from .verdict import judge

        return judge(self.layers)


def _no_values() -> np.ndarray:
    import numpy as np

    return np.zeros(0, np.float32)


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def import_torch() -> Any:
    from ..torch import require_torch

    require_torch("probe")
    import torch

    return torch


# ------------------------------------------------------------------ inputs


def load_data(path: str | os.PathLike[str]) -> dict[str | None, np.ndarray]:
    """The arrays of ``--data``: a ``.npz`` maps top names to arrays; a ``.npy``
    is one array for the net's first input (key None)."""
    import numpy as np

    text = os.fspath(path)
    try:
        if text.endswith(".npz"):
            with np.load(text, allow_pickle=False) as archive:
                arrays: dict[str | None, np.ndarray] = {k: archive[k] for k in archive.files}
        elif text.endswith(".npy"):
            arrays = {None: np.load(text, allow_pickle=False)}
        else:
            raise CaffefillError("--data takes a .npy file (the net's first input) or a "
                                 ".npz file (arrays named after the net's inputs)", path=text)
    except CaffefillError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise CaffefillError(f"cannot read the data: {exc}", path=text) from None
    for name, array in arrays.items():
        if array.dtype.kind not in "biuf":
            what = "the array" if name is None else f"array '{name}'"
            raise CaffefillError(f"{what} holds {array.dtype}, not numbers", path=text)
    return arrays


def prepare_with_data(path: str | os.PathLike[str] | None, data: Mapping[str | None, np.ndarray],
             kwargs: dict[str, Any]) -> PreparedNet:
    """prepare_net, giving a data top the shape of its array when the prototxt
    leaves that shape to the outside (a Data layer's top)."""
    from ..init import prepare_net

    inputs = dict(kwargs.pop("inputs", None) or {})
    unnamed = data.get(None)  # a .npy: the first data top that needs a shape
    for _ in range(64):  # one more shape per round; a net has few data tops
        try:
            return prepare_net(path, inputs=inputs, **kwargs)
        except NetError as exc:
            needed = exc.needed_input
            if exc.kind is not ErrorKind.MISSING_INPUT or needed is None:
                raise
            array = data.get(needed.top)
            if array is None:
                array, unnamed = unnamed, None
            if array is None or needed.top in inputs:
                raise
            inputs[needed.top] = tuple(array.shape)
    raise CaffefillError("too many data tops without a shape")  # pragma: no cover


def _labels(net: Any) -> set[str]:
    """Blobs read only as a loss's or an accuracy's second or later bottom: labels."""
    labels: set[str] = set()
    values: set[str] = set()
    for _, layer in net.layers():
        role = traits_of(layer.caffe_type).role
        for i, bottom in enumerate(layer.bottoms):
            (labels if i > 0 and role in ("loss", "sink") else values).add(bottom)
    return labels - values


def feed_inputs(net: Any, data: Mapping[str | None, np.ndarray], seed: int,
          data_path: str | None) -> dict[str, Any]:
    """The value of every net input: ``data`` (a None key: the first input);
    labels (tops read only as a loss's or an accuracy's second bottom, or a
    data layer's tops after its first) not given are zeros - class 0 is a
    valid label for any classifier; each other Input top, a unit Gaussian from
    the net's stream (as the reference forward passes are made); the first top
    of any other data layer, a unit Gaussian from a numpy generator seeded
    with ``seed``."""
    import numpy as np

    from ..torch.run import fill_inputs

    names = list(net.input_names)
    given: dict[str, np.ndarray] = {}
    for key, array in data.items():
        name = key if key is not None else (names[0] if names else None)
        if name is None or name not in names:
            what = "the data" if key is None else f"array '{key}'"
            raise CaffefillError(f"{what} names no input of this net (its inputs: "
                                 f"{', '.join(names) or 'none'})", path=data_path)
        want = tuple(net.input_shapes[name])
        if tuple(array.shape) != want:
            raise CaffefillError(f"input '{name}' has shape {list(array.shape)}; the net "
                                 f"takes {list(want)}", path=data_path)
        given[name] = np.asarray(array, dtype=np.float32)
    for name in _labels(net):
        if name in names and name not in given:
            given[name] = np.zeros(net.input_shapes[name], np.float32)
    values = fill_inputs(net, given)
    generator = np.random.default_rng([seed, 1])
    for layer in net.prepared.model.layers:
        if layer.type == "Input" or not any(top in names for top in layer.param.top):
            continue
        for i, top in enumerate(layer.param.top):
            if top in values:
                continue
            shape = net.input_shapes[top]
            values[top] = (generator.standard_normal(shape, dtype=np.float32) if i == 0
                           else np.zeros(shape, np.float32))
    return values


# ------------------------------------------------------------------ statistics


def _sample(flat: np.ndarray) -> np.ndarray:
    import numpy as np

    step = max(1, -(-flat.size // SAMPLE_SIZE))
    return np.ascontiguousarray(flat[::step])


def _stats(values: np.ndarray, step: str | None, role: str) -> dict[str, Any]:
    import numpy as np

    flat = values.reshape(-1)
    finite_mask = np.isfinite(flat)
    finite = flat[finite_mask].astype(np.float64)
    count = flat.size
    out: dict[str, Any] = {"nonfinite": 1.0 - finite.size / count if count else 0.0,
                           "mean": None, "std": None, "min": None, "max": None,
                           "dead": None, "saturated": None}
    if finite.size:
        out.update(mean=float(finite.mean()), std=float(finite.std()),
                   min=float(finite.min()), max=float(finite.max()))
    if role == "relu" and count:
        out["dead"] = float(np.count_nonzero(flat == 0)) / count
    rails = RAILS.get(step or "")
    if rails is not None and count:
        low, high = rails
        near = (flat <= low + RAIL_MARGIN) | (flat >= high - RAIL_MARGIN)
        out["saturated"] = float(np.count_nonzero(near)) / count
    out["activations"] = _sample(flat[finite_mask])
    return out


def _std(values: np.ndarray) -> tuple[float | None, float]:
    """Std over the finite values, and the share that is not finite."""
    import numpy as np

    flat = values.reshape(-1)
    mask = np.isfinite(flat)
    finite = flat[mask].astype(np.float64)
    bad = 1.0 - finite.size / flat.size if flat.size else 0.0
    return (float(finite.std()) if finite.size else None), bad


def net_outputs(net: Any) -> list[str]:
    """Caffe's output blobs: those no later layer reads (``net.outputs``)."""
    available: dict[str, None] = {}
    for _, module in net.layers():
        for bottom in module.bottoms:
            available.pop(bottom, None)
        for top in module.tops:
            available[top] = None
    return list(available)


def _forward(module: Any, values: Mapping[str, Any], threshold: float
             ) -> tuple[list[tuple[LayerProbe, Any]], dict[str, Any]]:
    """The forward pass, measuring each layer as it runs; returns the probes, each
    with the view of its first bottom whose gradient the backward pass fills, and
    Caffe's blob table."""
    from .verdict import flag

    fed: dict[int, tuple[Any, ...]] = {}
    running: list[str] = []

    def keep_bottoms(layer: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
        # A view per consumer: its gradient is what this layer sends back
        # (Caffe's bottom diff), before the other consumers' are added.
        running.append(layer.caffe_name)
        views = tuple(a.view_as(a) if a.requires_grad else a for a in args)
        for view in views:
            if view.requires_grad:
                view.retain_grad()
        fed[id(layer)] = views
        return views

    probes: list[tuple[LayerProbe, Any]] = []
    blobs: dict[str, Any] = {}
    hooks = [layer.register_forward_pre_hook(keep_bottoms) for _, layer in module.layers()]
    try:
        for layer, tops in module.run(values, blobs):
            if layer.caffe_type in _COPIES or not tops:
                continue
            traits = traits_of(layer.caffe_type)
            stats = _stats(tops[0].detach().numpy(), traits.step, traits.role)
            probe = LayerProbe(layer=layer.caffe_name, type=layer.caffe_type,
                               top=layer.tops[0], role=traits.role,
                               signal=traits.step != "none" and traits.role not in
                               ("loss", "sink"), **stats)
            bottoms = fed.get(id(layer), ())
            if bottoms:
                probe.input_std, _ = _std(bottoms[0].detach().numpy())
                if probe.std and probe.input_std:
                    probe.ratio = probe.std / probe.input_std
            probe.flag = flag(probe.ratio, threshold)
            probes.append((probe, bottoms[0] if bottoms else None))
    except CaffefillError:
        raise
    except (RuntimeError, ValueError, IndexError) as exc:
        where = running[-1] if running else None
        raise CaffefillError(f"the forward pass failed: {exc}",
                             path=module.prepared.model.path, layer=where) from None
    finally:
        for hook in hooks:
            hook.remove()
    return probes, blobs


def _backward(module: Any, blobs: Mapping[str, Any], probes: list[tuple[LayerProbe, Any]],
              seed: int) -> str:
    """The backward pass: fills each probe's gradient statistics; returns what
    was differentiated (:attr:`ProbeResult.loss`)."""
    import numpy as np
    import torch

    loss = module.loss(blobs)
    kind = "net"
    if loss is None:
        kind = "gaussian"
        generator = np.random.default_rng(seed)
        for name in net_outputs(module):
            value = blobs[name]
            weights = torch.from_numpy(
                generator.standard_normal(tuple(value.shape), dtype=np.float32))
            if value.requires_grad and value.is_floating_point():
                term = (value * weights.to(value.dtype)).sum()
                loss = term if loss is None else loss + term
    if loss is None or not loss.requires_grad:
        return "none"
    try:
        loss.backward()
    except RuntimeError as exc:
        raise CaffefillError(f"the backward pass failed: {exc}",
                             path=module.prepared.model.path) from None
    for probe, bottom in probes:
        grad = None if bottom is None else bottom.grad
        if grad is not None:
            flat = grad.detach().numpy().reshape(-1)
            probe.grad_std, probe.grad_nonfinite = _std(flat)
            probe.gradients = _sample(flat[np.isfinite(flat)])
    return kind


def measure(
    net: PreparedNet | str | os.PathLike[str] | None,
    *,
    phase: str | int | None = None,
    seed: int | None = None,
    stages: Sequence[str] = (),
    level: int | None = None,
    inputs: Mapping[str, Sequence[int]] | None = None,
    data: Mapping[str | None, np.ndarray] | str | os.PathLike[str] | None = None,
    caffe: str | None = None,
    boost: str | None = None,
    strict: bool = False,
    solver: str | os.PathLike[str] | None = None,
    fillers: Sequence[Any] = (),
    threshold: float = DEFAULT_THRESHOLD,
    label: str = "",
) -> ProbeResult:
    """Run one forward and one backward pass of the initialised net and measure
    every layer (see the module's docstring and :class:`LayerProbe`).

    ``net``: a prototxt (set up with the other arguments, as
    :func:`caffefill.init.prepare_net` does; the phase is TRAIN unless given;
    None with ``solver``: the solver's train net) or a :class:`PreparedNet`.
    ``data``: the net's input values (a mapping top name -> array, a None key
    meaning the first input; or a ``.npy`` / ``.npz`` file, see
    :func:`load_data`).  The backward pass differentiates the net's own loss
    when it has loss layers, else the sum of its outputs each times a fixed
    unit Gaussian (numpy's generator seeded with the seed).  ``fillers``:
    filler overrides (``PATTERN=FILLER``, see :mod:`caffefill.overrides`).
    """
    import numpy as np

    torch = import_torch()
    from ..init import PreparedNet
    from ..torch.module import CaffeNet

    data_path = None
    if isinstance(data, (str, os.PathLike)):
        data_path = os.fspath(data)
        data = load_data(data)
    arrays: Mapping[str | None, np.ndarray] = data or {}
    if isinstance(net, PreparedNet):
        prepared = net
    else:
        prepared = prepare_with_data(net, arrays, {"phase": phase, "seed": seed, "stages": stages,
                                          "level": level, "inputs": inputs, "caffe": caffe,
                                          "boost": boost, "strict": strict,
                                          "solver": solver, "fillers": fillers})
    module = CaffeNet.from_prepared(prepared)
    model = prepared.model
    values = {name: torch.as_tensor(np.asarray(value, dtype=np.float32)).requires_grad_(True)
              for name, value in feed_inputs(module, arrays, prepared.seed, data_path).items()}
    probes, blobs = _forward(module, values, threshold)
    kind = _backward(module, blobs, probes, prepared.seed)
    return ProbeResult(net=model.param.name or os.path.basename(model.path or ""),
                       path=model.path or "", seed=prepared.seed, phase=prepared.phase,
                       layers=[p for p, _ in probes], loss=kind, threshold=threshold,
                       label=label, meta=prepared.meta(), warnings=list(prepared.warnings))
