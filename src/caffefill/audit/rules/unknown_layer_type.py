"""CF111: a layer type no registered entry sets up."""

from __future__ import annotations

from collections.abc import Iterator

from ...net.registry import entry, unknown_type_hint
from ..context import AuditContext, Place
from ..finding import Finding
from ..rule import Rule


class UnknownLayerType(Rule):
    """A layer type that neither Caffe nor the forks caffefill knows defines.

    ## What it does
    Reports each layer (of the net in the audited phase) whose `type` is not
    in caffefill's layer registry: BVLC Caffe's layers and those of the forks
    it models.  It names the fork a type is known to come from, or a close
    registered type when the name looks like a typo.  The rules that need
    the net's structure still run, with the layer taken as a pass-through.

    ## Why is this bad?
    Caffe's layer factory aborts on a type it was not built with
    (`Unknown layer type`): the net cannot be built by BVLC Caffe, only by
    the fork that defines it, and `caffefill init` refuses it until the type
    is registered (`caffefill.net.registry.register`).

    ## Example
    ```prototxt
    layer { name: "conv1" type: "Convolutoin" ... }
    ```

    ## Use instead
    ```prototxt
    layer { name: "conv1" type: "Convolution" ... }
    ```
    """

    code = "CF111"
    name = "unknown-layer-type"
    severity = "error"
    tier = "source"

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        net = ctx.filtered if ctx.filtered is not None else ctx.upgraded
        if net is None:
            return
        for layer, (line, column) in zip(net.param.layer, net.positions, strict=False):
            if entry(layer.type) is not None:
                continue
            yield self.finding(
                ctx, Place(int(line), int(column), layer.name, int(line)),
                f"unknown layer type '{layer.type}'{unknown_type_hint(layer.type)}: Caffe "
                f"aborts building the net (Unknown layer type)")
