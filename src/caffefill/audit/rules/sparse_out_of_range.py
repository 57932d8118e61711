"""CF105: a sparse gaussian asking for more non-zero inputs than there are."""

from __future__ import annotations

from ._refusal import RefusalRule


class SparseOutOfRange(RefusalRule):
    """`sparse` is below -1, or larger than the blob's first axis.

    ## What it does
    Checks a sparse gaussian's `sparse` against the blob it fills: the
    filler keeps each weight with probability `sparse / shape[0]` (the
    number of outputs of an InnerProduct), which must not exceed 1; and
    `sparse` itself must be -1 (dense) or a count.  The comparison with the
    blob needs the net's shapes.

    ## Why is this bad?
    Caffe checks `p <= 1` and `sparse >= -1` and aborts at setup.

    ## Example
    ```prototxt
    # 10 outputs, but 15 non-zero weights asked for per input
    inner_product_param { num_output: 10 weight_filler { type: "gaussian" std: 1 sparse: 15 } }
    ```

    ## Use instead
    ```prototxt
    inner_product_param { num_output: 10 weight_filler { type: "gaussian" std: 1 sparse: 5 } }
    ```
    """

    code = "CF105"
    name = "sparse-out-of-range"
    partly_shapes = True
