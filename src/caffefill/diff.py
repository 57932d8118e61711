"""Compare two sets of weights blob by blob (``caffefill diff``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from .errors import one_line


@dataclass
class BlobDiff:
    key: str
    status: str  # identical | differ | shape | only-a | only-b
    shape_a: tuple[int, ...] | None = None
    shape_b: tuple[int, ...] | None = None
    max_abs: float = 0.0
    first_index: tuple[int, ...] | None = None
    count_differ: int = 0


@dataclass
class DiffReport:
    blobs: list[BlobDiff] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return all(b.status == "identical" for b in self.blobs)


def _flatten(params: Mapping[str, Sequence[np.ndarray]]) -> dict[str, np.ndarray]:
    return {f"{layer}/{i}": np.asarray(a) for layer, blobs in params.items()
            for i, a in enumerate(blobs)}


def diff_weights(a: Mapping[str, Sequence[np.ndarray]],
                 b: Mapping[str, Sequence[np.ndarray]]) -> DiffReport:
    """Bit-level comparison (float32 bytes), with the size of any difference."""
    fa, fb = _flatten(a), _flatten(b)
    report = DiffReport()
    for key in list(fa) + [k for k in fb if k not in fa]:
        if key not in fb:
            report.blobs.append(BlobDiff(key, "only-a", shape_a=fa[key].shape))
            continue
        if key not in fa:
            report.blobs.append(BlobDiff(key, "only-b", shape_b=fb[key].shape))
            continue
        x = np.asarray(fa[key], dtype=np.float32)
        y = np.asarray(fb[key], dtype=np.float32)
        if x.shape != y.shape:
            report.blobs.append(BlobDiff(key, "shape", x.shape, y.shape))
            continue
        same = x.view(np.uint32) == y.view(np.uint32)
        if bool(same.all()):
            report.blobs.append(BlobDiff(key, "identical", x.shape, y.shape))
            continue
        where = np.argwhere(~same)
        with np.errstate(invalid="ignore", over="ignore"):
            delta = np.abs(x.astype(np.float64) - y.astype(np.float64))
        known = delta[~np.isnan(delta)]  # NaN against NaN of other bits: no size
        report.blobs.append(BlobDiff(
            key, "differ", x.shape, y.shape,
            max_abs=float(known.max()) if known.size else float("nan"),
            first_index=tuple(int(i) for i in where[0]), count_differ=int(where.shape[0])))
    return report


def render_diff(report: DiffReport, name_a: str, name_b: str) -> str:
    lines = []
    for b in report.blobs:
        b = replace(b, key=one_line(b.key))  # a key is a layer name, from any file
        if b.status == "identical":
            lines.append(f"  {b.key}: identical {list(b.shape_a or ())}")
        elif b.status == "differ":
            lines.append(f"! {b.key}: {b.count_differ} values differ, max |a-b| = "
                         f"{b.max_abs:.9g}, first at index {list(b.first_index or ())}")
        elif b.status == "shape":
            lines.append(f"! {b.key}: shape {list(b.shape_a or ())} vs {list(b.shape_b or ())}")
        elif b.status == "only-a":
            lines.append(f"! {b.key}: only in {name_a}")
        else:
            lines.append(f"! {b.key}: only in {name_b}")
    same = sum(b.status == "identical" for b in report.blobs)
    verdict = "identical" if report.identical else "DIFFERENT"
    lines.append(f"{verdict}: {same}/{len(report.blobs)} blobs identical")
    return "\n".join(lines)
