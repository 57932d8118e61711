"""The layer registry: one entry per layer type string.

An entry is a function ``setup(ctx) -> LayerSetup`` that computes, exactly
as Caffe's ``LayerSetUp`` + ``Reshape`` would, the layer's top shapes and
its learnable blobs with their fillers.  Built-in entries live in
``caffefill.net.layers``; users add their own types with::

    from caffefill.net.registry import register, LayerSetup

    @register("MyLayer")
    def my_layer(ctx):
        (bottom,) = ctx.bottoms
        return LayerSetup(tops=[bottom])
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .._proto import caffefill_pb2 as pb
from ..errors import ErrorKind, NeededInput, NetError
from .spec import LayerSetup, Shape

PHASE_TRAIN = pb.TRAIN
PHASE_TEST = pb.TEST


@dataclass
class LayerContext:
    """Everything a registry entry may look at."""

    param: pb.LayerParameter
    bottoms: list[Shape]
    phase: int = PHASE_TEST
    # Shapes given by the user for tops whose shape lives outside the prototxt,
    # keyed by top name (or by layer name for a single-top layer).
    inputs: Mapping[str, Shape] = field(default_factory=dict)
    path: str | None = None
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

REGISTRY: dict[str, SetupFn] = {}


def register(*type_names: str) -> Callable[[SetupFn], SetupFn]:
    """Decorator: register ``fn`` as the setup of each given layer type."""

    def decorate(fn: SetupFn) -> SetupFn:
        for type_name in type_names:
            REGISTRY[type_name] = fn
        return fn

    return decorate


def lookup(type_name: str) -> SetupFn | None:
    _load_builtins()
    return REGISTRY.get(type_name)


def known_types() -> list[str]:
    _load_builtins()
    return sorted(REGISTRY)


def nearest_type(type_name: str) -> str | None:
    types = known_types()
    lowered = {t.lower(): t for t in types}
    if type_name.lower() in lowered:
        return lowered[type_name.lower()]
    close = difflib.get_close_matches(type_name, types, n=1, cutoff=0.5)
    return close[0] if close else None


_loaded = False


def _load_builtins() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        from . import layers  # noqa: F401  (registers the built-in entries)
