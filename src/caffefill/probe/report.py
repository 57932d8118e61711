"""Probe results as a text table and as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..errors import one_line
from .measure import ProbeResult

#: What the backward pass differentiated, in words.
LOSS_WORDS = {"net": "the net's loss layers",
              "gaussian": "the sum of the outputs times a fixed unit Gaussian",
              "none": "nothing (no output depends on a weight)"}

_COLUMNS = ("#", "layer", "type", "top", "mean", "std", "min", "max", "dead", "sat",
            "nonfin", "grad std", "ratio", "")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _share(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    return f"{value:.1%}" if value >= 0.001 else "<0.1%"


def result_dict(result: ProbeResult) -> dict[str, Any]:
    """One probe run as a JSON object (strict JSON: null where no finite value)."""
    out: dict[str, Any] = {"net": result.net, "path": result.path, "seed": result.seed,
                           "phase": result.phase, "loss": result.loss,
                           "threshold": result.threshold}
    if result.label:
        out["filler"] = result.label
    if result.meta.get("fillers"):
        out["fillers"] = result.meta["fillers"]  # every override applied, as outputs record
    out.update(result.verdict.as_dict())
    out["layers"] = [layer.as_dict() for layer in result.layers]
    return out


def render_json(results: Sequence[ProbeResult]) -> str:
    """One run: its object; several (``--compare``): ``{"variants": [...]}``."""
    if len(results) == 1:
        return json.dumps(result_dict(results[0]), indent=1, allow_nan=False)
    first = results[0]
    return json.dumps({"net": first.net, "path": first.path, "seed": first.seed,
                       "phase": first.phase,
                       "variants": [result_dict(r) for r in results]}, indent=1,
                      allow_nan=False)


def render_text(result: ProbeResult) -> str:
    """A table, one row per probed layer, and the verdict."""
    rows = [list(_COLUMNS)]
    for i, p in enumerate(result.layers, 1):
        mark = {"grows": "^ grows", "shrinks": "v shrinks"}.get(p.flag or "", "")
        rows.append([str(i), one_line(p.layer), one_line(p.type), one_line(p.top),
                     _num(p.mean), _num(p.std), _num(p.min), _num(p.max), _share(p.dead),
                     _share(p.saturated), _share(p.nonfinite), _num(p.grad_std),
                     _num(p.ratio), mark])
    widths = [max(len(r[c]) for r in rows) for c in range(len(_COLUMNS))]
    left = {1, 2, 3, len(_COLUMNS) - 1}
    lines = []
    label = f", filler {one_line(result.label)}" if result.label else ""
    lines.append(f"{one_line(result.path)}: net '{one_line(result.net)}', phase "
                 f"{result.phase}, seed {result.seed}{label}; gradients of "
                 f"{LOSS_WORDS[result.loss]}")
    for row in rows:
        cells = [cell.ljust(w) if c in left else cell.rjust(w)
                 for c, (cell, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    verdict = result.verdict
    lines.append(f"verdict: {verdict.name} ({one_line(verdict.reason)}); "
                 f"flagged: ratio above {result.threshold:g} or below "
                 f"1/{result.threshold:g}")
    return "\n".join(lines)
