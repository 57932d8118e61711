"""CF108: a fan-based filler on a blob with more than 4 axes (Caffe 1.0)."""

from __future__ import annotations

from ._refusal import RefusalRule


class LegacyAxesFill(RefusalRule):
    """`xavier`, `msra` or `positive_unitball` on a blob with more than 4 axes.

    ## What it does
    Flags these fillers on blobs with 5 or more axes (the weights of a 3-D
    convolution, say) when auditing for Caffe 1.0 (`--caffe 1.0`, the
    default).  Needs the net's shapes.

    ## Why is this bad?
    Caffe 1.0 computes fan-in and fan-out through the legacy `num()` and
    `channels()` accessors, which check `num_axes() <= 4` ("Cannot use
    legacy accessors on Blobs with > 4 axes."): Caffe aborts at setup.
    BVLC master (after 2018) reads `shape(0)`/`shape(1)` and accepts it
    (see CF305).

    ## Example
    ```prototxt
    # a 3-D convolution: weights [64, 3, 3, 3, 3]
    convolution_param { num_output: 64 kernel_size: 3 weight_filler { type: "msra" } }
    ```

    ## Use instead
    ```prototxt
    # std = sqrt(2 / fan_in), fan_in = 3 * 3 * 3 * 3 = 81
    convolution_param { num_output: 64 kernel_size: 3
                        weight_filler { type: "gaussian" std: 0.157 } }
    ```
    """

    code = "CF108"
    name = "legacy-axes-fill"
    tier = "shapes"

    fix = ("use a gaussian with std sqrt(2/fan_in) (msra) or a uniform with bound "
           "sqrt(3/fan_in) (xavier), or build with BVLC master")
