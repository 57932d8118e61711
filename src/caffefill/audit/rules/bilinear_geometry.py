"""CF204: a bilinear kernel whose size does not match its stride."""

from __future__ import annotations

from collections.abc import Iterator

from ..context import AuditContext
from ..finding import Finding
from ..rule import Rule


class BilinearGeometry(Rule):
    """A bilinear Deconvolution's kernel size is not `2 * f - f % 2` for its stride `f`.

    ## What it does
    For Deconvolution layers with a `bilinear` weight filler, compares the
    kernel size with the upsampling factor (the stride `f`): Caffe's
    BilinearFiller documentation gives `kernel_size: 2 * f - f % 2` (4 for
    2x, 16 for 8x, 64 for 32x), and `pad: ceil((f - 1) / 2)` unless the
    output is cropped afterwards.

    ## Why is this bad?
    The filler's kernel is computed from the kernel size alone (its factor
    is `ceil(k / 2)`): with another stride it interpolates at the wrong
    positions, overlapping or leaving gaps, and the output shows a checker
    pattern instead of a smooth upsampling.

    ## Example
    ```prototxt
    convolution_param { num_output: 21 group: 21 kernel_size: 3 stride: 2
                        weight_filler { type: "bilinear" } }
    ```

    ## Use instead
    ```prototxt
    convolution_param { num_output: 21 group: 21 kernel_size: 4 stride: 2 pad: 1
                        weight_filler { type: "bilinear" } }
    ```
    """

    code = "CF204"
    name = "bilinear-geometry"
    severity = "warning"
    tier = "structure"

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        for blob, _ in ctx.filled_blobs("bilinear"):
            layer = blob.layer
            if layer.type != "Deconvolution" or layer.window is None:
                continue
            kernel = blob.spec.shape[2:]
            if len(set(kernel)) != 1:
                continue  # not a square kernel: CF107
            for k, f in zip(kernel, layer.window.stride, strict=False):
                want = 2 * f - f % 2
                if k != want:
                    fix = f"use kernel_size: {want} with stride: {f}"
                    other = (k + 1) // 2
                    if 2 * other - other % 2 == k:
                        fix += f" (or stride: {other} for kernel_size {k})"
                    yield self.finding(
                        ctx, ctx.blob_place(blob),
                        f"bilinear kernel size {k} does not match stride {f}: upsampling by "
                        f"{f} needs kernel_size {want} (2 * f - f % 2)", fix)
                    break
