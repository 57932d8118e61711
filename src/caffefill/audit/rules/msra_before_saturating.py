"""CF302: msra weights in front of sigmoid/tanh."""

from __future__ import annotations

from ._activation import ActivationMismatch


class MsraBeforeSaturating(ActivationMismatch):
    """`msra` weights feed Sigmoid or TanH activations (`xavier` fits them).

    ## What it does
    Finds weight layers filled with `msra` whose output goes (through
    pooling, concatenation, sums and the like, but no normalization) into
    a Sigmoid or TanH, and reports them once per net.

    ## Why is this bad?
    msra doubles the variance to make up for the half a ReLU drops; a
    saturating activation drops nothing, so the pre-activations start
    twice as wide as intended, pushing more units into the flat, slow-
    learning ends of the sigmoid or tanh.

    ## Example
    ```prototxt
    weight_filler { type: "msra" }   # followed by a TanH
    ```

    ## Use instead
    ```prototxt
    weight_filler { type: "xavier" }
    ```
    """

    code = "CF302"
    name = "msra-before-saturating"
    filler_type = "msra"
    activation = "saturating"
    better = "xavier"
    why = "sigmoid/tanh"
