"""CF104: ``sparse`` on a filler other than gaussian."""

from __future__ import annotations

from ._refusal import RefusalRule


class SparseWithoutGaussian(RefusalRule):
    """`sparse` is given to a filler that is not `gaussian`.

    ## What it does
    Flags a filler block that sets `sparse` with a type other than
    `gaussian`, the only filler that implements sparsity.

    ## Why is this bad?
    Every other filler checks `sparse == -1` ("Sparsity not supported by
    this Filler.") and Caffe aborts at setup.

    ## Example
    ```prototxt
    weight_filler { type: "xavier" sparse: 15 }
    ```

    ## Use instead
    ```prototxt
    weight_filler { type: "gaussian" std: 0.1 sparse: 15 }
    ```
    """

    code = "CF104"
    name = "sparse-without-gaussian"
