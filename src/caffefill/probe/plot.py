"""The probe's figure: per layer the histogram of its outputs and of the gradient
it passes back, plus the std of both by depth (matplotlib, ``caffefill[plot]``).

Deep nets are drawn on one page: at most :data:`MAX_PANELS` layers get
histograms (evenly spaced over the depth, the first and the last always
among them), while the std-by-depth line shows every layer.  Several runs
(``--compare``) share the layers chosen: one row of histograms per run, one
line per run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import CaffefillError, one_line
from .measure import LayerProbe, ProbeResult

#: Layers with histograms on one page (one run; with several runs, half).
MAX_PANELS = 16
#: Histogram panels per row.
COLUMNS = 8
#: Output formats by file extension.
FORMATS = {".png": "png", ".svg": "svg"}

_ROLE_COLORS = {"linear": "#1f77b4", "relu": "#ff7f0e", "saturating": "#d62728",
                "normalizing": "#2ca02c", "pass": "#9467bd"}
_OTHER_COLOR = "#7f7f7f"
_GRAD_COLOR = "#17becf"
_RUN_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
               "#7f7f7f")
_BINS = 50


def require() -> None:
    """The one-line error naming the extra when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise CaffefillError("--plot draws with matplotlib: install the plot extra "
                             "(pip install 'caffefill[plot]')") from None


def check_output(path: str, force: bool) -> str:
    """Refuse early a --plot target that cannot be written; returns its format."""
    from ..writers.atomic import check_target

    fmt = FORMATS.get(os.path.splitext(path)[1].lower())
    if fmt is None:
        raise CaffefillError(f"--plot writes {' or '.join(FORMATS)} files", path=path)
    require()
    check_target(path, force)
    return fmt


def choose(count: int, most: int) -> list[int]:
    """At most ``most`` indices of ``count`` layers, evenly spaced over the
    depth, the first and the last always among them."""
    if count <= most:
        return list(range(count))
    if most < 2:
        return [0]
    return sorted({round(i * (count - 1) / (most - 1)) for i in range(most)})


#: Roles whose outputs the classic figure shows: the activations.
_ACTIVATIONS = frozenset({"relu", "saturating"})


def pick(layers: Sequence[LayerProbe], most: int) -> list[int]:
    """The indices of the layers that get histograms: all when they fit; else,
    when the net has enough activation layers (ReLU-like, Sigmoid, TanH), those
    evenly spaced over the depth, else any layers evenly spaced; the first and
    the last layer always."""
    if len(layers) <= most:
        return list(range(len(layers)))
    last = len(layers) - 1
    acts = [i for i, p in enumerate(layers) if p.role in _ACTIVATIONS and 0 < i < last]
    if len(acts) < most - 2:
        return choose(len(layers), most)
    inner = [acts[i] for i in choose(len(acts), most - 2)]
    return [0, *inner, last]


def _hist(ax: Any, values: np.ndarray | None, color: str) -> None:
    if values is None or values.size == 0:
        ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes,
                fontsize=7, color="#555555")
        return
    low, high = float(values.min()), float(values.max())
    if low == high:
        low, high = low - 0.5 * (abs(low) or 1.0), high + 0.5 * (abs(high) or 1.0)
    counts, edges = np.histogram(values, bins=_BINS, range=(low, high))
    ax.stairs(counts / values.size, edges, fill=True, color=color, alpha=0.85)


def _style(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    ax.tick_params(labelsize=6, length=2, pad=1)
    ax.xaxis.set_major_locator(MaxNLocator(3))
    ax.yaxis.set_major_locator(MaxNLocator(3))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))  # share of the values
    ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3), useMathText=True)
    ax.xaxis.get_offset_text().set_fontsize(6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _note(p: LayerProbe) -> str:
    parts = [_short(p.type, 14), f"std {p.std:.2g}" if p.std is not None else "std -"]
    if p.dead is not None:
        parts.append(f"dead {p.dead:.0%}")
    if p.saturated is not None:
        parts.append(f"sat {p.saturated:.0%}")
    return "  ".join(parts)


def _short(text: str, most: int = 22) -> str:
    text = one_line(text)
    return text if len(text) <= most else text[:most - 1] + "\u2026"


def variant_name(label: str, most: int = 30) -> str:
    """A short name for a run's filler override: ``type: "gaussian" std: 0.01``
    becomes ``gaussian std 0.01``."""
    text = re.sub(r"\btype:\s*", "", label).replace('"', "")
    return _short(re.sub(r":\s*", " ", text), most)


def _positive(values: Sequence[float | None]) -> np.ndarray:
    """For a log axis: values that are not > 0 become gaps."""
    return np.array([v if v is not None and v > 0 else np.nan for v in values], dtype=float)


def figure(results: Sequence[ProbeResult]) -> Any:
    """The figure (a ``matplotlib.figure.Figure``) for one run or several."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    runs = len(results)
    signal = [[p for p in r.layers if p.signal] for r in results]
    picked = pick(signal[0][:min(len(s) for s in signal)],
                  MAX_PANELS if runs == 1 else COLUMNS)
    count = max(1, -(-len(picked) // COLUMNS))  # rows of panels, as even as can be
    columns = max(1, -(-len(picked) // count))
    groups = [picked[i:i + columns] for i in range(0, len(picked), columns)] or [[]]
    hist_rows = 2 * runs * len(groups)
    height = 1.45 * hist_rows + 3.4
    fig = Figure(figsize=(max(9.0, 2.1 * columns), height), dpi=100)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(hist_rows + 1, columns,
                            height_ratios=[1.0] * hist_rows + [2.2],
                            hspace=0.8, wspace=0.3, left=0.06, right=0.94,
                            top=1 - 1.05 / height, bottom=0.75 / height)
    first = results[0]
    verdicts = "; ".join(
        f"{variant_name(r.label) + ': ' if r.label else ''}{r.verdict.name}" for r in results)
    fig.suptitle(f"{_short(first.net, 40)} ({first.phase}, seed {first.seed}): {verdicts}",
                 fontsize=12, fontweight="bold", y=1 - 0.12 / height)
    if runs == 1:
        fig.text(0.5, 1 - 0.42 / height, _short(first.verdict.reason, 160), ha="center",
                 fontsize=8.5, color="#333333")
    row = 0
    for group in groups:
        for kind in ("outputs", "gradients"):
            for r, layers in enumerate(signal):
                for c, index in enumerate(group):
                    p = layers[index]
                    ax = fig.add_subplot(grid[row, c])
                    if kind == "outputs":
                        color = (_ROLE_COLORS.get(p.role, _OTHER_COLOR) if runs == 1
                                 else _RUN_COLORS[r % len(_RUN_COLORS)])
                        _hist(ax, p.activations, color)
                        ax.set_title(f"{_short(p.layer, 28)}\n{_note(p)}", fontsize=6.5,
                                     pad=2)
                    else:
                        _hist(ax, p.gradients, _GRAD_COLOR if runs == 1
                              else _RUN_COLORS[r % len(_RUN_COLORS)])
                        grad = f"{p.grad_std:.2g}" if p.grad_std is not None else "-"
                        ax.set_title(f"gradient std {grad}", fontsize=6.5, pad=2)
                    _style(ax)
                    if c == 0:
                        label = "outputs" if kind == "outputs" else "gradients"
                        if runs > 1:
                            label = f"{variant_name(results[r].label, 18)}\n{label}"
                        ax.set_ylabel(label, fontsize=7)
                row += 1
    _depth_panel(fig.add_subplot(grid[row, :]), results, signal, picked)
    return fig


def _depth_panel(ax: Any, results: Sequence[ProbeResult],
                 signal: Sequence[Sequence[LayerProbe]], picked: Sequence[int]) -> None:
    from matplotlib.lines import Line2D

    share = ax.twinx()
    legend = []
    for r, layers in enumerate(signal):
        color = _RUN_COLORS[r % len(_RUN_COLORS)]
        x = np.arange(1, len(layers) + 1)
        ax.plot(x, _positive([p.std for p in layers]), "-", color=color, lw=1.4)
        ax.plot(x, _positive([p.grad_std for p in layers]), "--", color=color, lw=1.1)
        chosen = [i for i in picked if i < len(layers)]
        ax.plot(x[chosen], _positive([layers[i].std for i in chosen]), "o", color=color,
                ms=3.5)
        flagged = [i for i, p in enumerate(layers) if p.flag]
        if flagged:
            ax.plot(x[flagged], _positive([layers[i].std for i in flagged]), "x",
                    color="black", ms=5)
        stuck = [(i, p.saturated if p.saturated is not None else p.dead)
                 for i, p in enumerate(layers)]
        where = [i for i, s in stuck if s is not None]
        if where:
            share.plot(x[where], [stuck[i][1] for i in where], ":", marker=".", color=color,
                       lw=1.0, ms=3, alpha=0.8)
        if len(results) > 1:
            legend.append(Line2D([], [], color=color, lw=3,
                                 label=variant_name(results[r].label)))
    ink = "black" if len(results) > 1 else _RUN_COLORS[0]
    legend += [Line2D([], [], color=ink, ls="-", label="output std"),
               Line2D([], [], color=ink, ls="--", label="gradient std"),
               Line2D([], [], color=ink, ls=":", marker=".", label="dead / saturated share"),
               Line2D([], [], color="black", ls="", marker="x", label="flagged")]
    _log_axis(ax)
    ax.set_xlabel("layer (net order; dots: the layers with histograms above)", fontsize=8)
    ax.set_ylabel("std", fontsize=8)
    share.set_ylim(-0.02, 1.02)
    share.set_ylabel("dead / saturated share", fontsize=8)
    share.tick_params(labelsize=7)
    ax.tick_params(labelsize=7)
    layers = signal[0]
    if layers:
        ticks = choose(len(layers), 12)
        ax.set_xticks([i + 1 for i in ticks])
        ax.set_xticklabels([_short(layers[i].layer, 16) for i in ticks], rotation=20,
                           ha="right", fontsize=6.5)
        ax.set_xlim(0.5, len(layers) + 0.5)
    share.legend(handles=legend, fontsize=6.5, loc="best", ncol=4 if len(legend) > 4 else 2,
                 framealpha=0.85)
    ax.grid(True, which="major", alpha=0.3)


def _log_axis(ax: Any) -> None:
    """A log y axis labelled at 1, 2, 5 x 10^k when it spans few decades."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    low, high = ax.get_ylim()
    decades = np.log10(high / low) if low > 0 and high > low else 10.0
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades < 3
                                          else (1.0,), numticks=12))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}" if decades < 3
                                               else f"1e{np.log10(v):.0f}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def write_plot(results: Sequence[ProbeResult], path: str, fmt: str, *,
               force: bool = False) -> None:
    """Draw ``results`` to ``path`` (written beside it and put in place at the end)."""
    from ..writers.atomic import atomic_output

    fig = figure(results)
    with atomic_output(path, force=force) as temp:
        if fmt == "png":
            # A palette PNG: the figure has few colours, and the file is a third
            # of the size of matplotlib's RGBA one (Pillow comes with matplotlib).
            from PIL import Image

            fig.canvas.draw()
            image = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())).convert("RGB")
            image.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(
                temp, format="png", optimize=True)
        else:
            fig.savefig(temp, format=fmt, metadata={"Date": None})
