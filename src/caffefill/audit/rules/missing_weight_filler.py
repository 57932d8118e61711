"""CF101: weights without a filler (Caffe fills them with zeros)."""

from __future__ import annotations

from collections.abc import Iterator

from ..context import AuditContext
from ..finding import Finding
from ..graph import feeds_normalization, is_head, pretrained_backbone
from ..rule import Rule


class MissingWeightFiller(Rule):
    """Learnable weights of a hidden layer have no filler, so they start at zero.

    ## What it does
    Flags the weights of Convolution, Deconvolution, InnerProduct, Embed
    and recurrent layers that give no `weight_filler`, when the layer's
    output feeds another layer with trained weights.  Not flagged: biases;
    frozen weights (`lr_mult: 0`); a layer whose output goes only to
    losses (an output layer, such as FCN's zero-initialised score layers);
    a layer whose output goes only into normalizing layers (BatchNorm,
    MVN, ...; directly or through layers that only move data), whose
    per-channel backward gives every unit its own gradient (ENet's
    filler-less Deconvolutions); a shared param's non-owning layers; and a pretrained front (two or
    more weight layers written without any filler and with no filled layer
    above them, as in fine-tuning files and files without fillers: see
    CF306).

    ## Why is this bad?
    A missing filler is Caffe's default `FillerParameter`: `constant` 0.
    Every unit of the layer computes the same output and, with a ReLU
    after it, the same zero gradient: the layer never learns, or all its
    units learn the same thing.  The graph decides: the symmetry between
    units holds when what reads their outputs treats them alike, and a
    normalizing layer does not.

    ## Example
    ```prototxt
    layer {
      name: "fc6" type: "InnerProduct" bottom: "pool5" top: "fc6"
      inner_product_param { num_output: 4096 }
    }
    ```

    ## Use instead
    ```prototxt
    layer {
      name: "fc6" type: "InnerProduct" bottom: "pool5" top: "fc6"
      inner_product_param { num_output: 4096 weight_filler { type: "msra" } }
    }
    ```
    """

    code = "CF101"
    name = "missing-weight-filler"
    severity = "error"
    tier = "structure"

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        backbone = {layer.index for layer in pretrained_backbone(ctx)}
        reported: set[int] = set()
        for blob in ctx.blobs():
            layer = blob.layer
            if (not blob.is_weight or blob.explicit or blob.owner is not None or blob.frozen
                    or layer.index in backbone or layer.index in reported):
                continue
            if is_head(ctx, layer) or feeds_normalization(ctx, layer):
                continue
            reported.add(layer.index)
            yield self.finding(
                ctx, ctx.layer_place(layer),
                f"the {blob.what} of this {layer.type} layer have no filler: Caffe fills "
                f"them with zeros, so its units start identical",
                'add a weight_filler (type: "msra" before ReLU, "xavier" otherwise)')
