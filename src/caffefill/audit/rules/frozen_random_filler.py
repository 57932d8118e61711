"""CF207: random fillers on frozen blobs (lr_mult: 0)."""

from __future__ import annotations

from collections.abc import Iterator

from ...fillers import describe
from ..context import AuditContext
from ..finding import Finding
from ..graph import data_bottoms, learns_weights
from ..rule import Rule

RANDOM_TYPES = frozenset({"gaussian", "uniform", "xavier", "msra", "positive_unitball"})


class FrozenRandomFiller(Rule):
    """A blob with `lr_mult: 0` is filled with random values.

    ## What it does
    Flags blobs that are never trained (`param { lr_mult: 0 }`) but whose
    filler is random (gaussian, uniform, xavier, msra, positive_unitball).
    Not flagged: bilinear and constant fillers (fixed kernels and scales
    are what frozen blobs are for) and BatchNorm's statistics.

    ## Why is this bad?
    The random values stay as they are for the whole training: the layer is
    a fixed random projection.  That is almost always a fine-tuning file
    whose frozen layers are expected to be loaded from a .caffemodel - if
    the weights are not loaded (or the layer was renamed, so they do not
    match), training silently runs with noise.  Frozen layers at the front
    of the net (no trained weight layer above them: the usual "freeze the
    first blocks of a pretrained backbone") are reported once, together.

    ## Example
    ```prototxt
    param { lr_mult: 0 }
    convolution_param { num_output: 64 kernel_size: 3 weight_filler { type: "xavier" } }
    ```

    ## Use instead
    ```prototxt
    param { lr_mult: 1 }
    convolution_param { num_output: 64 kernel_size: 3 weight_filler { type: "xavier" } }
    ```
    (or keep `lr_mult: 0` and make sure the weights come from `--weights`).
    """

    code = "CF207"
    name = "frozen-random-filler"
    severity = "warning"
    tier = "structure"

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        blobs = [blob for blob, _ in ctx.filled_blobs(*RANDOM_TYPES) if blob.frozen]
        if not blobs:
            return
        front = _frozen_front(ctx)
        leading = [blob for blob in blobs if blob.layer.index in front]
        if leading:
            names = list(dict.fromkeys(blob.layer.name for blob in leading))
            shown = ", ".join(f"'{n}'" for n in names[:4]) + (", ..." if len(names) > 4 else "")
            count = f"{len(names)} frozen layers" if len(names) > 1 else "1 frozen layer"
            yield self.finding(
                ctx, ctx.blob_place(leading[0]),
                f"{count} at the front of the net ({shown}) are filled at random with "
                f"lr_mult: 0: unless a .caffemodel replaces them, they stay random noise",
                "train with --weights pretrained.caffemodel (layer names must match)")
        for blob in blobs:
            if blob.layer.index in front:
                continue
            yield self.finding(
                ctx, ctx.blob_place(blob),
                f"the {blob.what} of this {blob.layer.type} layer are frozen (lr_mult: 0) but "
                f"filled at random ({describe(blob.filler)}): unless a .caffemodel replaces "
                f"them, they stay random noise",
                "train them (lr_mult > 0), or load them from a .caffemodel whose layer names "
                "match")


def _frozen_front(ctx: AuditContext) -> set[int]:
    """The layers no trained weight layer feeds (directly or not)."""
    assert ctx.model is not None
    trained: dict[str, bool] = {}
    front: set[int] = set()
    for layer in ctx.model.layers:
        upstream = any(trained.get(name, False) for name in data_bottoms(ctx, layer))
        if not upstream:
            front.add(layer.index)
        for name in layer.tops:
            trained[name] = upstream or learns_weights(ctx, layer)
    return front



