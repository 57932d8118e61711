"""Questions about the net's graph that several rules ask.

All of them look forward from a layer through the layers that read its tops
(``AuditContext.consumers``).
"""

from __future__ import annotations

from collections.abc import Callable

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


def first_reached(ctx: AuditContext, key: str, through: Callable[[NetLayer], bool],
                  hit: Callable[[NetLayer], bool]) -> dict[int, int | None]:
    """For every layer, the first layer (lowest index) downstream of it that is a
    ``hit``, going on past a layer only when ``through(layer)`` is true; None
    when there is none.

    One pass over the layers from the last to the first: a layer's answer is
    the lowest among its consumers that are hits and the answers of its
    consumers that let the walk through, so the work grows with the number of
    edges, not with layers times the length of the walk from each.  Cached in
    ``ctx.cache[key]``.
    """
    cached = ctx.cache.get(key)
    if isinstance(cached, dict):
        return cached
    assert ctx.model is not None
    found: dict[int, int | None] = {}
    for layer in reversed(ctx.model.layers):
        best: int | None = None
        for nxt in ctx.consumers(layer):
            candidates = (nxt.index if hit(nxt) else None,
                          found.get(nxt.index) if through(nxt) else None)
            for candidate in candidates:
                if candidate is not None and (best is None or candidate < best):
                    best = candidate
        found[layer.index] = best
    ctx.cache[key] = found
    return found


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
    def through(other: NetLayer) -> bool:
        return not _ends_signal(ctx, other)

    def trained(other: NetLayer) -> bool:
        return through(other) and learns_weights(ctx, other)

    return first_reached(ctx, "graph.trained_after", through, trained)[layer.index] is None


def feeds_normalization(ctx: AuditContext, layer: NetLayer) -> bool:
    """True when every path from ``layer``'s output (through layers that only
    move data or pass it on without weights) ends in a normalizing layer
    (BatchNorm, MVN, ...), and there is at least one.

    A normalizing layer's backward is per channel (its output minus the
    channel's mean, over the channel's spread): even when all the layer's
    units start identical, each gets its own gradient from it.
    """
    cache = ctx.cache.setdefault("graph.feeds_normalization", {})
    assert isinstance(cache, dict)

    def walk(current: NetLayer) -> bool:
        if current.index in cache:
            return bool(cache[current.index])
        cache[current.index] = False  # (a cycle cannot happen; be safe anyway)
        consumers = ctx.consumers(current)
        result = bool(consumers)
        for nxt in consumers:
            role = ctx.traits(nxt).role
            if role == "normalizing":
                continue
            if role in PASS_ROLES and not ctx.weight_blobs(nxt) and walk(nxt):
                continue
            result = False
            break
        cache[current.index] = result
        return result

    return walk(layer)


def activation_after(ctx: AuditContext, layer: NetLayer) -> str | None:
    """The kind of the first activation applied to ``layer``'s output.

    "relu" (ReLU, PReLU, ELU), "saturating" (Sigmoid, TanH), "normalized"
    when a normalization comes first (the filler's scale no longer matters),
    or None (no activation before the next weight layer).
    """
    def passes(current: NetLayer) -> bool:
        return ctx.traits(current).role in PASS_ROLES and not ctx.weight_blobs(current)

    def activation(current: NetLayer) -> bool:
        return ctx.traits(current).role in _ACTIVATION_ROLES

    assert ctx.model is not None
    first = first_reached(ctx, "graph.activation_after", passes, activation)[layer.index]
    if first is None:
        return None
    return _ACTIVATION_ROLES[ctx.traits(ctx.model.layers[first]).role]


#: The roles that end the walk to the next activation, and what each answers.
_ACTIVATION_ROLES = {"relu": "relu", "saturating": "saturating", "normalizing": "normalized"}


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
    is empty unless there are at least two.  Cached in ``ctx.cache``.
    """
    cached = ctx.cache.get("graph.pretrained_backbone")
    if isinstance(cached, list):
        return cached
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
    result = found if len(found) >= 2 else []
    ctx.cache["graph.pretrained_backbone"] = result
    return result
