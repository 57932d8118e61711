"""CF109: a gaussian whose std is not positive."""

from __future__ import annotations

from ._refusal import RefusalRule


class NonpositiveStd(RefusalRule):
    """A `gaussian` filler with `std` zero, negative or NaN.

    ## What it does
    Flags gaussian fillers whose `std` is not greater than zero.

    ## Why is this bad?
    Boost's normal distribution checks `sigma > 0` and Caffe aborts at
    setup.  A zero std is usually meant as a constant fill.

    ## Example
    ```prototxt
    bias_filler { type: "gaussian" std: 0 }
    ```

    ## Use instead
    ```prototxt
    bias_filler { type: "constant" value: 0 }
    ```
    """

    code = "CF109"
    name = "nonpositive-std"

    fix = 'use type: "constant" for a fixed value, or a positive std'
