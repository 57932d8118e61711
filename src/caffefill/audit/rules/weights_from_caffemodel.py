"""CF306: a trainable net whose front layers have no fillers at all."""

from __future__ import annotations

from collections.abc import Iterator

from ..context import AuditContext
from ..finding import Finding
from ..graph import pretrained_backbone
from ..rule import Rule


class WeightsFromCaffemodel(Rule):
    """The net's front layers have no fillers: it trains only from a .caffemodel.

    ## What it does
    In nets with a loss, finds the weight layers written without any filler
    block that have no filled layer upstream (two or more of them): the
    pattern of fine-tuning files, where a pretrained backbone is loaded
    with `--weights` and only the new layers are filled.  Reported once per
    net, listing the layers; CF101 does not report them.

    ## Why is this bad?
    It is fine when the weights are loaded.  Started without them - a
    missing `--weights`, or renamed layers that no longer match the
    .caffemodel - those layers are all zeros, and the net cannot learn.

    ## Example
    ```prototxt
    layer { name: "conv1" type: "Convolution" ... convolution_param { num_output: 96 ... } }
    ```

    ## Use instead
    ```prototxt
    layer { name: "conv1" type: "Convolution" ...
            convolution_param { num_output: 96 ... weight_filler { type: "msra" } } }
    ```
    (or keep it and always train with `--weights pretrained.caffemodel`).
    """

    code = "CF306"
    name = "weights-from-caffemodel"
    severity = "info"
    tier = "structure"

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        if not ctx.has_loss():
            return
        layers = pretrained_backbone(ctx)
        if not layers:
            return
        names = [layer.name for layer in layers]
        shown = ", ".join(f"'{n}'" for n in names[:4])
        if len(names) > 4:
            shown += f", ... '{names[-1]}'"
        yield self.finding(
            ctx, ctx.layer_place(layers[0]),
            f"{len(names)} weight layers have no filler ({shown}): Caffe starts them at zero, "
            f"so this net trains only from a .caffemodel's weights",
            "train with --weights pretrained.caffemodel (layer names must match), or add "
            "fillers to train from scratch")
