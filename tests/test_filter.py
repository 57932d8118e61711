"""Layer filtering by phase, level and stages (Caffe's Net::FilterNet)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from conftest import SHARED

from caffefill._proto import caffefill_pb2 as pb
from caffefill.errors import NetError
from caffefill.net.filter import filter_net, net_state, parse_phase, state_meets_rule
from caffefill.net.reader import read_net
from caffefill.net.upgrade import upgrade_net

RULES = """name: "rules"
layer { name: "always" type: "ReLU" }
layer { name: "train" type: "ReLU" include { phase: TRAIN } }
layer { name: "test" type: "ReLU" include { phase: TEST } }
layer { name: "not_test" type: "ReLU" exclude { phase: TEST } }
layer { name: "deploy" type: "ReLU" include { stage: "deploy" } }
layer { name: "a_and_b" type: "ReLU" include { stage: "a" stage: "b" } }
layer { name: "a_or_b" type: "ReLU" include { stage: "a" } include { stage: "b" } }
layer { name: "not_a" type: "ReLU" include { not_stage: "a" } }
layer { name: "level_2_up" type: "ReLU" include { min_level: 2 } }
layer { name: "level_to_1" type: "ReLU" include { max_level: 1 } }
layer { name: "test_level_1" type: "ReLU" include { phase: TEST min_level: 1 max_level: 1 } }
layer { name: "excl_a_test" type: "ReLU" exclude { stage: "a" phase: TEST } }
layer { name: "own_phase" type: "ReLU" phase: TRAIN }
"""


def kept(phase: int | str, level: int = 0, stages: Sequence[str] = (),
         text: str = RULES) -> list[str]:
    param = read_net("t", text=text).param
    return [layer.name for layer in filter_net(param, phase=phase, level=level,
                                               stages=stages).param.layer]


@pytest.mark.parametrize(("phase", "level", "stages", "expected"), [
    (pb.TRAIN, 0, (), ["always", "train", "not_test", "not_a", "level_to_1", "excl_a_test",
                       "own_phase"]),
    (pb.TEST, 0, (), ["always", "test", "not_a", "level_to_1", "excl_a_test", "own_phase"]),
    (pb.TEST, 1, (), ["always", "test", "not_a", "level_to_1", "test_level_1", "excl_a_test",
                      "own_phase"]),
    (pb.TEST, 2, (), ["always", "test", "not_a", "level_2_up", "excl_a_test", "own_phase"]),
    (pb.TRAIN, -1, ("deploy",), ["always", "train", "not_test", "deploy", "not_a",
                                 "level_to_1", "excl_a_test", "own_phase"]),
    (pb.TEST, 0, ("a",), ["always", "test", "a_or_b", "level_to_1", "own_phase"]),
    (pb.TRAIN, 0, ("a",), ["always", "train", "not_test", "a_or_b", "level_to_1",
                           "excl_a_test", "own_phase"]),
    (pb.TEST, 0, ("b", "a"), ["always", "test", "a_and_b", "a_or_b", "level_to_1",
                              "own_phase"]),
    (pb.TEST, 0, ("b",), ["always", "test", "a_or_b", "not_a", "level_to_1", "excl_a_test",
                          "own_phase"]),
])
def test_rules(phase: int, level: int, stages: tuple[str, ...], expected: list[str]) -> None:
    assert kept(phase, level, stages) == expected


def test_indices_positions_and_state() -> None:
    source = read_net("t", text=RULES)
    result = filter_net(source.param, phase="test", level=1, stages=["x"],
                        positions=source.layer_positions)
    names = [layer.name for layer in source.param.layer]
    assert [names[i] for i in result.indices] == [layer.name for layer in result.param.layer]
    assert result.positions == [source.layer_positions[i] for i in result.indices]
    assert sorted(result.indices + result.dropped) == list(range(len(names)))
    assert result.state == pb.NetState(phase=pb.TEST, level=1, stage=["x"])
    assert result.param.name == "rules"


def test_layers_inherit_the_net_phase() -> None:
    param = read_net("t", text=RULES).param
    result = filter_net(param, phase=pb.TEST)
    phases = {layer.name: layer.phase for layer in result.param.layer}
    assert phases["always"] == pb.TEST
    assert phases["own_phase"] == pb.TRAIN  # its own phase wins
    assert all(layer.HasField("phase") for layer in result.param.layer)
    plain = filter_net(param, phase=pb.TEST, inherit_phase=False)
    assert not plain.param.layer[0].HasField("phase")


def test_file_state_merges_with_the_caller() -> None:
    text = """state { phase: TRAIN level: 5 stage: "from_file" }
layer { name: "file_stage" type: "ReLU" include { stage: "from_file" } }
layer { name: "both" type: "ReLU" include { stage: "from_file" stage: "cli" } }
layer { name: "level5" type: "ReLU" include { min_level: 5 } }
layer { name: "train" type: "ReLU" include { phase: TRAIN } }
"""
    # the caller's phase and level replace the file's; stages add up
    assert kept(pb.TEST, text=text) == ["file_stage"]
    assert kept(pb.TEST, 5, ("cli",), text=text) == ["file_stage", "both", "level5"]
    param = read_net("t", text=text).param
    state = net_state(param, phase=pb.TEST, level=2, stages=("cli",))
    assert state == pb.NetState(phase=pb.TEST, level=2, stage=["from_file", "cli"])


def test_include_and_exclude_together_are_refused() -> None:
    text = 'layer { name: "ok" }\nlayer { name: "bad" include { phase: TRAIN }\n' \
           '  exclude { phase: TEST } }'
    source = read_net("t.prototxt", text=text)
    with pytest.raises(NetError) as info:
        filter_net(source.param, phase=pb.TEST, positions=source.layer_positions,
                   path=source.path)
    error = info.value
    assert error.message == "Specify either include rules or exclude rules; not both."
    assert error.caffe_message is not None and error.caffe_message.endswith(error.message)
    assert (error.line, error.column, error.layer) == (2, 1, "bad")
    assert str(error).startswith("t.prototxt:2:1: layer 'bad': Specify either")


def test_phase_arguments() -> None:
    assert parse_phase("TRAIN") == pb.TRAIN
    assert parse_phase(" test ") == pb.TEST
    assert parse_phase(1) == pb.TEST
    for bad in ("deploy", 2, -1, True):
        with pytest.raises(NetError):
            parse_phase(bad)
    with pytest.raises(NetError):
        net_state(pb.NetParameter(), phase=0, level=2**31)


def test_a_single_string_is_one_stage() -> None:
    assert kept(pb.TEST, stages="deploy") == kept(pb.TEST, stages=("deploy",))


def test_state_meets_rule_directly() -> None:
    state = pb.NetState(phase=pb.TRAIN, level=3, stage=["a"])
    assert state_meets_rule(state, pb.NetStateRule())
    assert state_meets_rule(state, pb.NetStateRule(min_level=3, max_level=3))
    assert not state_meets_rule(state, pb.NetStateRule(min_level=4))
    assert not state_meets_rule(state, pb.NetStateRule(phase=pb.TEST))
    assert state_meets_rule(state, pb.NetStateRule(stage=["a"], not_stage=["b"]))
    assert not state_meets_rule(state, pb.NetStateRule(not_stage=["a"]))


def test_filtering_after_the_upgrade_keeps_positions() -> None:
    text = """input: "data" input_dim: [1, 1, 4, 4]
layers { name: "t" type: RELU bottom: "data" top: "t" include { phase: TRAIN } }
layers { name: "e" type: RELU bottom: "data" top: "e" include { phase: TEST } }
"""
    up = upgrade_net(read_net("t", text=text))
    result = filter_net(up.param, phase=pb.TEST, positions=up.positions)
    assert [layer.name for layer in result.param.layer] == ["input", "e"]
    assert result.positions == [(1, 1), (3, 1)]
    assert result.indices == [0, 2]


@pytest.mark.needs_shared
def test_reference_phases_net_matches_caffe() -> None:
    nets = SHARED / "caffe-reference" / "nets"
    up = upgrade_net(read_net(nets / "phases.prototxt"))
    for phase in ("TRAIN", "TEST"):
        model = pb.NetParameter()
        model.ParseFromString((nets / f"phases.{phase}.1701.caffemodel").read_bytes())
        result = filter_net(up.param, phase=phase, positions=up.positions)
        assert [layer.name for layer in result.param.layer] == \
            [layer.name for layer in model.layer]
        assert [layer.phase for layer in result.param.layer] == \
            [layer.phase for layer in model.layer]


@pytest.mark.needs_shared
def test_corpus_stage_nets() -> None:
    path = SHARED / "corpus" / "BVLC__caffe" / "examples__coco_caption__lrcn.prototxt"
    param = upgrade_net(read_net(path)).param
    factored = filter_net(param, phase=pb.TRAIN, stages=("freeze-convnet", "factored"))
    unfactored = filter_net(param, phase=pb.TRAIN, stages=("freeze-convnet", "unfactored"))
    assert len(factored.param.layer) != len(unfactored.param.layer)
    for result, other in ((factored, "unfactored"), (unfactored, "factored")):
        for layer in result.param.layer:
            stages = {stage for rule in layer.include for stage in rule.stage}
            assert other not in stages
            assert "test-on-val" not in stages
            assert not any(rule.phase == pb.TEST for rule in layer.include
                           if rule.HasField("phase"))
