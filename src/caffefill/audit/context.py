"""Everything the rules look at for one file: the query side.

An :class:`AuditContext` holds what each stage of reading a prototxt gave
(see :mod:`caffefill.audit.loading`, which builds it), so that a file that
cannot be set up is still audited as far as it goes:

* ``source`` rules need only the file as written (its filler blocks, with
  their positions) and, when the upgrade works, the V2 layers;
* ``structure`` rules need each layer's learnable blobs (their roles,
  fillers, ``lr_mult``, sharing) and the graph, but no shapes;
* ``shapes`` rules need the exact blob shapes.

The context answers the rules' questions: blobs and their filler blocks,
positions, readers and consumers of a blob, a layer's traits.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from .._proto import caffefill_pb2 as pb
from ..errors import CaffefillError
from ..net.filter import FilteredNet
from ..net.load import phase_value
from ..net.model import NetLayer, NetModel
from ..net.reader import FillerBlock, SourceNet
from ..net.registry import Traits, traits_of
from ..net.spec import BlobSpec, Shape
from ..net.upgrade import UpgradedNet
from ..profiles import DEFAULT_PROFILE, Profile

#: Blob roles that hold a layer's weights (what mixes its inputs into its outputs).
WEIGHT_ROLES = ("weight",)


@dataclass(eq=False, repr=False)  # passed along, never compared or shown
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


@dataclass(eq=False, repr=False)  # a per-file working state: never compared or shown
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
    #: Per layer index: its traits and whether it is a loss (asked for by every rule).
    _traits: dict[int, Traits] = field(default_factory=dict)
    _losses: dict[int, bool] = field(default_factory=dict)
    _weights: dict[int, list[BlobRef]] = field(default_factory=dict)
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
        found = self._traits.get(layer.index)
        if found is None:
            found = self._traits[layer.index] = traits_of(self.layer_type(layer))
        return found

    def is_loss(self, layer: NetLayer) -> bool:
        """A loss by its traits, by its type's name (a type caffefill does not
        know), or by a non-zero ``loss_weight``."""
        found = self._losses.get(layer.index)
        if found is None:
            found = self._losses[layer.index] = (
                self.traits(layer).role == "loss" or self.layer_type(layer).endswith("Loss")
                or any(w != 0 for w in layer.param.loss_weight))
        return found

    def has_loss(self) -> bool:
        return self.model is not None and any(self.is_loss(layer) for layer in self.model.layers)

    def weight_blobs(self, layer: NetLayer) -> list[BlobRef]:
        """The blobs of ``layer`` that are weights (not biases, scales, statistics);
        the list is the context's own (read it, do not change it)."""
        found = self._weights.get(layer.index)
        if found is None:
            found = self._weights[layer.index] = [b for b in self.layer_blobs(layer)
                                                  if b.is_weight]
        return found


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
