"""The net model: every layer set up in order, as Caffe's ``Net::Init`` does.

:func:`build_model` takes a V2 ``NetParameter`` that is already upgraded and
filtered for one phase, and walks its layers in order: it resolves each
layer's bottoms by blob name (in-place tops allowed), calls the layer's
registry entry to get top shapes, learnable blobs and the draws the layer
makes from Caffe's random stream at setup, and wires parameter sharing
(``param { name: ... }``) with Caffe's checks.

What it refuses, like Caffe: unknown layer types, unknown bottom blobs, a top
produced by two layers, more ``param`` specs than blobs, shared params whose
shapes (or, with ``share_mode: PERMISSIVE``, counts) differ or whose
``lr_mult``/``decay_mult`` disagree, blobs past Caffe's int32 size limit.
It also refuses what Caffe accepts but caffefill cannot write faithfully:
non-positive dims, and two different layers owning blobs under one name
(their weights would collide in the output files).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from .._proto import caffefill_pb2 as pb
from ..errors import CaffefillError, ErrorKind, NeededInput, NetError
from ..messages import check_failed, glog_number, shape_string, show_shape
from ..profiles import DEFAULT_PROFILE, Profile
from .registry import LayerContext, entry, traits_of, unknown_type_hint
from .spec import BlobSpec, Draw, DrawRuns, LayerSetup, Shape, Window

INT_MAX = 2**31 - 1


@dataclass
class NetLayer:
    """One layer of the net once set up."""

    index: int
    name: str
    type: str
    param: pb.LayerParameter
    line: int | None
    column: int | None
    bottoms: list[str]
    tops: list[str]
    bottom_shapes: list[Shape]
    top_shapes: list[Shape]
    blobs: list[BlobSpec] = field(default_factory=list)
    # In stream order; a DrawRuns for an unrolled recurrent layer (see spec.draw_runs).
    draws: Sequence[Draw] = field(default_factory=list)
    # The ParamSpec name of each blob ("" when anonymous).
    param_specs: list[str] = field(default_factory=list)
    # Per blob: (owner layer index, owner blob index) when the blob is shared
    # from an earlier blob, else None (this layer owns it).
    owners: list[tuple[int, int] | None] = field(default_factory=list)
    # A convolution's or pooling layer's kernel and stride (see LayerSetup.window).
    window: Window | None = None

    @property
    def learnable(self) -> bool:
        return bool(self.blobs)


@dataclass
class NetModel:
    """A net set up for one phase: its layers in order and their blobs."""

    param: pb.NetParameter
    phase: int
    path: str | None
    layers: list[NetLayer]
    # The final shape of every named blob (after in-place layers).
    blob_shapes: dict[str, Shape] = field(default_factory=dict)
    # ``inputs`` keys that name no top (nor a one-top layer) of this net.
    unused_inputs: list[str] = field(default_factory=list)
    # Tops whose shapes come from outside the prototxt, were not given, and
    # feed no learnable blob and no draw: the placeholder shape each was set
    # up with (their consumers' blobs and draws do not depend on it).
    placeholder_inputs: dict[str, Shape] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.param.name)

    def learnable_layers(self) -> list[NetLayer]:
        """The layers that own or share learnable blobs, in net order."""
        return [layer for layer in self.layers if layer.blobs]

    def total_params(self, *, unique: bool = False) -> int:
        """Values in all layers' blobs (what Caffe's ``params`` counts), or,
        with ``unique``, in the blobs that are not shared copies."""
        total = 0
        for layer in self.layers:
            for blob, owner in zip(layer.blobs, layer.owners, strict=False):
                if unique and owner is not None:
                    continue
                total += blob.count
        return total

    def shared_owner(self, layer_index: int, blob_index: int) -> tuple[int, int] | None:
        """Where blob ``blob_index`` of layer ``layer_index`` takes its values
        from when it is shared by name, else None."""
        return self.layers[layer_index].owners[blob_index]

    def layer(self, name: str) -> NetLayer:
        """The last layer called ``name``."""
        for layer in reversed(self.layers):
            if layer.name == name:
                return layer
        raise KeyError(name)


#: The multipliers Net::AppendParam keeps per learnable param, with the C++
#: array it keeps them in (for the CHECK text).
_SHARED_MULTS = (("lr_mult", "params_lr_"), ("decay_mult", "params_weight_decay_"))


@dataclass(eq=False, repr=False)
class _ParamState:
    """Net::AppendParam's bookkeeping for one learnable (owned) param: its
    blob and the multipliers given so far (by field name)."""

    spec: BlobSpec
    layer_name: str
    mults: dict[str, float]


def build_model(
    param: pb.NetParameter,
    *,
    phase: int,
    inputs: Mapping[str, Sequence[int]] | None = None,
    path: str | None = None,
    positions: Sequence[tuple[int, int]] | None = None,
    profile: Profile = DEFAULT_PROFILE,
    cache: SetupCache | None = None,
) -> NetModel:
    """Set up every layer of ``param`` (V2, upgraded, filtered for ``phase``) as
    the Caffe build ``profile`` does.

    ``inputs`` gives the shapes of tops that live outside the prototxt
    (data layers), keyed by top name (or layer name for a one-top layer).
    ``positions`` gives each layer's (line, column) in the source file, for
    error messages.  ``cache``: the set-ups of earlier builds of the same
    net to reuse (see :class:`SetupCache`).
    """
    if len(param.layers) > 0:
        raise NetError("this net uses the V1 'layers' field: upgrade it to V2 first", path=path)
    if len(param.input) > 0 or len(param.input_shape) > 0 or len(param.input_dim) > 0:
        raise NetError("this net declares net-level inputs ('input' fields): upgrade them to an "
                       "Input layer first", path=path)
    cache = SetupCache() if cache is None else cache
    builder = _NetBuilder(param, phase, inputs or {}, path, positions, profile, PLACEHOLDERS[0],
                          cache)
    model = builder.build()
    if not model.placeholder_inputs:
        return model
    # The graph says these tops reach no learnable blob and no draw; a second set-up
    # with other placeholder shapes must then give the same blobs and draws.
    try:
        other = _NetBuilder(param, phase, inputs or {}, path, positions, profile,
                            PLACEHOLDERS[1], cache).build()
        same = _weights_signature(other) == _weights_signature(model)
    except CaffefillError:
        same = False
    if not same:
        raise builder.missing_error(list(model.placeholder_inputs))
    return model


#: The shapes tops that feed no learnable blob and no draw are set up with
#: (two, different in every dim, to check that nothing depends on them).
PLACEHOLDERS: tuple[Shape, Shape] = ((1, 3, 224, 224), (2, 4, 230, 231))

#: Roles of layers that own no learnable blob and take no draw: where a
#: placeholder shape breaks such a layer's checks, it is set up as a stand-in.
_BLOBLESS_ROLES = frozenset({"loss", "sink"})


def _weights_signature(model: NetModel) -> list[tuple[object, ...]]:
    """What decides the weights: every layer's blobs (shape, filler) and draws."""
    return [(layer.name, [(b.shape, b.filler) for b in layer.blobs], list(layer.draws))
            for layer in model.layers]


class _NetBuilder:
    """Net::Init, layer by layer: AppendBottom, AppendTop, the layer's setup,
    AppendParam."""

    def __init__(self, param: pb.NetParameter, phase: int, inputs: Mapping[str, Sequence[int]],
                 path: str | None, positions: Sequence[tuple[int, int]] | None,
                 profile: Profile = DEFAULT_PROFILE, placeholder: Shape | None = None,
                 cache: SetupCache | None = None) -> None:
        self.param = param
        self.cache = SetupCache() if cache is None else cache
        self.profile = profile
        #: What of ``profile`` a set-up depends on, for the cache's keys (its fields:
        #: strings hash without calling Python, a Profile's hash does).
        self.profile_key = (profile.caffe, profile.boost)
        #: The shape a missing outside top is set up with (None: a missing top is an error).
        self.placeholder = placeholder
        #: Each missing top: its layer's index and what it needs, in net order.
        self.missing: dict[str, tuple[int, NeededInput, str]] = {}
        #: The missing tops each blob's shape derives from (through the bottoms
        #: whose values flow into a layer's outputs, not its side inputs).
        self.origins: dict[str, frozenset[str]] = {}
        #: Missing tops that reach a learnable blob or a draw (their shapes are needed).
        self.required: set[str] = set()
        self.phase = int(phase)
        self.given = _Given({str(k): tuple(int(d) for d in v) for k, v in inputs.items()})
        self.path = path
        self.positions = positions
        self.layers: list[NetLayer] = []
        self.shapes: dict[str, Shape] = {}  # every blob's current shape, by name
        self.params_by_name: dict[str, tuple[int, int]] = {}  # ParamSpec name -> its owner
        self.params: dict[tuple[int, int], _ParamState] = {}  # each owned param
        self.owner_layer_names: dict[str, int] = {}  # layer name -> the layer owning blobs

    def build(self) -> NetModel:
        for index, lp in enumerate(self.param.layer):
            try:
                self.layers.append(self.append_layer(index, lp))
            except CaffefillError as exc:
                # With placeholder inputs, what a layer fed by them refuses may be theirs:
                # the shapes they stand for are needed first.
                fed = frozenset(t for t in lp.top if t in self.missing).union(
                    *(self.origins.get(b, frozenset()) for b in lp.bottom))
                if self.placeholder is None or not fed or exc.kind is ErrorKind.MISSING_INPUT:
                    raise
                wanted = self.required | fed
                raise self.missing_error([t for t in self.missing if t in wanted]) from None
        # Given shapes no layer asked for: names of no top, or tops whose shape the
        # prototxt declares (an Input layer's own shape wins over --input).
        unused = sorted(k for k in self.given if k not in self.given.asked
                        and k not in self.missing)
        needed = [top for top in self.missing if top in self.required]
        if needed:
            raise self.missing_error(needed)
        return NetModel(param=self.param, phase=self.phase, path=self.path, layers=self.layers,
                        blob_shapes=self.shapes, unused_inputs=unused,
                        placeholder_inputs={top: self.given[top] for top in self.missing})

    def missing_error(self, tops: Sequence[str]) -> NetError:
        """One error naming every top in ``tops`` (missing shapes), at the first one's layer."""
        first_index, first, message = self.missing[tops[0]]
        lp = self.param.layer[first_index]
        line, column = self.position(first_index)
        if len(tops) > 1:
            where = ", ".join(f"'{top}' ({self.param.layer[self.missing[top][0]].name})"
                              for top in tops)
            flags = " ".join(f"--input {top}={self.missing[top][1].dims}" for top in tops)
            message = (f"the shapes of tops {where} come from data sources caffefill does "
                       f"not read: pass {flags}")
        inert = [top for top in self.missing if top not in tops]
        if inert:
            message += (f" ({', '.join(inert)} feed no learnable blob and no draw: they need "
                        f"no shape)")
        error = NetError(message, path=self.path, line=line, column=column, layer=lp.name,
                         kind=ErrorKind.MISSING_INPUT)
        error.needed_input = first
        error.needed_inputs = [self.missing[top][1] for top in tops]
        return error

    def position(self, index: int) -> tuple[int | None, int | None]:
        if self.positions is not None and index < len(self.positions):
            line, column = self.positions[index]
            return line, column
        return None, None

    def append_layer(self, index: int, lp: pb.LayerParameter) -> NetLayer:
        line, column = self.positions[index] if self.positions is not None and \
            index < len(self.positions) else (None, None)

        def error(message: str, caffe_message: str | None = None, *,
                  kind: ErrorKind | None = None) -> NetError:
            return NetError(message, path=self.path, line=line, column=column, layer=lp.name,
                            caffe_message=caffe_message, kind=kind)

        facts = self.cache.facts(lp)
        if facts.propagate_down > 0 and facts.propagate_down != len(facts.bottoms):
            raise error(
                f"propagate_down must be given 0 or {len(lp.bottom)} times (once per bottom), "
                f"got {len(lp.propagate_down)}",
                check_failed("layer_param.propagate_down_size() == layer_param.bottom_size()",
                             len(lp.propagate_down), len(lp.bottom),
                             "propagate_down param must be specified either 0 or bottom_size "
                             "times "))
        found = entry(facts.type)
        if found is None:
            raise error(f"unknown layer type '{lp.type}'{unknown_type_hint(lp.type)}",
                        f"Check failed: registry.count(type) == 1 (0 vs. 1) Unknown layer type: "
                        f"{lp.type}", kind=ErrorKind.UNKNOWN_LAYER_TYPE)
        bottoms, tops = list(facts.bottoms), list(facts.tops)
        bottom_shapes = [self.append_bottom(lp, bottoms, i, error) for i in range(len(bottoms))]
        earlier_tops: set[str] = set()
        for t_index in range(len(tops)):
            self.append_top(bottoms, tops, t_index, earlier_tops, error)

        phase = self.phase if facts.phase is None else facts.phase
        key: SetupKey = (facts.raw, tuple(bottom_shapes), phase, self.path, line, column,
                         self.profile_key)
        reach: frozenset[str] = _NONE
        if self.origins:  # some placeholder shapes so far
            side = found.traits.side_inputs
            reach = reach.union(*(self.origins.get(b, _NONE)
                                  for i, b in enumerate(bottoms) if i == 0 or not side))
        own: set[str] = set()
        setup = self.cache.find(key, self.given)
        if setup is None:
            # (positional arguments: a keyword call costs more, once per layer set up)
            ctx = LayerContext(lp, bottom_shapes, phase, _Seen(self.given), self.path,
                               self.profile, line, column)
            setup = self.set_up(found.setup, ctx, key, index, own, error, facts)
        checked = self.cache.checked(setup)  # an earlier build's, past the checks below
        draws = setup.draw_sequence() if checked is None else checked[2]
        if setup.blobs or draws:
            self.required |= reach
        if self.origins or own:
            for t_name in tops:
                # A placeholder top derives from itself, a top the user gave the shape
                # of from nothing more; the layer's other tops (a label sized by the
                # data's batch) from every placeholder the layer was given.
                if t_name in own:
                    derived = frozenset({t_name})
                elif dict.__contains__(self.given, t_name):
                    derived = _NONE
                else:
                    derived = frozenset(own)
                if reach or derived:
                    self.origins[t_name] = reach | derived
                else:  # (an in-place top no longer derives from what it did)
                    self.origins.pop(t_name, None)

        if checked is None:
            top_shapes = [tuple(map(int, s)) for s in setup.tops]
            if len(top_shapes) < len(tops):
                raise error(f"{lp.type} produces {len(top_shapes)} top(s) but {len(tops)} "
                            f"are named")
            top_names = tops + ["(automatic)"] * (len(top_shapes) - len(tops))
            for t_name, shape in zip(top_names, top_shapes, strict=False):
                if not _plain_shape(shape):
                    _check_shape(error, shape, f"top '{t_name}'")
            blobs = list(setup.blobs)
            for b_index, spec in enumerate(blobs):
                if not _plain_shape(spec.shape):
                    _check_shape(error, spec.shape, f"{spec.role or 'blob'} (blob {b_index})",
                                 learnable=True)
            self.cache.passed(setup, top_shapes, blobs, draws)
        else:
            top_shapes, blobs = list(checked[0]), list(checked[1])
            top_names = tops + ["(automatic)"] * (len(top_shapes) - len(tops))
        specs = facts.specs
        if len(specs) > len(blobs):
            raise error(
                f"{len(specs)} param specs for a layer with {len(blobs)} learnable blob(s)",
                check_failed("param_size <= num_param_blobs", len(specs), len(blobs),
                             f"Too many params specified for layer {lp.name}"))
        owners: list[tuple[int, int] | None] = []
        if blobs:
            self.claim_layer_name(index, facts.name, error)
            owners = [self.append_param(index, facts, specs[b_index] if b_index < len(specs)
                                        else _NO_PARAM_SPEC, b_index, spec, error)
                      for b_index, spec in enumerate(blobs)]
        for t_name, shape in zip(tops, top_shapes, strict=False):
            self.shapes[t_name] = shape
        # (index, name, type, param, line, column, bottoms, tops, bottom_shapes,
        # top_shapes, blobs, draws, param_specs, owners, window: positionally, as above)
        return NetLayer(
            index, facts.name, facts.type, lp, line, column, bottoms, top_names,
            bottom_shapes, top_shapes, blobs, _draws(draws),
            [specs[i].name if i < len(specs) else "" for i in range(len(blobs))], owners,
            setup.window)

    def set_up(self, setup_fn: Callable[[LayerContext], LayerSetup], ctx: LayerContext,
               key: SetupKey, index: int, own: set[str], error: Callable[..., NetError],
               facts: _LayerFacts) -> LayerSetup:
        """The layer's setup, which no earlier build kept under ``key`` for the
        input shapes now given (a retry below may find one, see
        :class:`SetupCache`).  With a placeholder shape, a top whose shape comes
        from outside is set up with it (and added to ``own``), and a loss or sink
        that a placeholder breaks is set up as a stand-in without blobs.
        ``facts``: the layer's message as the builder reads it."""
        lp = ctx.param
        line, column = ctx.line, ctx.column
        seen = ctx.inputs
        assert isinstance(seen, _Seen)
        for attempt in range(len(facts.tops) + 1):
            done = self.cache.find(key, self.given) if attempt else None
            if done is not None:
                return done
            try:
                setup = setup_fn(ctx)
                self.cache.keep(key, seen, setup)
                return setup
            except CaffefillError as exc:
                needed = exc.needed_input if isinstance(exc, NetError) else None
                if self.placeholder is not None and needed is not None \
                        and needed.top not in self.given:
                    self.missing[needed.top] = (index, needed, exc.message)
                    dict.__setitem__(self.given, needed.top, self.placeholder)
                    own.add(needed.top)
                    continue
                fed = own or any(self.origins.get(b) for b in lp.bottom)
                if self.placeholder is not None and fed and \
                        traits_of(lp.type).role in _BLOBLESS_ROLES:
                    return LayerSetup(tops=[() for _ in lp.top])
                raise exc.located(path=self.path, line=line, column=column,
                                  layer=lp.name) from None
            except (ArithmeticError, IndexError, KeyError, TypeError, ValueError) as exc:
                raise error(f"cannot set up this {lp.type} layer: {type(exc).__name__}: {exc}"
                            ) from exc
        raise error(f"{lp.type} keeps asking for the shapes of its tops")

    def append_bottom(self, lp: pb.LayerParameter, bottoms: Sequence[str], b_index: int,
                      error: Callable[..., NetError]) -> Shape:
        """Net::AppendBottom: the bottom must be a blob some earlier layer made
        (``bottoms``: the layer's)."""
        b_name = bottoms[b_index]
        if b_name not in self.shapes:
            where = f"'{b_name}' (layer '{lp.name}', bottom index {b_index})"
            exc = error(f"unknown bottom blob {where}", f"Unknown bottom blob {where}",
                        kind=ErrorKind.UNKNOWN_BOTTOM)
            exc.missing_bottom = b_name
            raise exc
        return self.shapes[b_name]

    def append_top(self, bottoms: Sequence[str], tops: Sequence[str], t_index: int,
                   earlier_tops: set[str], error: Callable[..., NetError]) -> None:
        """Net::AppendTop: a top is new, or computed in place over the same bottom
        (``earlier_tops``: the layer's tops before this one, added to)."""
        t_name = tops[t_index]
        in_place = t_index < len(bottoms) and bottoms[t_index] == t_name
        if not in_place and (t_name in self.shapes or t_name in earlier_tops):
            raise error(f"top blob '{t_name}' is produced by more than one layer",
                        f"Top blob '{t_name}' produced by multiple sources.")
        earlier_tops.add(t_name)

    def claim_layer_name(self, index: int, name: str, error: Callable[..., NetError]) -> None:
        """Two layers owning blobs under one name would collide in the output files."""
        if name in self.owner_layer_names:
            other = self.owner_layer_names[name]
            raise error(
                f"layer name '{name}' is already used by layer {other} "
                f"({self.param.layer[other].type}), which also has learnable blobs: their "
                f"weights would collide in the output; rename one of them")
        self.owner_layer_names[name] = index

    def append_param(self, index: int, facts: _LayerFacts, ps: _SpecFacts, b_index: int,
                     spec: BlobSpec, error: Callable[..., NetError]) -> tuple[int, int] | None:
        """Net::AppendParam: the blob's owner when it shares a named param (after
        Caffe's shape/count and multiplier checks), else None (it owns itself);
        ``ps``: the blob's ParamSpec (an empty one when the layer gives none)."""
        name = ps.name
        if not name or name not in self.params_by_name:
            if name:
                self.params_by_name[name] = (index, b_index)
            self.params[(index, b_index)] = _ParamState(spec, facts.name, dict(ps.mults))
            return None
        owner = self.params_by_name[name]
        state = self.params[owner]
        owner_spec, owner_name = state.spec, state.layer_name
        if ps.permissive:
            if owner_spec.count != spec.count:
                raise error(
                    f"cannot share param '{name}' owned by layer '{owner_name}': it has "
                    f"{owner_spec.count} values {show_shape(owner_spec.shape)}, this layer "
                    f"needs {spec.count} {show_shape(spec.shape)}",
                    check_failed("this_blob->count() == owner_blob->count()", spec.count,
                                 owner_spec.count,
                                 f"Cannot share param '{name}' owned by layer '{owner_name}' "
                                 f"with layer '{facts.name}'; count mismatch.  Owner layer param "
                                 f"shape is {shape_string(owner_spec.shape)}; sharing layer "
                                 f"shape is {shape_string(spec.shape)}"))
        elif tuple(owner_spec.shape) != tuple(spec.shape):
            raise error(
                f"cannot share param '{name}' owned by layer '{owner_name}': its shape is "
                f"{show_shape(owner_spec.shape)}, this layer expects {show_shape(spec.shape)}",
                f"Check failed: this_blob->shape() == owner_blob->shape() Cannot share "
                f"param '{name}' owned by layer '{owner_name}' with layer '{facts.name}'; "
                f"shape mismatch.  Owner layer param shape is "
                f"{shape_string(owner_spec.shape)}; sharing layer expects shape "
                f"{shape_string(spec.shape)}")
        for mult, array in _SHARED_MULTS:
            value = ps.mults.get(mult)
            if value is None:
                continue
            first = state.mults.get(mult)
            if first is not None and value != first:
                raise error(
                    f"shared param '{name}' has {mult} {glog_number(value)} here but "
                    f"{glog_number(first)} where it was first given",
                    check_failed(f"param_spec->{mult}() == {array}[learnable_param_id]", value,
                                 first, f"Shared param '{name}' has mismatched {mult}."))
            state.mults[mult] = value
        return owner


class _SpecFacts:
    """What the builder reads of one ``param`` (ParamSpec) of a layer."""

    __slots__ = ("mults", "name", "permissive")

    def __init__(self, ps: pb.ParamSpec) -> None:
        self.name = str(ps.name)
        #: The multipliers given, by field name (see _SHARED_MULTS).
        self.mults = {f: float(getattr(ps, f)) for f, _ in _SHARED_MULTS if ps.HasField(f)}
        self.permissive = ps.share_mode == pb.ParamSpec.PERMISSIVE


class _LayerFacts:
    """What the builder reads of a layer's message, read once for every layer
    serialized the same (protobuf's field access costs more than the rest of
    a layer's bookkeeping)."""

    __slots__ = ("bottoms", "name", "phase", "propagate_down", "raw", "specs", "tops", "type")

    def __init__(self, lp: pb.LayerParameter, raw: bytes) -> None:
        #: The message serialized (deterministically): what the facts are read from.
        self.raw = raw
        self.name = str(lp.name)
        self.type = str(lp.type)
        self.bottoms = tuple(lp.bottom)
        self.tops = tuple(lp.top)
        self.propagate_down = len(lp.propagate_down)
        #: The layer's own phase (None: the net's).
        self.phase: int | None = int(lp.phase) if lp.HasField("phase") else None
        self.specs = tuple(_SpecFacts(ps) for ps in lp.param)


class _Given(dict[str, Shape]):
    """The user's input shapes, remembering which names the layers asked for."""

    def __init__(self, shapes: Mapping[str, Shape]) -> None:
        super().__init__(shapes)
        self.asked: set[str] = set()

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.asked.add(key)
        return super().__contains__(key)


class _Seen(Mapping[str, Shape]):
    """The input shapes as one layer's set-up sees them, noting what it looked
    up (so that a later set-up of the layer can tell whether it would see the
    same)."""

    __slots__ = ("asked", "given", "looked", "whole")

    def __init__(self, given: _Given) -> None:
        self.given = given
        #: Each name looked up: its shape then (None: not given).
        self.looked: dict[str, Shape | None] = {}
        #: The names asked for with ``in`` (what _Given.asked records).
        self.asked: set[str] = set()
        #: The set-up went through all of them (its result may depend on any).
        self.whole = False

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        self.asked.add(key)
        self.looked[key] = dict.get(self.given, key)
        return key in self.given

    def __getitem__(self, key: str) -> Shape:
        self.looked[key] = dict.get(self.given, key)
        return dict.__getitem__(self.given, key)

    def __iter__(self) -> Iterator[str]:
        self.whole = True
        return iter(dict(self.given))

    def __len__(self) -> int:
        self.whole = True
        return len(self.given)


#: What a layer's set-up depends on: the layer's message (serialized), its
#: bottoms' shapes, its phase, where it is written and the Caffe build.
SetupKey = tuple[bytes, tuple[Shape, ...], int, str | None, int | None, int | None,
                 tuple[str, str]]


class SetupCache:
    """Layer set-ups done, for later builds of the same net to reuse.

    A layer's set-up is a function of its message, its bottoms' shapes, its
    phase, its position (for messages), the Caffe build and the input shapes
    it looks up: a later build that meets the same layer with the same of
    each takes the earlier result instead of setting the layer up again.
    :func:`build_model` sets a net up twice when some tops get placeholder
    shapes, and the audit once per stand-in it tries (see
    :mod:`caffefill.audit.loading`); the layers away from the placeholders
    and stand-ins are set up once.
    """

    def __init__(self) -> None:
        self._done: dict[SetupKey, list[tuple[dict[str, Shape | None], set[str], LayerSetup]]] = {}
        #: By id of a kept set-up: its tops and blobs as the builder checked them, its draws.
        self._checked: dict[int, tuple[list[Shape], list[BlobSpec], Sequence[Draw]]] = {}
        self._kept: set[int] = set()  # ids of the set-ups in _done (alive while it is)
        self._facts: dict[bytes, _LayerFacts] = {}  # by the layer's message, serialized

    def facts(self, lp: pb.LayerParameter) -> _LayerFacts:
        """What the builder reads of ``lp`` (read once per distinct message)."""
        raw = lp.SerializeToString(deterministic=True)
        found = self._facts.get(raw)
        if found is None:
            found = self._facts[raw] = _LayerFacts(lp, raw)
        return found

    def find(self, key: SetupKey, given: _Given) -> LayerSetup | None:
        """An earlier set-up with this key that looked up the same input shapes
        (their lookups are recorded in ``given`` as that set-up's were)."""
        for looked, asked, setup in self._done.get(key, ()):
            if not looked or all(dict.get(given, name) == shape
                                 for name, shape in looked.items()):
                given.asked |= asked
                return setup
        return None

    def keep(self, key: SetupKey, seen: _Seen, setup: LayerSetup) -> None:
        if not seen.whole:
            self._done.setdefault(key, []).append((dict(seen.looked), set(seen.asked), setup))
            self._kept.add(id(setup))

    def checked(self, setup: LayerSetup
                ) -> tuple[list[Shape], list[BlobSpec], Sequence[Draw]] | None:
        """A kept set-up's top shapes, blobs and draws once the builder's checks
        passed them (they pass again: they read nothing else)."""
        return self._checked.get(id(setup))

    def passed(self, setup: LayerSetup, tops: list[Shape], blobs: list[BlobSpec],
               draws: Sequence[Draw]) -> None:
        if id(setup) in self._kept:
            self._checked[id(setup)] = (tops, blobs, draws)


def _draws(draws: Sequence[Draw]) -> Sequence[Draw]:
    """A layer's draws as the model keeps them (runs stay compact)."""
    return draws if isinstance(draws, DrawRuns) else list(draws)


_NONE: frozenset[str] = frozenset()
#: The ParamSpec of a blob the layer gives none for.
_NO_PARAM_SPEC = _SpecFacts(pb.ParamSpec())


def _plain_shape(shape: Sequence[int]) -> bool:
    """Whether :func:`_check_shape` passes ``shape`` (without making its messages)."""
    return len(shape) <= 32 and all(type(d) is int and d > 0 for d in shape) and \
        math.prod(shape) <= INT_MAX


def _check_shape(make: Callable[..., NetError], shape: Sequence[int], what: str,
                 learnable: bool = False) -> None:
    """Dims must be positive and the count within Caffe's int32 limit."""
    dims = [int(d) for d in shape]
    if len(dims) > 32:
        raise make(f"{what} has {len(dims)} axes; Caffe allows 32",
                   f"Check failed: shape.size() <= kMaxBlobAxes ({len(dims)} vs. 32)")
    for d in dims:
        if d <= 0:
            kind = "learnable blob" if learnable else "blob"
            raise make(
                f"{what} has shape {show_shape(dims)}: every dim of a {kind} must be positive",
                f"Check failed: shape[i] >= 0 ({d} vs. 0)" if d < 0 else None)
    total = math.prod(dims)
    if total > INT_MAX:
        raise make(
            f"{what} has shape {show_shape(dims)} = {total} values, past Caffe's int32 limit "
            f"({INT_MAX})",
            "Check failed: shape[i] <= INT_MAX / count_ blob size exceeds INT_MAX")
