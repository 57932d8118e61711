"""CF301: xavier weights in front of ReLUs."""

from __future__ import annotations

from ._activation import ActivationMismatch


class XavierBeforeRelu(ActivationMismatch):
    """`xavier` weights feed ReLU activations (`msra` is derived for ReLU).

    ## What it does
    Finds weight layers filled with `xavier` whose output goes (through
    pooling, concatenation, sums and the like, but no normalization) into
    a ReLU, PReLU or ELU, and reports them once per net.

    ## Why is this bad?
    Xavier keeps the variance constant for linear or tanh-like units: a
    ReLU passes only half of it, so every xavier + ReLU layer halves the
    signal's variance.  Harmless in shallow nets (and common, e.g.
    GoogLeNet), it compounds in deep ones - CF202 reports when it does.
    `msra` (He et al. 2015) doubles the variance to compensate.

    ## Example
    ```prototxt
    weight_filler { type: "xavier" }   # followed by a ReLU
    ```

    ## Use instead
    ```prototxt
    weight_filler { type: "msra" }
    ```
    """

    code = "CF301"
    name = "xavier-before-relu"
    filler_type = "xavier"
    activation = "relu"
    better = "msra"
    why = "ReLU"
