"""One call from a prototxt to a set-up net model.

``load_net`` chains the four stages Caffe runs inside ``Net<float>(file,
phase)``: read the text (with source positions), upgrade V0/V1 syntax,
filter layers by NetState, and set every layer up through the registry.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from .._proto import caffefill_pb2 as pb
from ..errors import CaffefillError, ErrorKind, NetError
from ..profiles import DEFAULT_PROFILE, Profile
from . import DEFAULT_PHASE as DEFAULT_PHASE  # defined with the package: see there
from .filter import filter_net
from .layers.data import guessed_draws
from .model import NetModel, build_model
from .reader import ReadWarning, SourceNet, read_net
from .splits import insert_splits
from .upgrade import upgrade_net

PHASES = {"TRAIN": pb.TRAIN, "TEST": pb.TEST}


def phase_value(phase: str | int) -> int:
    """pb.TRAIN/pb.TEST from 'TRAIN'/'TEST' (any case) or the enum value."""
    if isinstance(phase, str):
        key = phase.strip().upper()
        if key not in PHASES:
            raise CaffefillError(f"unknown phase {phase!r}: use TRAIN or TEST")
        return PHASES[key]
    if phase not in PHASES.values():
        raise CaffefillError(f"unknown phase {phase!r}: use TRAIN or TEST")
    return int(phase)


def check_is_net(src: SourceNet) -> None:
    """Refuse a file that is no net: no layers (a solver, a filler, a typo'd file
    that Caffe would build as an empty net and caffefill would write empty)."""
    if len(src.param.layer) > 0 or len(src.param.layers) > 0:
        return
    written = list(src.field_positions)
    solver = [name for name in written if name in _SOLVER_ONLY]
    if solver:
        raise NetError(f"this is a solver, not a net (it sets {', '.join(solver[:3])}): "
                       "pass it with --solver (solver= in Python)", path=src.path,
                       kind=ErrorKind.SOLVER_AS_NET)
    known = [name for name in written if name in pb.NetParameter.DESCRIPTOR.fields_by_name]
    what = "no field of a net" if written and not known else "no layers"
    raise NetError(f"this is not a net: it has {what}", path=src.path)


def net_stages(param: pb.NetParameter) -> list[str]:
    """Every stage the net names (its state, its layers' include/exclude rules), in order."""
    found = dict.fromkeys(str(s) for s in param.state.stage)
    for layer in param.layer:
        for rule in (*layer.include, *layer.exclude):
            found.update(dict.fromkeys(str(s) for s in (*rule.stage, *rule.not_stage)))
    return list(found)


def staged_bottom(exc: CaffefillError, param: pb.NetParameter) -> str | None:
    """When ``exc`` is an unknown bottom that some layer of the unfiltered net
    ``param`` makes under a stage rule: which layers make it and which stages the
    net defines, in words; else None."""
    if not isinstance(exc, NetError) or exc.kind is not ErrorKind.UNKNOWN_BOTTOM \
            or not exc.missing_bottom:
        return None
    makers = [layer for layer in param.layer if exc.missing_bottom in layer.top
              and any(r.stage or r.not_stage for r in (*layer.include, *layer.exclude))]
    stages = net_stages(param)
    if not (makers and stages):
        return None
    names = list(dict.fromkeys(str(layer.name) for layer in makers))
    who = f"layer '{names[0]}' makes" if len(names) == 1 else \
        f"layers {', '.join(repr(n) for n in names)} make"
    return (f"{who} '{exc.missing_bottom}' in some stages only: the net defines stages "
            f"{', '.join(stages)} (pass --stage NAME)")


def with_stages(exc: NetError, param: pb.NetParameter) -> NetError:
    """``exc``, told which stages exist when it is an unknown bottom that some layer
    of the unfiltered net ``param`` makes under a stage rule."""
    said = staged_bottom(exc, param)
    if said is not None:
        exc.message += f"; {said}"
        exc.args = (exc.message,)
    return exc


#: Top-level fields that make a file a solver ("type" alone could be anything).
_SOLVER_ONLY = frozenset(pb.SolverParameter.DESCRIPTOR.fields_by_name) - \
    frozenset(pb.NetParameter.DESCRIPTOR.fields_by_name) - {"type"}


def phase_name(phase: int) -> str:
    return "TRAIN" if phase == pb.TRAIN else "TEST"


def load_net(
    source: str | os.PathLike[str],
    *,
    phase: str | int = DEFAULT_PHASE,
    stages: Sequence[str] = (),
    level: int = 0,
    inputs: Mapping[str, Sequence[int]] | None = None,
    strict: bool = False,
    text: str | None = None,
    profile: Profile = DEFAULT_PROFILE,
) -> tuple[SourceNet, NetModel]:
    """Read, upgrade, filter, insert Caffe's Split layers and set every layer up
    (as the Caffe build ``profile`` does).

    Returns the source (text, positions, warnings) and the set-up model.
    """
    phase_id = phase_value(phase)
    src = read_net(source, text=text, strict=strict)
    check_is_net(src)
    upgraded = upgrade_net(src)
    try:
        filtered = filter_net(upgraded.param, phase=phase_id, level=level, stages=list(stages),
                              positions=upgraded.positions)
    except CaffefillError as exc:
        raise exc.located(path=src.path) from None
    try:
        split, positions = insert_splits(filtered.param, filtered.positions, path=src.path)
        model = build_model(split, phase=phase_id, inputs=inputs, path=src.path,
                            positions=[p if p is not None else (0, 0) for p in positions],
                            profile=profile)
    except NetError as exc:
        raise with_stages(exc, upgraded.param) from None
    if model.placeholder_inputs:
        src.warnings.append(ReadWarning(
            src.path, 1, 1, f"{', '.join(model.placeholder_inputs)} feed no learnable blob and "
                            f"no draw: set up with placeholder shapes (the weights do not "
                            f"depend on them)"))
    for name in model.unused_inputs:
        src.warnings.append(ReadWarning(
            src.path, 1, 1, f"--input {name} is not used: no top of this net by that name "
                            f"takes its shape from outside the prototxt (a shape the "
                            f"prototxt declares wins)"))
    for layer in model.layers:
        guess = guessed_draws(layer.type, layer.param, profile.caffe)
        if guess is not None:
            src.warnings.append(ReadWarning(src.path, layer.line or 0, layer.column or 0,
                                            guess, layer=layer.name))
    return src, model
