"""CF207: random fillers on frozen blobs (lr_mult: 0)."""

from __future__ import annotations

from collections.abc import Iterator

from ...filler_stats import describe
from ..context import AuditContext
from ..finding import Finding
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
    match), training silently runs with noise.

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
        for blob in ctx.blobs():
            filler = blob.filler
            if filler is None or filler.type not in RANDOM_TYPES or not blob.frozen \
                    or not blob.explicit or blob.owner is not None:
                continue
            yield self.finding(
                ctx, ctx.blob_place(blob),
                f"the {blob.what} of this {blob.layer.type} layer are frozen (lr_mult: 0) but "
                f"filled at random ({describe(filler)}): unless a .caffemodel replaces them, "
                f"they stay random noise",
                "train them (lr_mult > 0), or load them from a .caffemodel whose layer names "
                "match")
