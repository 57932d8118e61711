"""CF100: Caffe aborts while setting the net up."""

from __future__ import annotations

from collections.abc import Iterator

from ..context import AuditContext, Place
from ..finding import Finding
from ..rule import Rule, with_caffe_text
from ..validate import refusals


class CaffeAborts(Rule):
    """Caffe aborts while setting this net up (a CHECK in a layer or a filler fails).

    ## What it does
    Reports the first refusal met while upgrading, filtering and setting the
    net up layer by layer, exactly as `Net<float>(file, phase)` would, and
    filler refusals that have no more specific code (CF103-CF109): a
    `CHECK` that fails in Caffe's filler code.

    ## Why is this bad?
    Caffe stops with `Check failed: ...` before the first iteration: the
    net cannot be trained at all.  The rules that need the set-up net are
    skipped for this file (a note says so) until it is fixed.

    ## Example
    ```prototxt
    layer {
      name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
      convolution_param { num_output: 0 kernel_size: 3 }
    }
    ```

    ## Use instead
    ```prototxt
    layer {
      name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
      convolution_param { num_output: 64 kernel_size: 3 }
    }
    ```
    """

    code = "CF100"
    name = "caffe-aborts"
    severity = "error"
    tier = "source"

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        error = ctx.setup_error
        if error is not None:
            message = with_caffe_text(error)
            place = Place(error.line, error.column, error.layer, error.line)
            if ctx.filtered is not None and ctx.filtered.dropped:
                stages = ", ".join(ctx.options.stages) or "none"
                message += (f" [{len(ctx.filtered.dropped)} layer(s) are left out in phase "
                            f"{ctx.options.phase} with stages: {stages}; is the net meant for "
                            f"another --phase or --stage?]")
            yield self.finding(ctx, place, f"Caffe aborts setting the net up: {message}")
        for refused in refusals(ctx):
            if refused.code == self.code:
                yield self.finding(ctx, refused.place, with_caffe_text(refused.error))

