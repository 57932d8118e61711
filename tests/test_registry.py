"""The layer registry: one typed entry per layer type (setup, traits, forward)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from caffefill.net import registry
from caffefill.net.registry import (
    DEFAULT_TRAITS,
    REGISTRY,
    LayerContext,
    LayerEntry,
    Traits,
    entry,
    register,
    set_forward,
    traits_of,
)
from caffefill.net.spec import LayerSetup


def _same(ctx: LayerContext) -> LayerSetup:
    return LayerSetup(tops=[ctx.bottoms[0]])


@pytest.fixture
def scratch() -> Iterator[list[str]]:
    """Names registered by a test, removed afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        REGISTRY.pop(name, None)


def test_register_keeps_the_plain_decorator_and_gives_default_traits(
        scratch: list[str]) -> None:
    scratch.append("TestPlain")
    decorated = register("TestPlain")(_same)
    assert decorated is _same
    found = entry("TestPlain")
    assert isinstance(found, LayerEntry)
    assert found.type == "TestPlain" and found.setup is _same and found.forward is None
    assert found.traits is DEFAULT_TRAITS and found.traits.role == "unknown"
    assert registry.lookup("TestPlain") is _same


def test_register_with_traits_and_forward(scratch: list[str]) -> None:
    scratch.extend(["TestMove", "TestMove2"])

    def forward(*args: object) -> object:
        return args

    traits = Traits("move", side_inputs=True, reads=("crop_param",))
    register("TestMove", "TestMove2", traits=traits, forward=forward)(_same)
    for name in ("TestMove", "TestMove2"):
        found = entry(name)
        assert found is not None and found.traits == traits and found.forward is forward
    assert traits_of("TestMove").side_inputs


def test_set_forward_fills_the_slot_of_registered_types(scratch: list[str]) -> None:
    scratch.append("TestLater")
    register("TestLater", traits=Traits("pass"))(_same)

    @set_forward("TestLater")
    def forward(*args: object) -> object:
        return args

    found = entry("TestLater")
    assert found is not None and found.forward is forward and found.traits.role == "pass"
    with pytest.raises(KeyError, match="NoSuchType"):
        set_forward("NoSuchType")(forward)


def test_traits_of_an_unregistered_type_are_the_default() -> None:
    assert traits_of("NoSuchLayerType") is DEFAULT_TRAITS
    assert entry("NoSuchLayerType") is None
