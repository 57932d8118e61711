"""CF305: fan-based fillers on N-D blobs (only BVLC master accepts them)."""

from __future__ import annotations

from collections.abc import Iterator

from ...fillers import SPECS
from ..context import AuditContext
from ..finding import Finding
from ..rule import Rule

#: The fillers that read a blob's fans through Caffe's 4-axis accessors.
FAN_TYPES = frozenset(name for name, spec in SPECS.items() if spec.fans)


class NdFansProfile(Rule):
    """`xavier`, `msra` or `positive_unitball` on a blob with more than 4 axes.

    ## What it does
    Reports these fillers on blobs with 5 or more axes when auditing for
    BVLC master (`--caffe master`), which fills them.  (Auditing for Caffe
    1.0, the default, reports them as errors: CF108.)  Needs the net's
    shapes.

    ## Why is this bad?
    The file works only with Caffe builds from after 2018: Caffe 1.0 and
    the forks built on it abort at setup ("Cannot use legacy accessors on
    Blobs with > 4 axes.").  The same prototxt is not portable.

    ## Example
    ```prototxt
    # a 3-D convolution: weights [64, 3, 3, 3, 3]
    convolution_param { num_output: 64 kernel_size: 3 weight_filler { type: "xavier" } }
    ```

    ## Use instead
    ```prototxt
    # xavier's bound sqrt(3 / fan_in), fan_in = 3 * 3 * 3 * 3 = 81
    convolution_param { num_output: 64 kernel_size: 3
                        weight_filler { type: "uniform" min: -0.192 max: 0.192 } }
    ```
    """

    code = "CF305"
    name = "nd-fans-profile"
    severity = "info"
    tier = "shapes"

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        if ctx.profile.legacy_fans:
            return  # Caffe 1.0 refuses these fills: CF108
        seen: set[tuple[int | None, int | None]] = set()
        for blob in ctx.blobs():
            filler = blob.filler
            if filler is None or filler.type not in FAN_TYPES or not blob.explicit \
                    or len(blob.spec.shape) <= 4:
                continue
            place = ctx.blob_place(blob)
            if (place.line, place.column) in seen:
                continue
            seen.add((place.line, place.column))
            yield self.finding(
                ctx, place,
                f"{filler.type} on a {len(blob.spec.shape)}-D blob "
                f"{list(blob.spec.shape)}: BVLC master fills it, Caffe 1.0 and its forks "
                f"abort (legacy accessors refuse > 4 axes)",
                "use gaussian/uniform with the scale computed from the fan-in to run on "
                "any Caffe")
