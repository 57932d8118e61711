"""CF304: bilinear kernels that Caffe 1.0 and master fill differently."""

from __future__ import annotations

from collections.abc import Iterator

from ..context import AuditContext
from ..finding import Finding
from ..rule import Rule


def centres(size: int) -> tuple[float, float]:
    """The kernel centre ``c`` of Caffe 1.0's and master's BilinearFiller."""
    f = -(-size // 2)
    return (2 * f - 1 - f % 2) / (2.0 * f), (size - 1) / (2.0 * f)


def kernels_differ(size: int) -> bool:
    """Whether Caffe 1.0 and master fill a size x size bilinear kernel differently:
    exactly when the centres of their formulas differ (every value of the
    kernel is a function of the centre; tests/test_audit_speed.py runs both
    fills of every size up to 256 to check it), so no fill is run (nor numpy
    imported)."""
    old, new = centres(size)
    return old != new


class BilinearProfile(Rule):
    """A bilinear kernel size whose weights differ between Caffe 1.0 and BVLC master.

    ## What it does
    For every bilinear-filled blob, fills its kernel with both Caffe 1.0's
    and BVLC master's BilinearFiller (`caffefill.fill(..., caffe="1.0")`
    and `caffe="master"`) and reports the sizes where they differ.  With
    `f = ceil(k / 2)`, 1.0 centres the kernel at `(2f - 1 - f % 2) / (2f)`,
    master at `(k - 1) / (2f)`: they agree when `k % 4` is 0 or 1 (4, 16,
    64, ...) and differ otherwise (2, 3, 6, 7, ...).

    ## Why is this bad?
    The same prototxt then starts from different weights depending on the
    Caffe build, so results do not reproduce across builds; for these sizes
    1.0's kernel is also off-centre (not a true bilinear interpolation).

    ## Example
    ```prototxt
    convolution_param { num_output: 21 group: 21 kernel_size: 6 stride: 3
                        weight_filler { type: "bilinear" } }
    ```

    ## Use instead
    ```prototxt
    # 2x upsampling with the kernel size the filler was designed for
    convolution_param { num_output: 21 group: 21 kernel_size: 4 stride: 2
                        weight_filler { type: "bilinear" } }
    ```
    (or state which Caffe build the weights are for: `--caffe 1.0|master`).
    """

    code = "CF304"
    name = "bilinear-profile"
    severity = "info"
    tier = "structure"

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        seen: set[tuple[int | None, int | None]] = set()
        for blob in ctx.blobs():
            filler = blob.filler
            shape = blob.spec.shape
            if filler is None or filler.type != "bilinear" or not blob.explicit \
                    or len(shape) != 4 or shape[2] != shape[3]:
                continue
            place = ctx.blob_place(blob)
            if (place.line, place.column) in seen or not kernels_differ(int(shape[3])):
                continue
            seen.add((place.line, place.column))
            k = int(shape[3])
            f = -(-k // 2)
            old, new = centres(k)
            yield self.finding(
                ctx, place,
                f"bilinear kernel size {k}: Caffe 1.0 and BVLC master fill different weights "
                f"(centre {old:g} vs. {new:g} with f = {f})",
                "use a kernel size k with k % 4 in (0, 1), e.g. 2 * f - f % 2 for stride f, "
                "or fix the Caffe build with --caffe")
