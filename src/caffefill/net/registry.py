"""The layer registry: one entry per layer type string.

An entry (:class:`LayerEntry`) holds everything caffefill knows about a layer
type, in one place:

* ``setup(ctx) -> LayerSetup`` computes, exactly as Caffe's ``LayerSetUp`` +
  ``Reshape`` would, the layer's top shapes and its learnable blobs with
  their fillers;
* ``traits`` (:class:`Traits`) say what the layer is for the audit and the
  signal model: its role (a linear weight layer, a ReLU-like activation, a
  layer that only moves data, a loss, ...), whether its bottoms after the
  first are side inputs, and which ``*_param`` fields of LayerParameter it
  reads;
* ``forward`` is the layer's forward pass for the PyTorch engine, or None
  when the engine has none for the type (see :data:`ForwardFn`).

Built-in entries live in ``caffefill.net.layers``; users add their own types
with::

    from caffefill.net.registry import LayerSetup, Traits, register

    @register("MyLayer", traits=Traits("move"))
    def my_layer(ctx):
        (bottom,) = ctx.bottoms
        return LayerSetup(tops=[bottom])

A type registered without ``traits`` gets :data:`DEFAULT_TRAITS` (role
``"unknown"``): the audit then treats it as it treats a ``Python`` layer (the
walk to the next activation goes through it; the signal model starts a fresh
scale after it, since it cannot tell what the layer does to its input).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from .._proto import caffefill_pb2 as pb
from ..errors import ErrorKind, NeededInput, NetError
from ..messages import nearest
from ..profiles import DEFAULT_PROFILE, Profile
from .spec import LayerSetup as LayerSetup  # users build their setups with it
from .spec import Shape


@dataclass(eq=False, repr=False)  # built per set-up, never compared or shown
class LayerContext:
    """Everything a registry entry may look at."""

    param: pb.LayerParameter
    bottoms: list[Shape]
    phase: int = pb.TEST
    # Shapes given by the user for tops whose shape lives outside the prototxt,
    # keyed by top name (or by layer name for a single-top layer).
    inputs: Mapping[str, Shape] = field(default_factory=dict)
    path: str | None = None
    # The Caffe build whose set-up is reproduced (data layers' draws differ by era).
    profile: Profile = DEFAULT_PROFILE
    line: int | None = None
    column: int | None = None

    @property
    def name(self) -> str:
        return str(self.param.name)

    @property
    def type(self) -> str:
        return str(self.param.type)

    def error(self, message: str, caffe_message: str | None = None, *,
              needed_input: NeededInput | None = None) -> NetError:
        """A NetError located at this layer (raise it); ``needed_input``: the top
        whose shape, given with ``--input``, would have let the set-up go on."""
        error = NetError(message, path=self.path, line=self.line, column=self.column,
                         layer=self.name, caffe_message=caffe_message,
                         kind=None if needed_input is None else ErrorKind.MISSING_INPUT)
        error.needed_input = needed_input
        return error


SetupFn = Callable[[LayerContext], LayerSetup]

#: A layer's forward pass in the PyTorch engine (``caffefill.torch``), typed
#: loosely here so that the registry does not import torch.  It is a factory,
#: called once per layer when a net is built, before anything runs:
#: ``make(layer, env) -> run``, where ``layer`` is the set-up
#: :class:`~caffefill.net.model.NetLayer` and ``env`` a
#: :class:`caffefill.torch.ops.Env` (the net's phase and random stream); it
#: raises a located ``NetError`` (``env``-independent) for a layer it cannot
#: run, and returns ``run(bottoms, blobs) -> tops``: the bottom tensors in
#: Caffe's order and the layer's blobs (parameters and buffers, in Caffe's blob
#: order) give the list of top tensors, built without changing a bottom in
#: place so that autograd runs through.  The built-in forwards live in
#: ``caffefill.torch.ops`` and are attached when the engine loads.
ForwardFn = Callable[..., Any]

#: What a layer is to the audit and the signal model:
#:
#: * ``source``: no bottoms; its tops are the net's inputs (Input, DummyData);
#: * ``labelled_source``: a data layer whose first top is images and whose
#:   other tops are labels (Data, ImageData, ...);
#: * ``linear``: its weight blob 0 multiplies its input (Convolution,
#:   InnerProduct, ...);
#: * ``relu``: a ReLU-like activation (passes about half of a symmetric input);
#: * ``saturating``: a saturating activation (Sigmoid, TanH);
#: * ``normalizing``: puts its output back on a fixed scale (BatchNorm, MVN);
#: * ``anchor``: sets its output's scale itself (Embed, recurrent layers);
#: * ``move``: its outputs are its inputs' values, moved (Split, Reshape, Crop);
#: * ``pass``: combines or rescales its inputs without learned channel mixing
#:   and without changing the kind of activation (Pooling, Eltwise, Dropout);
#: * ``transform``: changes the values in some other way (LRN, Power, Exp, ...);
#: * ``sink``: its outputs carry no signal on to later layers (Accuracy, Silence);
#: * ``loss``: a loss;
#: * ``unknown``: caffefill cannot tell (Python, a user type without traits).
Role = Literal["source", "labelled_source", "linear", "relu", "saturating", "normalizing",
               "anchor", "move", "pass", "transform", "sink", "loss", "unknown"]
ROLES: tuple[str, ...] = get_args(Role)


@dataclass(frozen=True)
class Traits:
    """What a layer type is for the audit and the signal model.

    ``role``: see :data:`Role`.  ``signal``: the name of the step the signal
    model (``caffefill.audit.signal``) applies to the layer's input level
    ("relu", "pooling", ...; "none": its tops carry no signal), or None for
    the role's default (:attr:`step`).
    ``side_inputs``: the bottoms after the first only give positions or a
    shape (ROIs, a crop reference), not values that flow into the output.
    ``reads``: the ``*_param`` fields of LayerParameter the layer reads.
    ``fork_draws``: for a fork's data layer, whose setup draws as that fork's
    Caffe does, (the fork, the ``--caffe`` profile of its Caffe, or None when
    its draws were not checked against the fork's sources).
    ``statistics``: the layer's blobs are statistics it keeps itself (BatchNorm's
    running mean and variance), not parameters learned by gradient: the
    PyTorch engine holds them as buffers.
    """

    role: Role = "unknown"
    signal: str | None = None
    side_inputs: bool = False
    reads: tuple[str, ...] = ()
    fork_draws: tuple[str, str | None] | None = None
    statistics: bool = False

    @property
    def step(self) -> str | None:
        """The signal model's step: ``signal``, else the role's default (a
        ``linear`` layer multiplies by fan-in x E[w^2], a ``move`` keeps the
        level, a ``sink`` or ``loss`` carries no signal; None: the signal
        model starts a fresh scale after the layer)."""
        return self.signal if self.signal is not None else _ROLE_STEPS.get(self.role)


_ROLE_STEPS = {"linear": "linear", "move": "same", "sink": "none", "loss": "none"}

#: The traits of a type registered without any: the audit treats it like a
#: Python layer.
DEFAULT_TRAITS = Traits()


@dataclass(frozen=True)
class LayerEntry:
    """One layer type: its set-up, its traits and its forward (None: none yet)."""

    type: str
    setup: SetupFn
    traits: Traits = DEFAULT_TRAITS
    forward: ForwardFn | None = None


REGISTRY: dict[str, LayerEntry] = {}


def register(*type_names: str, traits: Traits | None = None,
             forward: ForwardFn | None = None) -> Callable[[SetupFn], SetupFn]:
    """Decorator: register ``fn`` as the setup of each given layer type, with
    ``traits`` (default :data:`DEFAULT_TRAITS`) and ``forward``."""

    def decorate(fn: SetupFn) -> SetupFn:
        for type_name in type_names:
            REGISTRY[type_name] = LayerEntry(type_name, fn, traits or DEFAULT_TRAITS, forward)
        return fn

    return decorate


def set_forward(*type_names: str) -> Callable[[ForwardFn], ForwardFn]:
    """Decorator: make ``fn`` the forward of each given (registered) layer type."""

    def decorate(fn: ForwardFn) -> ForwardFn:
        for type_name in type_names:
            found = entry(type_name)
            if found is None:
                raise KeyError(f"layer type '{type_name}' is not registered")
            REGISTRY[type_name] = dataclasses.replace(found, forward=fn)
        return fn

    return decorate


def entry(type_name: str) -> LayerEntry | None:
    """The registry entry of ``type_name`` (None: not registered)."""
    _load_builtins()
    return REGISTRY.get(type_name)


def lookup(type_name: str) -> SetupFn | None:
    """The setup of ``type_name`` (None: not registered)."""
    found = entry(type_name)
    return None if found is None else found.setup


def traits_of(type_name: str) -> Traits:
    """The traits of ``type_name`` (:data:`DEFAULT_TRAITS` when it is not registered)."""
    found = entry(type_name)
    return DEFAULT_TRAITS if found is None else found.traits


def known_types() -> list[str]:
    _load_builtins()
    return sorted(REGISTRY)


def nearest_type(type_name: str) -> str | None:
    """The registered layer type ``type_name`` most likely means (only close
    matches: a typo, not a different layer)."""
    return nearest(type_name, known_types(), cutoff=0.75)


#: Layer types of Caffe forks that caffefill does not model, with the fork
#: (or family of forks) they come from.  Only for messages: register such a
#: type to set it up (see the module's docstring).
FORK_TYPES: Mapping[str, str] = {
    "Axpy": "SENet's Caffe (hujie-frank/SENet)",
    "ShuffleChannel": "ShuffleNet's Caffe forks",
    "Reorg": "the YOLOv2 Caffe ports",
    "Region": "the YOLOv2 Caffe ports",
    "Yolo": "the YOLOv3 Caffe ports",
    "Correlation": "FlowNet's Caffe (lmb-freiburg/flownet2)",
    "Correlation1D": "FlowNet's Caffe (lmb-freiburg/flownet2)",
    "Resample": "FlowNet's Caffe (lmb-freiburg/flownet2)",
    "FlowWarp": "FlowNet's Caffe (lmb-freiburg/flownet2)",
    "ChannelNorm": "FlowNet's Caffe (lmb-freiburg/flownet2)",
    "DataAugmentation": "FlowNet's Caffe (lmb-freiburg/flownet2)",
    "L1Loss": "FlowNet's Caffe (lmb-freiburg/flownet2)",
    "ROIAlign": "the Mask R-CNN Caffe ports",
    "SpatialTransformer": "the spatial transformer Caffe fork",
    "DeformableConvolution": "the Deformable ConvNets Caffe ports",
    "CPMData": "Convolutional Pose Machines' Caffe (shihenw/caffe)",
    "Proposal": "the Faster R-CNN C++ proposal-layer forks",
}


def unknown_type_hint(type_name: str) -> str:
    """What to add to "unknown layer type 'X'": the fork it comes from, or
    the registered type it most likely means ("" when neither)."""
    fork = FORK_TYPES.get(type_name)
    if fork is not None:
        return (f"; it comes from {fork}, whose layers caffefill does not model "
                f"(register it: see caffefill.net.registry)")
    hint = nearest_type(type_name)
    return f"; did you mean '{hint}'?" if hint else ""


_loaded = False


def _load_builtins() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        from . import layers  # noqa: F401  (registers the built-in entries)
