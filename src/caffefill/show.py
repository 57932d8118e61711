"""``caffefill show``: the learnable blobs of a net, their fillers and scales."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from .errors import one_line
from .fillers import SPECS, describe, fan_values
from .profiles import Profile


@dataclass
class BlobRow:
    layer: str
    type: str
    index: int
    role: str
    shape: list[int]
    filler: str
    fan_in: int | None
    fan_out: int | None
    std: float | None
    count: int
    shared_from: str | None


def summarize(model: Any, profile: Profile) -> list[BlobRow]:
    rows = []
    for layer in model.layers:
        for index, spec in enumerate(layer.blobs):
            fan = fan_values(spec.shape, profile) if _fans_mean_something(spec) else None
            owner = model.shared_owner(layer.index, index)
            shared = None
            if owner is not None:
                shared = f"{model.layers[owner[0]].name}/{owner[1]}"
            rows.append(BlobRow(
                layer=layer.name, type=layer.type, index=index, role=spec.role,
                shape=list(spec.shape), filler=describe(spec.filler),
                fan_in=fan[0] if fan else None, fan_out=fan[1] if fan else None,
                std=_std(spec.filler, spec.shape, profile), count=spec.count,
                shared_from=shared))
    return rows


def _fans_mean_something(spec: Any) -> bool:
    """A weight's fans say how its layer mixes its inputs; a bias's or any
    other 1-D (or scalar) blob's are mere arithmetic on its count, shown
    only when its filler scales by them (xavier, msra)."""
    if len(spec.shape) >= 2:
        return True
    filler_spec = SPECS.get(spec.filler.type) if spec.filler is not None else None
    return filler_spec is not None and "variance_norm" in filler_spec.fields_read


def _std(filler: Any, shape: tuple[int, ...], profile: Profile) -> float | None:
    """The std of the blob's values (0 for no filler: zeros; None when unknown)."""
    if filler is None:
        return 0.0
    spec = SPECS.get(filler.type)
    return None if spec is None else spec.std(filler, shape, profile)


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} GiB"


def render_table(model: Any, rows: list[BlobRow]) -> str:
    header = ["layer", "type", "#", "shape", "filler", "fan_in", "fan_out", "std", "values"]
    body = []
    for r in rows:
        filler = r.filler + (f" (shared from {r.shared_from})" if r.shared_from else "")
        body.append([r.layer, r.type, str(r.index), "x".join(map(str, r.shape)) or "scalar",
                     filler, "-" if r.fan_in is None else str(r.fan_in),
                     "-" if r.fan_out is None else str(r.fan_out),
                     "-" if r.std is None else f"{r.std:.4g}", f"{r.count:,}"])
    body = [[one_line(cell) for cell in row] for row in body]  # names come from the file
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h)
              for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=False))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) for row in body]
    total = sum(r.count for r in rows)
    owners = {r.layer for r in rows}
    lines.append("")
    lines.append(f"{len(owners)} layers with blobs, {len(rows)} blobs, {total:,} values, "
                 f"{_human_bytes(4 * total)} as float32 (phase {model_phase(model)})")
    return "\n".join(lines)


def model_phase(model: Any) -> str:
    from .net.load import phase_name

    return phase_name(model.phase)


def _finite(value: Any) -> Any:
    """``value`` with every float that is not finite (a std of inf or NaN) as None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def render_json(model: Any, rows: list[BlobRow]) -> str:
    """Strict JSON: a number that is not finite (inf, NaN) is written as null."""
    total = sum(r.count for r in rows)
    document: dict[str, Any] = {
        "net": model.param.name,
        "path": model.path,
        "phase": model_phase(model),
        "blobs": [_finite(asdict(r)) for r in rows],
        "total_values": total,
        "total_bytes": 4 * total,
    }
    return json.dumps(document, indent=2, allow_nan=False)
