"""CF107: bilinear on a blob that is not a square 4-D kernel."""

from __future__ import annotations

from ._refusal import RefusalRule


class BilinearBadKernel(RefusalRule):
    """A `bilinear` filler fills a blob that is not a 4-D square kernel.

    ## What it does
    Checks the shape of every blob a bilinear filler fills: it must have 4
    axes (N, C, K, K) with equal height and width.  This needs the net's
    shapes: a 3-D convolution or an InnerProduct has no 4-D kernel, and
    `kernel_h`/`kernel_w` that differ give a rectangle.

    ## Why is this bad?
    `BilinearFiller` checks `num_axes() == 4` ("Blob must be 4 dim.") and
    `width() == height()` ("Filter must be square"): Caffe aborts at setup.

    ## Example
    ```prototxt
    convolution_param { num_output: 21 group: 21 kernel_h: 4 kernel_w: 2 stride: 2
                        weight_filler { type: "bilinear" } }
    ```

    ## Use instead
    ```prototxt
    convolution_param { num_output: 21 group: 21 kernel_size: 4 stride: 2
                        weight_filler { type: "bilinear" } }
    ```
    """

    code = "CF107"
    name = "bilinear-bad-kernel"
    tier = "shapes"
