"""CF103: a filler type Caffe does not know."""

from __future__ import annotations

from ._refusal import RefusalRule


class UnknownFillerType(RefusalRule):
    """The filler's type is not one of Caffe's seven.

    ## What it does
    Checks every filler block's `type` against Caffe's fillers: `constant`,
    `gaussian`, `positive_unitball`, `uniform`, `xavier`, `msra` and
    `bilinear` (names are case-sensitive), and names the nearest one.

    ## Why is this bad?
    `GetFiller` ends in `LOG(FATAL) << "Unknown filler name"`: Caffe aborts
    when the layer is set up.  Typos such as `"Xavier"`, `"gauss"` or
    `"he"` are the usual cause.

    ## Example
    ```prototxt
    weight_filler { type: "Xavier" }
    ```

    ## Use instead
    ```prototxt
    weight_filler { type: "xavier" }
    ```
    """

    code = "CF103"
    name = "unknown-filler-type"
