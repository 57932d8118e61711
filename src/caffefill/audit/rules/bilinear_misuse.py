"""CF203: bilinear weights on a layer that does not upsample channel by channel."""

from __future__ import annotations

from collections.abc import Iterator

from ..context import AuditContext
from ..finding import Finding
from ..rule import Rule


class BilinearMisuse(Rule):
    """A `bilinear` filler on a layer that is not a frozen, channel-wise Deconvolution.

    ## What it does
    Checks the layers whose weights are bilinear: the filler writes the same
    interpolation kernel into every (input, output) channel pair, so it
    only means "upsample each channel" on a Deconvolution with
    `group == channels == num_output`; and as a fixed interpolation it is
    meant to stay fixed (`lr_mult: 0`).  Needs the net's shapes (the
    input's channel count).

    ## Why is this bad?
    With `group: 1`, each output channel sums the upsampled maps of *all*
    input channels: the result is not an interpolation but a blur of the
    channel sum, C times too large.  On a Convolution it is a strided blur.
    With a non-zero `lr_mult` the kernel drifts away from an interpolation
    (sometimes wanted, hence a warning).

    ## Example
    ```prototxt
    layer {
      name: "upscore" type: "Deconvolution" bottom: "score" top: "upscore"
      convolution_param { num_output: 21 kernel_size: 4 stride: 2 bias_term: false
                          weight_filler { type: "bilinear" } }
    }
    ```

    ## Use instead
    ```prototxt
    layer {
      name: "upscore" type: "Deconvolution" bottom: "score" top: "upscore"
      param { lr_mult: 0 decay_mult: 0 }
      convolution_param { num_output: 21 group: 21 kernel_size: 4 stride: 2 bias_term: false
                          weight_filler { type: "bilinear" } }
    }
    ```
    """

    code = "CF203"
    name = "bilinear-misuse"
    severity = "warning"
    tier = "shapes"

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        for blob, _ in ctx.filled_blobs("bilinear"):
            layer = blob.layer
            problems = []
            if layer.type != "Deconvolution":
                problems.append(f"a {layer.type} layer is not an upsampling Deconvolution")
            else:
                p = layer.param.convolution_param
                bottom = layer.bottom_shapes[0] if layer.bottom_shapes else ()
                axis = int(p.axis) if p.axis >= 0 else len(bottom) + int(p.axis)
                channels = int(bottom[axis]) if 0 <= axis < len(bottom) else None
                group, outputs = int(p.group), int(p.num_output)
                if not (channels == outputs == group):
                    problems.append(
                        f"it is not channel-wise (input channels {channels}, num_output "
                        f"{outputs}, group {group}: all three must be equal), so every output "
                        f"channel sums all input channels")
            if not blob.frozen:
                problems.append(f"lr_mult is {blob.lr_mult:g}, so the interpolation kernel "
                                f"is trained away")
            if problems:
                yield self.finding(
                    ctx, ctx.blob_place(blob), "bilinear weights: " + "; ".join(problems),
                    "use a Deconvolution with group == num_output == input channels and "
                    "param { lr_mult: 0 decay_mult: 0 }")
