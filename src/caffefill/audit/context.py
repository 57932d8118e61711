"""Everything the rules look at for one file, built once.

The audit reads a prototxt in the stages ``caffefill init`` uses (read,
upgrade, filter, set up) and keeps what each stage gave, so that a file that
cannot be set up is still audited as far as it goes:

* ``source`` rules need only the file as written (its filler blocks, with
  their positions) and, when the upgrade works, the V2 layers;
* ``structure`` rules need each layer's learnable blobs (their roles,
  fillers, ``lr_mult``, sharing) and the graph, but no shapes;
* ``shapes`` rules need the exact blob shapes.

When a data layer's top needs ``--input`` or a layer type is unknown, the
context sets the net up a second time with placeholder shapes (a record of
3 x 224 x 224 or the crop; an unknown layer passes its first input's shape
through) to get its *structure*; rules that read shapes are then skipped and
a note says why.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from .._proto import caffefill_pb2 as pb
from ..errors import CaffefillError, ErrorKind, NeededInput, NetError
from ..net.filter import FilteredNet, filter_net
from ..net.load import check_is_net, phase_value, with_stages
from ..net.model import NetLayer, NetModel, build_model
from ..net.reader import FillerBlock, SourceNet, read_net
from ..net.registry import Traits, traits_of
from ..net.spec import BlobSpec, Shape
from ..net.upgrade import UpgradedNet, upgrade_net
from ..profiles import DEFAULT_PROFILE, Profile

#: Blob roles that hold a layer's weights (what mixes its inputs into its outputs).
WEIGHT_ROLES = ("weight",)

_PLACEHOLDER_SIDE = 224
_MAX_RETRIES = 64


@dataclass
class AuditOptions:
    """How to audit: the net state, outside shapes, the Caffe build, thresholds."""

    phase: str = "TRAIN"
    stages: Sequence[str] = ()
    level: int = 0
    inputs: Mapping[str, Sequence[int]] = field(default_factory=dict)
    profile: Profile = DEFAULT_PROFILE
    signal_threshold: float = 100.0
    #: Unknown fields not to report (CF110): ``name`` or ``Message.name``.
    allow_fields: Sequence[str] = ()


@dataclass(frozen=True)
class Place:
    """Where a finding points: a line and column, and the layer it belongs to."""

    line: int | None
    column: int | None
    layer: str | None = None
    layer_line: int | None = None


@dataclass
class BlobRef:
    """One learnable blob of the set-up net, with where its filler is written."""

    layer: NetLayer
    index: int
    spec: BlobSpec
    block: FillerBlock | None
    owner: tuple[int, int] | None
    lr_mult: float

    @property
    def filler(self) -> pb.FillerParameter | None:
        return self.spec.filler

    @property
    def explicit(self) -> bool:
        """Whether the prototxt gives this blob's filler (not Caffe's default)."""
        return bool(self.spec.filler_field)

    @property
    def is_weight(self) -> bool:
        """A blob that mixes inputs into outputs (not a bias, scale, slope, statistic)."""
        role = self.spec.role
        return role in WEIGHT_ROLES or role.startswith("W_")

    @property
    def what(self) -> str:
        """The blob for people: "weights", "W_xc weights", "bias", "scale"."""
        role = self.spec.role or "blob"
        if role == "weight":
            return "weights"
        return f"{role} weights" if self.is_weight else role

    @property
    def frozen(self) -> bool:
        return self.lr_mult == 0.0


@dataclass
class AuditContext:
    """One file, read as far as it goes."""

    path: str
    text: str
    options: AuditOptions
    src: SourceNet
    upgraded: UpgradedNet | None = None
    filtered: FilteredNet | None = None
    model: NetModel | None = None
    shapes_exact: bool = False
    #: A Caffe refusal met while upgrading, filtering or setting up the net.
    setup_error: CaffefillError | None = None
    #: Why the structure (first) and shape (second) tiers are missing, if they are.
    structure_problem: str | None = None
    shape_problem: str | None = None
    #: Input shapes the audit assumed for data layers (``top -> C,H,W``: three
    #: channels at the size the layer crops or resizes to), said in a note.
    assumed_inputs: dict[str, Shape] = field(default_factory=dict)
    #: Layers whose type was unknown (set up as pass-through placeholders).
    placeholder_layers: set[int] = field(default_factory=set)
    original_types: dict[int, str] = field(default_factory=dict)
    _blobs: list[BlobRef] | None = None
    _by_layer: dict[int, list[BlobRef]] | None = None
    _layer_by_key: dict[tuple[str, int], NetLayer] | None = None
    _readers: dict[str, list[int]] | None = None
    _source_index: dict[tuple[int, int], tuple[str, int]] | None = None
    _blocks_by_layer: dict[tuple[str, int], list[FillerBlock]] | None = None
    cache: dict[str, object] = field(default_factory=dict)

    # ------------------------------------------------------------ tiers

    def has(self, tier: str) -> bool:
        """Whether the rules of ``tier`` can run on this file."""
        if tier == "source":
            return True
        if tier == "structure":
            return self.model is not None
        return self.model is not None and self.shapes_exact

    def missing_reason(self, tier: str) -> str:
        if tier == "structure":
            return self.structure_problem or "the net cannot be set up"
        return self.shape_problem or self.structure_problem or "the net cannot be set up"

    @property
    def phase(self) -> int:
        return phase_value(self.options.phase)

    @property
    def profile(self) -> Profile:
        return self.options.profile

    # ------------------------------------------------------------ positions

    def source_key(self, line: int | None, column: int | None) -> tuple[str, int] | None:
        """The ``('layer'|'layers', index)`` entry written at (line, column)."""
        if self._source_index is None:
            index: dict[tuple[int, int], tuple[str, int]] = {}
            for i, pos in enumerate(self.src.layer_positions):
                index[tuple(pos)] = ("layer", i)  # type: ignore[index]
            for i, pos in enumerate(self.src.legacy_positions):
                index[tuple(pos)] = ("layers", i)  # type: ignore[index]
            self._source_index = index
        if line is None or column is None:
            return None
        return self._source_index.get((line, column))

    def source_position(self, list_name: str, index: int) -> tuple[int, int] | None:
        positions = self.src.layer_positions if list_name == "layer" else \
            self.src.legacy_positions
        if 0 <= index < len(positions):
            line, column = positions[index]
            return int(line), int(column)
        return None

    def blocks_of(self, key: tuple[str, int] | None) -> list[FillerBlock]:
        """The filler blocks written inside one source layer entry."""
        if self._blocks_by_layer is None:
            grouped: dict[tuple[str, int], list[FillerBlock]] = {}
            for block in self.src.filler_blocks:
                grouped.setdefault((block.list_name, block.layer_index), []).append(block)
            self._blocks_by_layer = grouped
        if key is None:
            return []
        return self._blocks_by_layer.get(key, [])

    def block_place(self, block: FillerBlock) -> Place:
        layer_pos = self.source_position(block.list_name, block.layer_index)
        return Place(block.line, block.column, block.layer_name,
                     layer_pos[0] if layer_pos else None)

    def layer_place(self, layer: NetLayer) -> Place:
        return Place(layer.line, layer.column, layer.name, layer.line)

    def blob_place(self, blob: BlobRef) -> Place:
        """The filler block's position when it is written, else the layer's."""
        if blob.block is not None:
            return Place(blob.block.line, blob.block.column, blob.layer.name, blob.layer.line)
        return self.layer_place(blob.layer)

    def layer_for_block(self, block: FillerBlock) -> NetLayer | None:
        """The set-up layer a filler block belongs to (None: not in this phase)."""
        if self.model is None:
            return None
        if self._layer_by_key is None:
            found: dict[tuple[str, int], NetLayer] = {}
            for layer in self.model.layers:
                key = self.source_key(layer.line, layer.column)
                if key is not None:
                    found[key] = layer
            self._layer_by_key = found
        return self._layer_by_key.get((block.list_name, block.layer_index))

    # ------------------------------------------------------------ blobs

    def blobs(self) -> list[BlobRef]:
        """Every learnable blob of the set-up net, in net order (structure tier)."""
        if self._blobs is not None:
            return self._blobs
        refs: list[BlobRef] = []
        if self.model is not None:
            for layer in self.model.layers:
                if layer.index in self.placeholder_layers:
                    continue
                blocks = self.blocks_of(self.source_key(layer.line, layer.column))
                for i, spec in enumerate(layer.blobs):
                    specs = layer.param.param
                    lr = float(specs[i].lr_mult) if i < len(specs) else 1.0
                    refs.append(BlobRef(layer, i, spec, _match_block(blocks, spec),
                                        layer.owners[i] if i < len(layer.owners) else None, lr))
        self._blobs = refs
        return refs

    def filled_blobs(self, *types: str, weights: bool = False
                     ) -> Iterator[tuple[BlobRef, pb.FillerParameter]]:
        """The blobs whose values come from a filler the file writes for them (explicit,
        not shared from another layer's param), with that filler; ``types``: only
        fillers of those types; ``weights``: only weights."""
        for blob in self.blobs():
            filler = blob.filler
            if filler is None or not blob.explicit or blob.owner is not None \
                    or (types and filler.type not in types) or (weights and not blob.is_weight):
                continue
            yield blob, filler

    def layer_blobs(self, layer: NetLayer) -> list[BlobRef]:
        """The learnable blobs of one layer, in blob order."""
        if self._by_layer is None:
            grouped: dict[int, list[BlobRef]] = {}
            for blob in self.blobs():
                grouped.setdefault(blob.layer.index, []).append(blob)
            self._by_layer = grouped
        return self._by_layer.get(layer.index, [])

    def owner_blob(self, blob: BlobRef) -> BlobRef:
        """The blob whose filler decides this one's values (itself unless shared)."""
        if blob.owner is None or self.model is None:
            return blob
        owner_layer, owner_index = blob.owner
        for other in self.layer_blobs(self.model.layers[owner_layer]):
            if other.index == owner_index:
                return other
        return blob

    # ------------------------------------------------------------ graph

    def readers(self, name: str) -> list[int]:
        """Indices of the layers that read blob ``name``, in net order."""
        if self._readers is None:
            readers: dict[str, list[int]] = {}
            if self.model is not None:
                for layer in self.model.layers:
                    for bottom in dict.fromkeys(layer.bottoms):
                        readers.setdefault(bottom, []).append(layer.index)
            self._readers = readers
        return self._readers.get(name, [])

    def consumers(self, layer: NetLayer) -> list[NetLayer]:
        """The later layers that read one of ``layer``'s tops as this layer left it:
        up to and including the next layer that rewrites the top in place (the
        readers after that one read its output)."""
        assert self.model is not None
        found: dict[int, None] = {}
        layers = self.model.layers
        for top in layer.tops:
            readers = self.readers(top)
            for at in range(bisect.bisect_right(readers, layer.index), len(readers)):
                index = readers[at]
                found[index] = None
                if top in layers[index].tops:
                    break
        return [layers[i] for i in sorted(found)]

    def layer_type(self, layer: NetLayer) -> str:
        """The type as written (a placeholder layer keeps its unknown type)."""
        return self.original_types.get(layer.index, layer.type)

    def traits(self, layer: NetLayer) -> Traits:
        """What the layer's type is to the audit (a placeholder layer's unknown
        type has the default traits)."""
        return traits_of(self.layer_type(layer))

    def is_loss(self, layer: NetLayer) -> bool:
        """A loss by its traits, by its type's name (a type caffefill does not
        know), or by a non-zero ``loss_weight``."""
        t = self.layer_type(layer)
        return self.traits(layer).role == "loss" or t.endswith("Loss") or \
            any(w != 0 for w in layer.param.loss_weight)

    def has_loss(self) -> bool:
        return self.model is not None and any(self.is_loss(layer) for layer in self.model.layers)

    def weight_blobs(self, layer: NetLayer) -> list[BlobRef]:
        """The blobs of ``layer`` that are weights (not biases, scales, statistics)."""
        return [b for b in self.layer_blobs(layer) if b.is_weight]


def _match_block(blocks: Sequence[FillerBlock], spec: BlobSpec) -> FillerBlock | None:
    """The filler block a blob's filler came from (V0 blocks match by field name)."""
    if not spec.filler_field:
        return None
    for block in blocks:
        if block.known and block.field_path == spec.filler_field:
            return block
    last = spec.filler_field.rsplit(".", 1)[-1]
    for block in blocks:
        if block.known and block.field_path == f"layer.{last}":
            return block
    return None


# ---------------------------------------------------------------- loading


def load_context(path: str, text: str, options: AuditOptions) -> AuditContext:
    """Read ``text`` (the file at ``path``) and set it up as far as it goes.

    Raises the reader's ParseError when the file cannot be read at all.
    """
    src = read_net(path, text=text)
    check_is_net(src)
    ctx = AuditContext(path=path, text=text, options=options, src=src)
    try:
        ctx.upgraded = upgrade_net(src)
        ctx.filtered = filter_net(ctx.upgraded.param, phase=ctx.phase,
                                  level=options.level, stages=list(options.stages),
                                  positions=ctx.upgraded.positions, path=path)
    except CaffefillError as exc:
        ctx.setup_error = exc.located(path=path)
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
    try:
        ctx.model = build_model(filtered.param, phase=ctx.phase, inputs=inputs, path=ctx.path,
                                positions=filtered.positions, profile=ctx.options.profile)
        ctx.shapes_exact = True
        return
    except CaffefillError as exc:
        first = exc
    if not (_needed_input(first) is not None or _is_unknown_type(first)):
        ctx.setup_error = with_stages(first, ctx.upgraded.param) \
            if isinstance(first, NetError) and ctx.upgraded is not None else first
        ctx.structure_problem = "Caffe refuses to set the net up, see CF100"
        return
    assumed = _assume_record_shapes(ctx, inputs, first)
    if assumed is not None:
        ctx.model, ctx.assumed_inputs = assumed
        ctx.shapes_exact = True
        return
    ctx.shape_problem = _problem_text(first)
    last: CaffefillError = first
    # Image-like placeholders with 3 channels, then 1; last, let layers that the
    # placeholder shapes break pass their input through.
    for channels, lenient in ((3, False), (1, False), (3, True)):
        attempt = _Placeholders(ctx, inputs, channels, lenient)
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


def _assume_record_shapes(ctx: AuditContext, inputs: Mapping[str, Shape],
                          exc: CaffefillError) -> tuple[NetModel, dict[str, Shape]] | None:
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
                                path=ctx.path, positions=ctx.filtered.positions)
        except CaffefillError as again:
            exc = again
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
                 lenient: bool) -> None:
        assert ctx.filtered is not None
        self.ctx = ctx
        self.positions = ctx.filtered.positions
        self.param = pb.NetParameter()
        self.param.CopyFrom(ctx.filtered.param)
        self.inputs: dict[str, Shape] = dict(inputs)
        self.channels = channels
        self.lenient = lenient
        self.replaced: set[int] = set()
        self.original_types: dict[int, str] = {}

    def run(self, exc: CaffefillError) -> tuple[NetModel | None, CaffefillError]:
        for _ in range(_MAX_RETRIES):
            if not self.patch(exc):
                return None, exc
            try:
                return self.build(self.param), exc
            except CaffefillError as again:
                exc = again
        return None, exc

    def build(self, param: pb.NetParameter) -> NetModel:
        return build_model(param, phase=self.ctx.phase, inputs=self.inputs,
                           path=self.ctx.path, positions=self.positions,
                           profile=self.ctx.options.profile)

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
