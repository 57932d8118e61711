"""Building an :class:`~caffefill.audit.context.AuditContext`: reading a file in
the stages ``caffefill init`` uses (read, upgrade, filter, set up) as far as
they go.

When a data layer's top needs ``--input`` or a layer type is unknown, the
net is set up a second time with placeholder shapes (a record of 3 x 224 x
224 or the crop; an unknown layer passes its first input's shape through) to
get its *structure*; rules that read shapes are then skipped and a note says
why.
"""

from __future__ import annotations

from collections.abc import Mapping

from .._proto import caffefill_pb2 as pb
from ..errors import CaffefillError, ErrorKind, NeededInput, NetError, kept
from ..net.filter import filter_net
from ..net.load import check_is_net, staged_bottom
from ..net.model import NetModel, SetupCache, build_model
from ..net.reader import read_net
from ..net.spec import Shape
from ..net.upgrade import upgrade_net
from .context import AuditContext, AuditOptions

_PLACEHOLDER_SIDE = 224
_MAX_RETRIES = 64


def load_context(path: str, text: str, options: AuditOptions) -> AuditContext:
    """Read ``text`` (the file at ``path``) and set it up as far as it goes.

    Raises the reader's ParseError when the file cannot be read at all.
    """
    src = read_net(path, text=text, digest=False)
    check_is_net(src)
    ctx = AuditContext(path=path, text=text, options=options, src=src)
    try:
        ctx.upgraded = upgrade_net(src)
        ctx.filtered = filter_net(ctx.upgraded.param, phase=ctx.phase,
                                  level=options.level, stages=list(options.stages),
                                  positions=ctx.upgraded.positions, path=path)
    except CaffefillError as exc:
        ctx.setup_error = kept(exc).located(path=path)
        ctx.structure_problem = "Caffe refuses to set the net up, see CF100"
        return ctx
    _set_up(ctx)
    return ctx


def _needed_input(exc: CaffefillError) -> NeededInput | None:
    """The top whose missing ``--input`` shape stopped the set-up, if that did."""
    return exc.needed_input if isinstance(exc, NetError) else None


def _is_unknown_type(exc: CaffefillError) -> bool:
    return exc.kind is ErrorKind.UNKNOWN_LAYER_TYPE


def _set_up(ctx: AuditContext) -> None:
    assert ctx.filtered is not None
    filtered = ctx.filtered
    inputs = {str(k): tuple(int(d) for d in v) for k, v in ctx.options.inputs.items()}
    cache = SetupCache()  # every attempt below sets up the same layers again
    try:
        ctx.model = build_model(filtered.param, phase=ctx.phase, inputs=inputs, path=ctx.path,
                                positions=filtered.positions, profile=ctx.options.profile,
                                cache=cache)
        ctx.shapes_exact = True
        return
    except CaffefillError as exc:
        first = kept(exc)
    staged = staged_bottom(first, ctx.upgraded.param) if ctx.upgraded is not None else None
    if staged is not None:
        # Not a refusal of the net but of this phase and stages: the audit needs --stage.
        ctx.structure_problem = f"{_short(first)}; {staged}"
        return
    if not (_needed_input(first) is not None or _is_unknown_type(first)):
        ctx.setup_error = first
        ctx.structure_problem = "Caffe refuses to set the net up, see CF100"
        return
    assumed = _assume_record_shapes(ctx, inputs, first, cache)
    if assumed is not None:
        ctx.model, ctx.assumed_inputs = assumed
        ctx.shapes_exact = True
        return
    ctx.shape_problem = _problem_text(first)
    last: CaffefillError = first
    # Image-like placeholders with 3 channels, then 1; last, let layers that the
    # placeholder shapes break pass their input through.
    for channels, lenient in ((3, False), (1, False), (3, True)):
        attempt = _Placeholders(ctx, inputs, channels, lenient, cache)
        model, last = attempt.run(first)
        if model is not None:
            ctx.model = model
            ctx.placeholder_layers = attempt.replaced
            ctx.original_types = attempt.original_types
            return
    ctx.structure_problem = (f"{ctx.shape_problem}; with placeholder shapes the net still "
                             f"cannot be set up: {_short(last)}")


def _record_side(layer: pb.LayerParameter) -> tuple[int, int] | None:
    """The (height, width) every record of a data layer ends up at when the
    prototxt says it (a crop, or ImageData's resize), else None."""
    t = layer.transform_param
    if t.crop_size:
        return int(t.crop_size), int(t.crop_size)
    if t.crop_h and t.crop_w:
        return int(t.crop_h), int(t.crop_w)
    if t.HasField("resize_param") and t.resize_param.height and t.resize_param.width:
        return int(t.resize_param.height), int(t.resize_param.width)  # SSD's resize
    p = layer.image_data_param
    if p.new_height and p.new_width:
        return int(p.new_height), int(p.new_width)
    return None


def _assume_record_shapes(ctx: AuditContext, inputs: Mapping[str, Shape], exc: CaffefillError,
                          cache: SetupCache) -> tuple[NetModel, dict[str, Shape]] | None:
    """Set the net up assuming 3-channel records for every data layer whose
    crop or resize gives the record's size; None when any missing shape is
    not of that kind (or the net still fails)."""
    assert ctx.filtered is not None
    given = dict(inputs)
    assumed: dict[str, Shape] = {}
    by_name = {layer.name: layer for layer in ctx.filtered.param.layer}
    for _ in range(_MAX_RETRIES):
        needed = _needed_input(exc)
        layer = by_name.get(exc.layer or "")
        side = _record_side(layer) if layer is not None else None
        if needed is None or not needed.one_record or side is None or needed.top in given:
            return None
        assumed[needed.top] = given[needed.top] = (3, *side)
        try:
            model = build_model(ctx.filtered.param, phase=ctx.phase, inputs=given,
                                path=ctx.path, positions=ctx.filtered.positions,
                                profile=ctx.options.profile, cache=cache)
        except CaffefillError as again:
            exc = kept(again)
            continue
        return model, assumed
    return None


def _short(exc: CaffefillError) -> str:
    layer = f"layer '{exc.layer}': " if exc.layer else ""
    return f"{layer}{exc.message}"


def _problem_text(exc: CaffefillError) -> str:
    needed = _needed_input(exc)
    if needed is not None:
        return f"layer '{exc.layer}' needs --input {needed.top}={needed.dims}"
    return _short(exc)


class _Placeholders:
    """One attempt at setting the net up with stand-ins for what is missing.

    Tops whose shapes come from outside get placeholder shapes; a layer of
    unknown type (or, when ``lenient``, any layer the placeholders break)
    becomes a pass-through: a Python layer whose tops take its first
    input's shape.
    """

    def __init__(self, ctx: AuditContext, inputs: Mapping[str, Shape], channels: int,
                 lenient: bool, cache: SetupCache) -> None:
        assert ctx.filtered is not None
        self.ctx = ctx
        self.positions = ctx.filtered.positions
        self.param = pb.NetParameter()
        self.param.CopyFrom(ctx.filtered.param)
        self.inputs: dict[str, Shape] = dict(inputs)
        self.channels = channels
        self.lenient = lenient
        self.cache = cache
        self.replaced: set[int] = set()
        self.original_types: dict[int, str] = {}

    def run(self, exc: CaffefillError) -> tuple[NetModel | None, CaffefillError]:
        for _ in range(_MAX_RETRIES):
            if not self.patch(exc):
                return None, exc
            try:
                return self.build(self.param), exc
            except CaffefillError as again:
                exc = kept(again)
        return None, exc

    def build(self, param: pb.NetParameter) -> NetModel:
        return build_model(param, phase=self.ctx.phase, inputs=self.inputs,
                           path=self.ctx.path, positions=self.positions,
                           profile=self.ctx.options.profile, cache=self.cache)

    def index_of(self, exc: CaffefillError) -> int | None:
        if exc.line is not None:
            for i, pos in enumerate(self.positions):
                if tuple(pos) == (exc.line, exc.column):
                    return i
        for i, layer in enumerate(self.param.layer):
            if layer.name == exc.layer:
                return i
        return None

    def patch(self, exc: CaffefillError) -> bool:
        """Give the net what made ``exc`` fail; False when there is nothing to give."""
        index = self.index_of(exc)
        if index is None:
            return False
        layer = self.param.layer[index]
        needed = _needed_input(exc)
        if needed is not None and needed.top not in self.inputs:
            top = needed.top
            if needed.one_record:
                t = layer.transform_param
                side = max(int(t.crop_size or max(t.crop_h, t.crop_w)), _PLACEHOLDER_SIDE)
                self.inputs[top] = (self.channels, side, side)
            else:
                top_index = list(layer.top).index(top) if top in layer.top else 0
                self.inputs[top] = self.stand_in(index, top_index)
            return True
        if index in self.replaced or not (self.lenient or _is_unknown_type(exc)):
            return False
        self.replaced.add(index)
        self.original_types[index] = layer.type
        layer.type = "Python"
        del layer.param[:]
        for top_index, top in enumerate(layer.top):
            if top not in self.inputs or top in layer.bottom:
                self.inputs[top] = self.stand_in(index, top_index)
        return True

    def stand_in(self, index: int, top_index: int) -> Shape:
        """A top shape: the layer's first input's (pass-through), else image-like."""
        layer = self.param.layer[index]
        if layer.bottom:
            partial = pb.NetParameter()
            partial.CopyFrom(self.param)
            del partial.layer[index:]
            try:
                shape = self.build(partial).blob_shapes.get(layer.bottom[0])
            except CaffefillError:
                shape = None
            if shape is not None:
                return tuple(shape)
        if top_index == 0:
            return (1, self.channels, _PLACEHOLDER_SIDE, _PLACEHOLDER_SIDE)
        return (1,)
