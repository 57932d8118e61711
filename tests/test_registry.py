"""The layer registry: one typed entry per layer type (setup, traits, forward)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import cast

import fuzzing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caffefill._proto import caffefill_pb2 as pb
from caffefill.audit import AuditOptions, audit_text
from caffefill.audit.context import AuditContext
from caffefill.audit.graph import data_bottoms
from caffefill.audit.loading import load_context
from caffefill.audit.signal import STEPS, propagate
from caffefill.errors import CaffefillError
from caffefill.net import registry
from caffefill.net.registry import (
    DEFAULT_TRAITS,
    REGISTRY,
    ROLES,
    LayerContext,
    LayerEntry,
    Traits,
    entry,
    known_types,
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


# ---------------------------------------------------------------- traits


PARAM_FIELDS = {f.name for f in pb.LayerParameter.DESCRIPTOR.fields if f.name.endswith("_param")}


def test_every_registered_type_declares_its_traits() -> None:
    lacking = [t for t in known_types() if traits_of(t) is DEFAULT_TRAITS]
    assert lacking == []
    for t in known_types():
        traits = traits_of(t)
        assert traits.role in ROLES, t
        assert set(traits.reads) <= PARAM_FIELDS, t
        assert traits.step is None or traits.step == "none" or traits.step in STEPS, t


class _Recording:
    """A LayerParameter that notes which ``*_param`` fields are read."""

    def __init__(self, param: pb.LayerParameter, seen: set[str]) -> None:
        self._param = param
        self._seen = seen

    def __getattr__(self, name: str) -> object:
        if name in PARAM_FIELDS:
            self._seen.add(name)
        return getattr(self._param, name)


@st.composite
def _cases(draw: st.DrawFn, type_name: str) -> tuple[pb.LayerParameter, list[tuple[int, ...]]]:
    """One layer of ``type_name`` with random or usual parameters, and its inputs."""
    if draw(st.booleans()):
        lp = draw(fuzzing.layer_params(type_name))
    else:
        lp = pb.LayerParameter(name="l", type=type_name)
        fuzzing._sane_params(draw, lp)
    nb, nt = fuzzing.ARITY.get(type_name, (1, 1))
    lp.ClearField("bottom")
    lp.ClearField("top")
    lp.bottom.extend(f"b{i}" for i in range(nb))
    lp.top.extend(f"t{i}" for i in range(nt))
    return lp, [draw(fuzzing.bottom_shapes()) for _ in range(nb)]


@pytest.mark.parametrize("type_name", known_types())
def test_a_setup_reads_only_the_params_its_traits_name(type_name: str) -> None:
    found = entry(type_name)
    assert found is not None
    seen: set[str] = set()

    @settings(max_examples=12, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(_cases(type_name))
    def check(case: tuple[pb.LayerParameter, list[tuple[int, ...]]]) -> None:
        param, bottoms = case
        ctx = LayerContext(param=cast(pb.LayerParameter, _Recording(param, seen)),
                           bottoms=bottoms, inputs={"t0": (3, 8, 8), "t1": (1,)})
        with contextlib.suppress(CaffefillError, ArithmeticError, IndexError, KeyError,
                                 TypeError, ValueError):
            found.setup(ctx)

    check()
    assert seen <= set(found.traits.reads)


def _audit(text: str) -> list[str]:
    report = audit_text("t.prototxt", text, AuditOptions(phase="TEST"))
    assert report.error is None, report.error
    return [f.code for f in report.findings if f.severity != "note"]


INPUT = ('layer { name: "data" type: "Input" top: "data" '
         "input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } } }\n")
XAVIER_CONV = ('layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" '
               'convolution_param { num_output: 4 kernel_size: 3 '
               'weight_filler { type: "xavier" } } }\n')


def _after_conv(*types: str) -> str:
    text, bottom = INPUT + XAVIER_CONV, "conv"
    for i, kind in enumerate(types):
        text += f'layer {{ name: "l{i}" type: "{kind}" bottom: "{bottom}" top: "l{i}" }}\n'
        bottom = f"l{i}"
    return text


def test_a_user_type_gets_audit_behaviour_from_its_traits(scratch: list[str]) -> None:
    scratch.extend(["TestAct", "TestPlainAct", "TestMover", "TestOther"])
    register("TestAct", traits=Traits("relu"))(_same)
    register("TestPlainAct")(_same)
    register("TestMover", traits=Traits("move"))(_same)
    register("TestOther", traits=Traits("transform"))(_same)
    assert "CF301" in _audit(_after_conv("TestAct"))  # xavier in front of a ReLU-like
    assert "CF301" not in _audit(_after_conv("TestPlainAct"))
    assert "CF301" in _audit(_after_conv("TestMover", "ReLU"))  # the walk goes through
    assert "CF301" not in _audit(_after_conv("TestOther", "ReLU"))


def test_im2col_moves_data_on_the_walk_to_the_activation() -> None:
    # Im2col only rearranges values: the ReLU after it still follows the xavier layer.
    text = _after_conv("Im2col", "ReLU").replace(
        'type: "Im2col" bottom: "conv" top: "l0" }',
        'type: "Im2col" bottom: "conv" top: "l0" convolution_param { kernel_size: 1 } }')
    assert "CF301" in _audit(text)


def _context(text: str) -> AuditContext:
    return load_context("t.prototxt", text, AuditOptions(phase="TEST"))


def test_batch_reindex_takes_its_indices_as_a_side_input() -> None:
    text = INPUT + ('layer { name: "idx" type: "Input" top: "idx" '
                    "input_param { shape { dim: 2 } } }\n"
                    'layer { name: "pick" type: "BatchReindex" bottom: "data" bottom: "idx" '
                    'top: "pick" }\n')
    ctx = _context(text)
    assert ctx.model is not None
    assert data_bottoms(ctx, ctx.model.layer("pick")) == ["data"]


def test_box_annotator_ohem_outputs_carry_no_signal() -> None:
    text = ('layer { name: "in" type: "Input" top: "loss" top: "labels" top: "weights" '
            'top: "bbox" input_param { shape { dim: 2 dim: 5 dim: 4 dim: 4 } '
            "shape { dim: 2 dim: 1 dim: 4 dim: 4 } shape { dim: 2 dim: 1 dim: 4 dim: 4 } "
            "shape { dim: 2 dim: 8 dim: 4 dim: 4 } } }\n"
            'layer { name: "ohem" type: "BoxAnnotatorOHEM" bottom: "loss" bottom: "labels" '
            'bottom: "weights" bottom: "bbox" top: "l" top: "w" '
            "box_annotator_ohem_param { roi_per_img: 4 } }\n")
    ctx = _context(text)
    levels = {step.layer.name: step.tops for step in propagate(ctx)}
    assert levels["ohem"] == (None, None)


def test_a_batch_norm_filler_on_another_layer_is_unused() -> None:
    text = INPUT + ('layer { name: "s" type: "Scale" bottom: "data" top: "s" '
                    'batch_norm_param { filler { type: "constant" value: 1 } } }\n')
    report = audit_text("t.prototxt", text, AuditOptions(phase="TEST"))
    messages = [f.message for f in report.findings if f.code == "CF307"]
    assert any("a Scale layer does not read batch_norm_param" in m for m in messages)
