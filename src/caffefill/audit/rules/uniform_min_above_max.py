"""CF106: a uniform filler whose min is above its max."""

from __future__ import annotations

from ._refusal import RefusalRule


class UniformMinAboveMax(RefusalRule):
    """A `uniform` filler's `min` is greater than its `max`.

    ## What it does
    Compares `min` and `max` of uniform fillers as Caffe does, in float32,
    with the defaults `min: 0` and `max: 1` for the one not given (so
    `min: 0.5` alone is fine but `min: 2` alone is not).

    ## Why is this bad?
    `caffe_rng_uniform` checks `a <= b` and Caffe aborts at setup.

    ## Example
    ```prototxt
    weight_filler { type: "uniform" min: 0.08 max: -0.08 }
    ```

    ## Use instead
    ```prototxt
    weight_filler { type: "uniform" min: -0.08 max: 0.08 }
    ```
    """

    code = "CF106"
    name = "uniform-min-above-max"

    fix = "swap min and max (a missing max is 1, a missing min is 0)"
