"""The net API: load a prototxt, set it up, and draw its learnable blobs.

:func:`prepare_net` loads and sets up a net (nothing drawn yet);
:func:`init_net` draws it into a :class:`~caffefill.weights.Weights`,
what ``caffe.set_random_seed(seed); caffe.Net(path, phase)`` holds.  The
draws themselves are :mod:`caffefill.drawing`'s.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from . import __version__
from .drawing import FilledBlob, iter_blobs
from .errors import CaffefillError
from .net.load import DEFAULT_PHASE, load_net, phase_name
from .net.model import NetModel
from .overrides import FillerOverride, apply_overrides, parse_overrides
from .profiles import Profile, resolve
from .rng import CaffeRNG, check_seed
from .solver import load_train_net
from .weights import Weights


def choose_seed() -> int:
    """A fresh random 32-bit seed (when the user gives none)."""
    return int.from_bytes(os.urandom(4), "little")


def make_meta(*, seed: int, phase: str, stages: Sequence[str], level: int, profile: Profile,
              prototxt_sha256: str, net_name: str,
              fillers: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The metadata every output file records (``fillers``: the filler
    overrides, each with the layers it changed; recorded when there are any)."""
    meta = {
        "caffefill_version": __version__,
        "seed": seed,
        "phase": phase,
        "stages": list(stages),
        "level": level,
        "caffe": profile.caffe,
        "boost": profile.boost,
        "net_name": net_name,
        "prototxt_sha256": prototxt_sha256,
    }
    if fillers:
        meta["fillers"] = [dict(record) for record in fillers]
    return meta


@dataclass
class PreparedNet:
    """A loaded net with everything needed to draw it."""

    model: NetModel
    seed: int
    phase: str
    stages: tuple[str, ...]
    level: int
    profile: Profile
    prototxt_sha256: str
    warnings: list[Any] = field(default_factory=list)
    #: The filler overrides applied (see :meth:`FillerOverride.record`).
    fillers: list[dict[str, Any]] = field(default_factory=list)
    #: The same overrides, parsed.
    overrides: tuple[FillerOverride, ...] = ()
    #: The shapes given for tops that live outside the prototxt (``inputs=``).
    inputs: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def meta(self) -> dict[str, Any]:
        return make_meta(seed=self.seed, phase=self.phase, stages=self.stages, level=self.level,
                         profile=self.profile, prototxt_sha256=self.prototxt_sha256,
                         net_name=self.model.param.name, fillers=self.fillers)

    def blobs(self, *, lazy: bool = False) -> Generator[FilledBlob, None, None]:
        """The net's blobs, drawn on a fresh stream (see :func:`iter_blobs`)."""
        return iter_blobs(self.model, CaffeRNG(self.seed), self.profile, lazy=lazy)


def prepare_net(
    path: str | os.PathLike[str] | None = None,
    phase: str | int | None = None,
    *,
    seed: int | None = None,
    stages: Sequence[str] = (),
    level: int | None = None,
    inputs: Mapping[str, Sequence[int]] | None = None,
    caffe: str | None = None,
    boost: str | None = None,
    strict: bool = False,
    solver: str | os.PathLike[str] | None = None,
    fillers: Sequence[FillerOverride | str] = (),
) -> PreparedNet:
    """Load and set up the net (the file ``path``, or the train net of the solver
    file ``solver``, see :mod:`caffefill.solver`); nothing is drawn yet.

    ``phase``: TRAIN unless given; ``seed``: Caffe's random seed (a random one
    when none is given, recorded); ``stages``, ``level``: the NetState;
    ``inputs``: the shapes of tops that live outside the prototxt (data
    layers), by top name; ``caffe``, ``boost``: the Caffe build to reproduce
    (:mod:`caffefill.profiles`); ``strict``: unknown prototxt fields are
    errors, not warnings; ``fillers``: filler overrides,
    ``'PATTERN[.weight|.bias]=FILLER'`` (:mod:`caffefill.overrides`).
    """
    profile = resolve(caffe, boost)
    overrides = parse_overrides(fillers)  # refused before the net is read
    notes: list[Any] = []
    if solver is not None:
        if path is not None:
            raise CaffefillError("give a net or a solver, not both")
        if phase is not None:
            raise CaffefillError("a solver builds its TRAIN net: give no phase with it")
        built, src, model = load_train_net(solver, stages=tuple(stages), level=level,
                                           inputs=inputs, strict=strict, profile=profile)
        if built.seed is not None and seed is not None and seed != built.seed:
            raise CaffefillError(f"{solver}: the solver's random_seed is {built.seed}; "
                                 f"give no other seed ({seed})")
        if built.seed is not None:
            seed = built.seed
        elif seed is None:
            seed = choose_seed()
            notes.append(f"{solver}: no random_seed: Caffe seeds such a run from the clock, "
                         f"so no run of it can be reproduced; using seed {seed} (recorded "
                         "in the output)")
        seed = check_seed(seed)
        stages, level = built.stages, built.level
    elif path is None:
        raise CaffefillError("give a net (or a solver)")
    else:
        seed = choose_seed() if seed is None else check_seed(seed)
        level = 0 if level is None else level
        src, model = load_net(path, phase=DEFAULT_PHASE if phase is None else phase,
                              stages=stages, level=level, inputs=inputs, strict=strict,
                              profile=profile)
    model, applied = apply_overrides(model, overrides, inputs=inputs, profile=profile)
    digest = src.sha256  # of the bytes that were read (the file may be a pipe)
    return PreparedNet(model=model, seed=seed, phase=phase_name(model.phase),
                       stages=tuple(stages), level=level, profile=profile,
                       prototxt_sha256=digest, warnings=notes + list(src.warnings),
                       fillers=applied, overrides=tuple(overrides),
                       inputs={str(k): tuple(int(d) for d in v) for k, v in (inputs or {}).items()})


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _with_options_of(prepare: Callable[_P, PreparedNet]
                     ) -> Callable[[Callable[[PreparedNet], _R]], Callable[_P, _R]]:
    """Decorator: the function ``draw(prepared)`` as a function that takes
    ``prepare``'s arguments (one parameter list, typed and shown by
    ``help()``/``inspect.signature`` as ``prepare``'s) and prepares the net
    with them first."""

    def decorate(draw: Callable[[PreparedNet], _R]) -> Callable[_P, _R]:
        @functools.wraps(draw)
        def api(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            return draw(prepare(*args, **kwargs))

        returns = inspect.signature(draw).return_annotation
        setattr(api, "__signature__",  # noqa: B010 (a function has no such typed attribute)
                inspect.signature(prepare).replace(return_annotation=returns))
        return api

    return decorate


@_with_options_of(prepare_net)
def init_net(prepared: PreparedNet) -> Weights:
    """What ``caffe.set_random_seed(seed); caffe.Net(path, phase)`` holds.

    Takes :func:`prepare_net`'s arguments: ``init_net(path, phase, *,
    seed=None, stages=(), level=None, inputs=None, caffe=None, boost=None,
    strict=False, solver=None, fillers=())``.  Returns an ordered mapping
    layer name -> list of float32 arrays (layers that own blobs, in net
    order), like pycaffe's ``net.params``; the seed used is ``result.seed``
    (a random one is chosen when none is given), the rest of what outputs
    record is ``result.meta``, the net as set up ``result.model``.  The phase
    is TRAIN unless given.  ``solver=FILE`` instead of ``path``: the net
    ``caffe train --solver FILE`` builds, with its ``random_seed`` and
    ``train_state`` (see :mod:`caffefill.solver`).  ``fillers``: filler
    overrides (:mod:`caffefill.overrides`), drawn where Caffe would draw the
    prototxt edited to hold them.
    """
    result = Weights(meta=prepared.meta(), model=prepared.model)
    for blob in prepared.blobs():
        result.setdefault(blob.layer.name, []).append(blob.array)
    return result
