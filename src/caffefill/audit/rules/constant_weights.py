"""CF102: weights filled with one constant value."""

from __future__ import annotations

from collections.abc import Iterator

from ..._proto import caffefill_pb2 as pb
from ..context import AuditContext
from ..finding import Finding
from ..graph import is_head
from ..rule import Rule


def constant_reason(filler: pb.FillerParameter | None) -> str | None:
    """Why a filler gives every value the same number (None: it does not)."""
    if filler is None:
        return None
    if filler.type == "constant":
        return f"a constant filler ({filler.value:g})"
    if filler.type == "uniform" and float(filler.min) == float(filler.max):
        return f"a uniform filler with min == max ({filler.min:g})"
    if filler.type == "gaussian" and filler.sparse == 0:
        return "a sparse gaussian with sparse: 0 (every weight is zeroed)"
    return None


class ConstantWeights(Rule):
    """Learnable weights of a hidden layer are filled with one constant value.

    ## What it does
    Flags the weights of Convolution, Deconvolution, InnerProduct, Embed and
    recurrent layers whose filler gives every value the same number:
    `constant`, a `uniform` with `min == max`, a gaussian with `sparse: 0`.
    Not flagged: biases, bilinear kernels, BatchNorm statistics, Scale and
    PReLU parameters (their constants 1 and 0.25 are the intended start),
    frozen weights (`lr_mult: 0`, a fixed kernel), shared params' non-owning
    layers, and layers whose output goes only to losses.

    ## Why is this bad?
    With identical weights every unit of the layer computes the same
    function of its input and gets the same gradient: the symmetry between
    units is never broken by the layer itself, so they learn the same
    features (or, with zeros before a ReLU, nothing at all).

    ## Example
    ```prototxt
    convolution_param { num_output: 64 kernel_size: 3
                        weight_filler { type: "constant" value: 0.01 } }
    ```

    ## Use instead
    ```prototxt
    convolution_param { num_output: 64 kernel_size: 3 weight_filler { type: "msra" } }
    ```
    """

    code = "CF102"
    name = "constant-weights"
    severity = "error"
    tier = "structure"

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        for blob, filler in ctx.filled_blobs(weights=True):
            reason = constant_reason(filler)
            if blob.frozen or reason is None or is_head(ctx, blob.layer):
                continue
            yield self.finding(
                ctx, ctx.blob_place(blob),
                f"the {blob.what} of this {blob.layer.type} layer come from {reason}: "
                f"all its units start identical",
                'use a random filler (type: "msra" before ReLU, "xavier" otherwise)')
