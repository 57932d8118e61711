"""Which layers a net keeps for a phase, level and stages (Caffe's ``Net::FilterNet``).

Caffe builds a net with ``Net(param_file, phase, level, stages)``: it reads
(and upgrades) the file, then overwrites the file's ``state`` with the
caller's phase and level, appends the caller's stages to the stages the file
lists, and keeps a layer when

* it has no ``include`` rules and meets none of its ``exclude`` rules, or
* it meets at least one of its ``include`` rules

(a layer with both kinds of rules is refused).  A rule is met when every part
it sets holds: ``phase`` equals the state's, ``min_level`` <= level <=
``max_level``, every ``stage`` is in the state and no ``not_stage`` is.
Every kept layer without its own ``phase`` then takes the net's phase
(``Net::Init``); a layer's own ``phase`` plays no part in the filtering.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .._proto import caffefill_pb2 as pb
from ..errors import NetError
from .reader import Position

__all__ = ["FilteredNet", "filter_net", "net_state", "parse_phase", "state_meets_rule"]

_BOTH_RULES = "Specify either include rules or exclude rules; not both."
_UNKNOWN: Position = (0, 0)


@dataclass
class FilteredNet:
    """The layers a net keeps, with where they came from.

    ``param`` is the filtered NetParameter (its ``state`` set to the state the
    net was built with); ``indices`` the index in the unfiltered
    ``param.layer`` of each kept layer; ``positions`` their (line, column),
    ``(0, 0)`` when unknown; ``dropped`` the indices of the layers left out.
    """

    param: pb.NetParameter
    indices: list[int] = field(default_factory=list)
    positions: list[Position] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)

    @property
    def state(self) -> pb.NetState:
        """The NetState the layers were filtered with."""
        return self.param.state


def parse_phase(phase: int | str) -> int:
    """``pb.TRAIN``/``pb.TEST`` from a Phase number or a name such as 'test'."""
    if isinstance(phase, str):
        found = {"TRAIN": pb.TRAIN, "TEST": pb.TEST}.get(phase.strip().upper())
        if found is None:
            raise NetError(f"unknown phase '{phase}': expected TRAIN or TEST")
        return int(found)
    if isinstance(phase, bool) or phase not in (pb.TRAIN, pb.TEST):
        raise NetError(f"unknown phase {phase!r}: expected TRAIN (0) or TEST (1)")
    return int(phase)


def net_state(param: pb.NetParameter, *, phase: int | str, level: int = 0,
              stages: Sequence[str] = ()) -> pb.NetState:
    """The state ``Net(file, phase, level, stages)`` builds with.

    The file's own ``state`` is the start; phase and level are replaced by the
    caller's, the caller's stages are added after the file's.
    """
    if isinstance(stages, str):
        stages = (stages,)
    state = pb.NetState()
    state.CopyFrom(param.state)
    state.phase = parse_phase(phase)  # type: ignore[assignment]
    for stage in stages:
        if not isinstance(stage, str):
            raise NetError(f"a stage must be a string, not {stage!r}")
        state.stage.append(stage)
    if isinstance(level, bool) or not isinstance(level, int) or \
            not -(1 << 31) <= level < (1 << 31):
        raise NetError(f"the level must be a 32-bit integer, not {level!r}")
    state.level = level
    return state


def state_meets_rule(state: pb.NetState, rule: pb.NetStateRule) -> bool:
    """Caffe's ``Net::StateMeetsRule``."""
    if rule.HasField("phase") and rule.phase != state.phase:
        return False
    if rule.HasField("min_level") and state.level < rule.min_level:
        return False
    if rule.HasField("max_level") and state.level > rule.max_level:
        return False
    stages = set(state.stage)
    if any(stage not in stages for stage in rule.stage):
        return False
    return not any(stage in stages for stage in rule.not_stage)


def filter_net(param: pb.NetParameter, *, phase: int | str, level: int = 0,
               stages: Sequence[str] = (), positions: Sequence[Position] | None = None,
               inherit_phase: bool = True, path: str | None = None) -> FilteredNet:
    """Keep the layers of a (V2) net that Caffe keeps for this phase/level/stages.

    ``positions`` (aligned with ``param.layer``, e.g. from the upgrade) only
    serves to locate errors and to carry over.  With ``inherit_phase`` every
    kept layer without a ``phase`` gets the net's, as ``Net::Init`` does.
    Raises NetError for a layer with both include and exclude rules.
    """
    state = net_state(param, phase=phase, level=level, stages=stages)
    where = list(positions) if positions is not None else []
    out = pb.NetParameter()
    out.CopyFrom(param)
    del out.layer[:]
    out.state.CopyFrom(state)
    result = FilteredNet(out)
    for i, layer in enumerate(param.layer):
        position = where[i] if i < len(where) else _UNKNOWN
        if len(layer.include) > 0 and len(layer.exclude) > 0:
            line, column = position
            raise NetError(
                _BOTH_RULES, path=path, line=line or None, column=column or None,
                layer=layer.name,
                caffe_message="Check failed: layer_param.include_size() == 0 || "
                              "layer_param.exclude_size() == 0 " + _BOTH_RULES)
        if len(layer.include) == 0:
            keep = not any(state_meets_rule(state, rule) for rule in layer.exclude)
        else:
            keep = any(state_meets_rule(state, rule) for rule in layer.include)
        if not keep:
            result.dropped.append(i)
            continue
        kept = out.layer.add()
        kept.CopyFrom(layer)
        if inherit_phase and not kept.HasField("phase"):
            kept.phase = state.phase
        result.indices.append(i)
        result.positions.append(position)
    return result
