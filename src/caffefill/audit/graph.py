"""Questions about the net's graph that several rules ask.

All of them walk forward from a layer through the layers that read its tops
(``AuditContext.consumers``), in net order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..net.model import NetLayer
from .context import AuditContext

#: The roles of the layers the walk to the next activation goes through (when
#: they have no weights): they neither mix channels with learned weights nor
#: change the kind of activation (a layer caffefill cannot tell goes through too).
PASS_ROLES = frozenset({"move", "pass", "unknown"})


def data_bottoms(ctx: AuditContext, layer: NetLayer) -> list[str]:
    """The bottoms whose values flow into the layer's output (not ROIs, masks,
    or shape references)."""
    if ctx.traits(layer).side_inputs:
        return layer.bottoms[:1]
    return list(layer.bottoms)


def walk(ctx: AuditContext, start: NetLayer, through: Callable[[NetLayer], bool]
         ) -> Iterator[NetLayer]:
    """Every layer downstream of ``start`` in net order, each once, going on past
    a layer only when ``through(layer)`` is true."""
    pending = {layer.index: layer for layer in ctx.consumers(start)}
    done: set[int] = set()
    while pending:
        layer = pending.pop(min(pending))
        done.add(layer.index)
        yield layer
        if through(layer):
            for nxt in ctx.consumers(layer):
                if nxt.index not in done:
                    pending[nxt.index] = nxt


def learns_weights(ctx: AuditContext, layer: NetLayer) -> bool:
    """Whether ``layer`` has weights that are trained (lr_mult != 0)."""
    return any(not blob.frozen for blob in ctx.weight_blobs(layer))


def _ends_signal(ctx: AuditContext, layer: NetLayer) -> bool:
    return ctx.is_loss(layer) or ctx.traits(layer).role == "sink"


def is_head(ctx: AuditContext, layer: NetLayer) -> bool:
    """True when no trained weight layer reads ``layer``'s output.

    Such a layer's outputs go (through layers without trained weights) only
    to losses or out of the net: each output unit gets its own gradient from
    the loss, so identical starting weights are no problem there.
    """
    for current in walk(ctx, layer, lambda other: not _ends_signal(ctx, other)):
        if not _ends_signal(ctx, current) and learns_weights(ctx, current):
            return False
    return True


def activation_after(ctx: AuditContext, layer: NetLayer) -> str | None:
    """The kind of the first activation applied to ``layer``'s output.

    "relu" (ReLU, PReLU, ELU), "saturating" (Sigmoid, TanH), "normalized"
    when a normalization comes first (the filler's scale no longer matters),
    or None (no activation before the next weight layer).
    """
    def passes(current: NetLayer) -> bool:
        return ctx.traits(current).role in PASS_ROLES and not ctx.weight_blobs(current)

    for current in walk(ctx, layer, passes):
        role = ctx.traits(current).role
        if role in ("relu", "saturating"):
            return role
        if role == "normalizing":
            return "normalized"
    return None


def activation_family(ctx: AuditContext) -> str:
    """"relu" when the net's activations are mostly ReLU-like, else "saturating"."""
    assert ctx.model is not None
    roles = [ctx.traits(layer).role for layer in ctx.model.layers]
    relu, saturating = roles.count("relu"), roles.count("saturating")
    return "saturating" if saturating > relu else "relu"


def pretrained_backbone(ctx: AuditContext) -> list[NetLayer]:
    """The weight layers that look loaded from a .caffemodel rather than filled.

    A layer counts when it has weights, no filler block at all (not even a
    bias filler), and no layer upstream of it has a weight filler: the
    front of the net written without fillers, as in fine-tuning files
    (a pretrained backbone with new, filled layers on top) and in files
    without any filler.  A single such layer is not a backbone: the result
    is empty unless there are at least two.
    """
    assert ctx.model is not None
    filled: dict[str, bool] = {}
    found: list[NetLayer] = []
    for layer in ctx.model.layers:
        inherited = any(filled.get(name, False) for name in data_bottoms(ctx, layer))
        weights = ctx.weight_blobs(layer)
        explicit = any(ctx.owner_blob(blob).explicit for blob in weights)
        for name in layer.tops:
            filled[name] = inherited or explicit
        if weights and not inherited and not explicit and \
                not ctx.blocks_of(ctx.source_key(layer.line, layer.column)):
            found.append(layer)
    return found if len(found) >= 2 else []
