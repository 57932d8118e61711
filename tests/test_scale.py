"""Work and memory that grow near-linearly with the net: large synthetic nets
(tests/bignets.py) under a generous time bound (against hangs; speed itself is
measured by tools/bench_scale.py) and memory compared between N and 4N layers."""

from __future__ import annotations

import tracemalloc

import pytest
from bignets import chain, in_place, long_tail
from fuzzing import time_bound

from caffefill._proto import caffefill_pb2 as pb
from caffefill.audit.context import AuditContext, AuditOptions
from caffefill.audit.engine import audit_text
from caffefill.audit.loading import load_context
from caffefill.audit.signal import propagate
from caffefill.net.model import build_model
from caffefill.net.splits import insert_splits


def test_one_top_read_by_many_layers_sets_up_in_linear_time() -> None:
    # Caffe's automatic Split for one top read 40,000 times has 40,000 tops;
    # checking each against all earlier ones took minutes.
    n = 40_000
    net = pb.NetParameter()
    data = net.layer.add(name="data", type="Input", top=["x"])
    data.input_param.shape.add(dim=[1, 4])
    for i in range(n):
        net.layer.add(name=f"r{i}", type="ReLU", bottom=["x"], top=[f"y{i}"])
    with time_bound(60):
        split, _ = insert_splits(net)
        model = build_model(split, phase=pb.TEST)
    assert model.layers[1].type == "Split" and len(model.layers[1].tops) == n
    assert len(model.layers) == n + 2


def _signal_peak(n: int) -> int:
    ctx = load_context("chain.prototxt", chain(n), AuditOptions())
    tracemalloc.start()
    try:
        levels = list(propagate(ctx))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(levels) == n + 1
    return peak


def test_signal_pass_memory_grows_linearly_along_a_chain() -> None:
    # Each blob kept a tuple of every weight layer since the anchor: a
    # 52,000-layer chain took 13.5 GB.  Linear: about 4 times for 4 times the layers.
    with time_bound(120):
        small, large = _signal_peak(500), _signal_peak(2000)
    assert large < 6 * small, (small, large)


def test_long_chain_signal_report_names_its_ends() -> None:
    text = chain(400).replace("std: 0.5", "std: 1.5")  # x3 a layer: explodes at once
    report = audit_text("chain.prototxt", text, AuditOptions())
    (finding,) = [f for f in report.findings if f.code == "CF202"]
    assert "by layer 'ip4'" in finding.message
    assert "ip0 x3, ip1 x3, ip2 x3, ip3 x3, ip4 x3" in finding.message


@pytest.mark.parametrize("make", [long_tail, in_place])
def test_graph_questions_visit_each_layer_a_bounded_number_of_times(
        make: object, monkeypatch: pytest.MonkeyPatch) -> None:
    # Walking from every weight layer to its activation went through the whole
    # tail each time (layers x tail); the answers now come from one pass.
    calls = 0
    original = AuditContext.consumers

    def counted(self: AuditContext, layer: object) -> object:
        nonlocal calls
        calls += 1
        return original(self, layer)  # type: ignore[arg-type]

    monkeypatch.setattr(AuditContext, "consumers", counted)
    n = 300
    assert callable(make)
    with time_bound(120):
        report = audit_text("net.prototxt", make(n), AuditOptions())
    assert report.error is None
    assert any(f.code == "CF301" for f in report.findings)
    assert calls <= 2 * (2 * n + 3), calls


def test_consumers_end_where_a_top_is_rewritten_in_place() -> None:
    ctx = load_context("net.prototxt", in_place(4), AuditOptions())
    assert ctx.model is not None
    ip = ctx.model.layers[1]
    assert [layer.name for layer in ctx.consumers(ip)] == ["r0"]
    assert [layer.name for layer in ctx.consumers(ctx.model.layers[2])] == ["r1"]
