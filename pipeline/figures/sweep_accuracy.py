"""A sweep's final accuracies per config: a heat-map over two axes per value of the others,
or, for a one-axis sweep, the accuracy against that axis.

Configs come as runs do in ``sweep_losses`` (an axis' values ``ordered``): ``params[i]``
(MLflow param strings), ``scores[i]`` (None or NaN: no accuracy) and ``notes[i]``, what to
show instead (e.g. "diverged"); ``label`` says what the scores are (e.g. "final validation
accuracy") and ``note``, if any, how (e.g. "mean over seeds"), under the title. A
combination no config has shows "no run".
"""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from pipeline.figures.layout import margins_in_inches, side_colorbar
from pipeline.figures.sweep_losses import (
    axis_values,
    combinations,
    panel_title,
    run_of,
    short_name,
)

MISSING_COLOR = "0.85"  # a cell without an accuracy
MIN_WIDTH = 4.6  # inches: room for the title over a small grid


def title(label: str, note: str) -> str:
    return f"Sweep: {label}" + (f"\n({note})" if note else "")


def accuracy_heatmaps(
    params: list[dict[str, str]],
    scores: list[float | None],
    notes: list[str],
    x_key: str,
    y_key: str,
    panel_keys: list[str],
    label: str,
    note: str = "",
) -> Figure:
    """``label`` over ``x_key`` (columns) x ``y_key`` (rows), values ``ordered``, one panel
    per combination of ``panel_keys``; one color scale, each cell annotated."""
    xs, ys = axis_values(params, x_key), axis_values(params, y_key)
    panels = combinations(params, panel_keys)
    values = _values(scores)
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    low, high = (low - 0.005, high + 0.005) if high - low < 0.01 else (low, high)
    width = max((0.75 * len(xs) + 1.2) * len(panels) + 1.2, MIN_WIDTH)
    fig = Figure(figsize=(width, 0.55 * len(ys) + 1.6 + 0.25 * bool(note)))
    axes = fig.subplots(1, len(panels), squeeze=False).ravel()
    for ax, panel in zip(axes, panels, strict=True):
        fixed = dict(zip(panel_keys, panel, strict=True))
        cells = [[run_of(params, {x_key: x, y_key: y, **fixed}) for x in xs] for y in ys]
        image = _draw_cells(ax, cells, values, notes, (low, high))
        ax.set(xticks=range(len(xs)), xticklabels=xs, yticks=range(len(ys)), yticklabels=ys)
        ax.set(xlabel=short_name(x_key), ylabel=short_name(y_key) if ax is axes[0] else None)
        ax.set_title(panel_title(panel_keys, panel), fontsize=9)
    fig.suptitle(title(label, note))
    margins_in_inches(fig, 0.9, 1.2, 0.6, 0.7 + 0.25 * bool(note), wspace=0.3)
    side_colorbar(fig, image, list(axes), "accuracy")  # what of: the title says
    return fig


def _draw_cells(
    ax: Any, cells: list[list[int | None]], values: np.ndarray, notes: list[str], limits: tuple
) -> Any:
    """``cells[row][col]``: the run shown there (None: no run); returns the image."""
    grid = np.array([[np.nan if run is None else values[run] for run in row] for row in cells])
    cmap = mpl.colormaps["viridis"].with_extremes(bad=MISSING_COLOR)
    image = ax.imshow(grid, cmap=cmap, vmin=limits[0], vmax=limits[1], aspect="auto")
    for (row, col), value in np.ndenumerate(grid):
        run = cells[row][col]
        text = f"{value:.3f}" if np.isfinite(value) else "no run" if run is None else notes[run]
        dark = np.isfinite(value) and value < sum(limits) / 2
        ax.text(col, row, text, ha="center", va="center", fontsize=8,
                color="white" if dark else "black")  # fmt: skip
    return image


def accuracy_against(
    params: list[dict[str, str]], scores: list[float | None], notes: list[str], key: str,
    label: str, note: str = "",
) -> Figure:  # fmt: skip
    """``label`` against the one axis ``key``, its values ``ordered`` and evenly spaced
    (numbers or names, e.g. optimizers); each point annotated, a gap where none."""
    xs = axis_values(params, key)
    values = _values(scores)
    runs = [run_of(params, {key: x}) for x in xs]
    ys = np.array([np.nan if run is None else values[run] for run in runs])
    fig = Figure(figsize=(max(5.0, 0.9 * len(xs) + 2.0), 4.0))
    ax = fig.add_subplot()
    ax.plot(range(len(xs)), ys, marker="o")
    for x, (y, run) in enumerate(zip(ys.tolist(), runs, strict=True)):
        text = f"{y:.3f}" if np.isfinite(y) else "no run" if run is None else notes[run]
        where = y if np.isfinite(y) else np.nanmin(ys) if np.isfinite(ys).any() else 0.5
        ax.annotate(text, (x, where), textcoords="offset points", xytext=(0, 8), ha="center")
    ax.set(xticks=range(len(xs)), xticklabels=xs, xlabel=key, ylabel=label)
    ax.set_title(title(label, note))
    ax.margins(x=0.15, y=0.25)
    ax.grid(alpha=0.3)
    margins_in_inches(fig, 0.9, 0.3, 0.6, 0.4 + 0.25 * bool(note))
    return fig


def _values(scores: list[float | None]) -> np.ndarray:
    """(runs,) float64, NaN for a run without a score."""
    return np.array([np.nan if s is None else float(s) for s in scores], dtype=np.float64)
