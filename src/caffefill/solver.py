"""The net ``caffe train --solver FILE`` builds: which file, which seed, which state.

Caffe 1.0's ``Solver::Init`` seeds the stream with ``random_seed`` (when it
is set and not negative; as an unsigned 32-bit integer), then
``InitTrainNet`` reads exactly one of ``train_net_param``, ``train_net``,
``net_param``, ``net`` and builds it with the state: phase TRAIN, merged
with the net file's own ``state``, merged with the solver's ``train_state``
(stages add up, a set phase or level replaces).  The file names are opened
as written: a relative one from the directory Caffe runs in, not from the
solver's folder.  ``caffe train`` also adds its ``--stage`` flags to
``train_state`` and replaces ``train_state.level`` with its ``--level`` flag
(0 unless given); pycaffe's solvers keep the file's level.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._proto import caffefill_pb2 as pb
from .errors import CaffefillError, NetError
from .net.load import load_net
from .net.model import NetModel
from .net.reader import (
    ReadWarning,
    SourceNet,
    bind_message,
    parse_tree,
    read_net,
    read_source,
)
from .net.reader.common import _Source
from .net.reader.lexer import _tokens
from .profiles import DEFAULT_PROFILE, Profile

#: The fields that name the train net, in the order Caffe 1.0 reads them (a
#: later one would replace an earlier one, but Caffe refuses more than one).
NET_FIELDS = ("train_net_param", "train_net", "net_param", "net")
_FIELD_NAMES = "net, net_param, train_net, train_net_param"


@dataclass
class SolverNet:
    """The train net of a solver file, as Caffe builds it."""

    solver: str
    #: The net file to read; for an inline net (net_param, train_net_param), the solver.
    path: str
    #: An inline net: the solver's text with everything outside the net's braces
    #: blanked, so lines and columns are the solver's.  None: read ``path``.
    text: str | None
    #: Caffe's seed (``random_seed`` as unsigned 32 bits), None when the solver sets none.
    seed: int | None
    phase: str
    stages: tuple[str, ...]
    level: int
    warnings: list[ReadWarning] = field(default_factory=list)


def read_solver(path: str | os.PathLike[str], *, stages: tuple[str, ...] = (),
                level: int | None = None, strict: bool = False) -> SolverNet:
    """Read a solver file; ``stages`` are added to its ``train_state`` (as ``caffe
    train --stage`` does) and ``level``, when given, replaces its level."""
    solver = os.fspath(path)
    data = _read(solver)
    param = pb.SolverParameter()
    tree = parse_tree(data, path=solver)
    warnings = bind_message(tree, param, path=solver, strict=strict)
    given = [name for name in NET_FIELDS if param.HasField(name)]
    if not given:
        raise NetError(f"the solver names no train net: give one of {_FIELD_NAMES}",
                       path=solver,
                       caffe_message="Check failed: num_train_nets >= 1 (0 vs. 1) "
                                     "SolverParameter must specify a train net using one of "
                                     f"these fields: {_FIELD_NAMES}")
    if len(given) > 1:
        raise NetError(f"the solver names more than one train net ({', '.join(given)}): keep "
                       "one", path=solver,
                       caffe_message=f"Check failed: num_train_nets <= 1 ({len(given)} vs. 1) "
                                     "SolverParameter must not contain more than one of these "
                                     f"fields specifying a train_net: {_FIELD_NAMES}")
    which = given[0]
    if which.endswith("_param"):
        net_path, text = solver, _inline_net(data, which, solver)
        own_state = getattr(param, which).state
    else:
        net_path, text = str(getattr(param, which)), None
        own_state = _net_file(net_path, solver).param.state
    state = pb.NetState(phase=pb.TRAIN)
    state.MergeFrom(own_state)
    state.MergeFrom(param.train_state)
    seed = None
    if param.HasField("random_seed") and param.random_seed >= 0:
        seed = int(param.random_seed) % (1 << 32)  # Caffe::set_random_seed(unsigned int)
    return SolverNet(solver=solver, path=net_path, text=text, seed=seed,
                     phase="TRAIN" if state.phase == pb.TRAIN else "TEST",
                     stages=(*param.train_state.stage, *stages),
                     level=int(state.level) if level is None else level,
                     warnings=warnings)


def load_train_net(solver: str | os.PathLike[str], *, stages: tuple[str, ...] = (),
                   level: int | None = None, inputs: Mapping[str, Sequence[int]] | None = None,
                   strict: bool = False, profile: Profile = DEFAULT_PROFILE
                   ) -> tuple[SolverNet, SourceNet, NetModel]:
    """The solver's train net, read and set up (see :func:`read_solver`)."""
    built = read_solver(solver, stages=stages, level=level, strict=strict)
    src, model = load_net(built.path, text=built.text, phase=built.phase, stages=built.stages,
                          level=built.level, inputs=inputs, strict=strict, profile=profile)
    src.warnings[:0] = built.warnings
    return built, src, model


def _read(path: str) -> str:
    """The solver's text, read as bounded as a net (at most the prototxt limit,
    never blocking for ever on a pipe or a device)."""
    return read_source(path).decode("utf-8", errors="surrogateescape")


def _net_file(net: str, solver: str) -> SourceNet:
    """Read the solver's net file, opened as Caffe opens it (from the working directory)."""
    problem = missing_net(net, solver)
    if problem is not None:
        raise CaffefillError(problem)
    return read_net(net)


@dataclass(frozen=True)
class NetRef:
    """One net a solver names (train or test), for auditing every net it uses."""

    #: The solver field, with its index when repeated: ``net``, ``test_net[1]``.
    field: str
    #: The net file as written (opened from the working directory, as Caffe
    #: opens it); for an inline net, the solver itself.
    path: str
    #: An inline net: the solver's text with everything outside it blanked.
    text: str | None = None


def solver_nets(path: str | os.PathLike[str]) -> list[NetRef]:
    """Every net the solver at ``path`` names, train nets first, each file once."""
    solver = os.fspath(path)
    data = _read(solver)
    param = pb.SolverParameter()
    bind_message(parse_tree(data, path=solver), param, path=solver)
    refs: list[NetRef] = []
    for name in NET_FIELDS:
        if param.HasField(name):
            refs.append(NetRef(name, solver, _inline_net(data, name, solver))
                        if name.endswith("_param") else NetRef(name, str(getattr(param, name))))
    for i, net in enumerate(param.test_net):
        refs.append(NetRef(f"test_net[{i}]", str(net)))
    for i in range(len(param.test_net_param)):
        refs.append(NetRef(f"test_net_param[{i}]", solver,
                           _inline_net(data, "test_net_param", solver, occurrence=i)))
    seen: set[str] = set()
    unique = []
    for ref in refs:
        key = ref.field if ref.text is not None else os.path.realpath(ref.path)
        if key not in seen:
            seen.add(key)
            unique.append(ref)
    return unique


def missing_net(net: str, solver: str) -> str | None:
    """Why the solver's net file ``net`` cannot be opened as Caffe opens it (from
    the working directory), or None when it can."""
    if os.path.exists(net):
        return None
    beside = Path(solver).parent / net
    hint = (f"; it is in the solver's folder: run from {Path(solver).parent}, as Caffe "
            "would need" if not os.path.isabs(net) and beside.exists() else "")
    return (f"{solver}: the solver's net '{net}' does not exist (Caffe opens it from the "
            f"directory it runs in, {os.getcwd()}){hint}")


def _inline_net(text: str, name: str, path: str, occurrence: int = 0) -> str:
    """The solver's text with only the inside of ``name { ... }`` kept (its
    ``occurrence``-th one, for a repeated field)."""
    start = None
    depth = 0
    for token in _tokens(_Source(text, path)):
        opens = token.kind == "symbol" and token.text in ("{", "<")
        closes = token.kind == "symbol" and token.text in ("}", ">")
        if start is None:
            if token.kind == "identifier" and token.text == name and depth == 0:
                if occurrence == 0:
                    start = -1  # the opener comes next (after an optional ':')
                occurrence -= 1
            depth += opens - closes
            continue
        if start == -1:
            if opens:
                start, depth = token.offset + 1, 1
            continue
        if opens:
            depth += 1
        elif closes:
            depth -= 1
            if depth == 0:
                inside = text[start:token.offset]
                return "".join(c if c == "\n" else " " for c in text[:start]) + inside
    raise CaffefillError(f"{path}: cannot find the end of '{name}'")  # parse_tree checked it
