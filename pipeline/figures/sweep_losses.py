"""A sweep's loss curves as small multiples, and how a sweep's runs are put in order.

A sweep's runs come as ``params`` (one dict of MLflow param strings per run) with a value
per run (a loss curve, a score). The values of an axis are ``ordered``: by number when
each is a number, else in the sweep's order (the order of the runs). Fixed margins, as in
``layout``.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import LogLocator, StrMethodFormatter

from pipeline.figures.layout import margins_in_inches

SMOOTH_WINDOW = 100  # iterations a loss curve is averaged over (at most a tenth of the longest)


def ordered(values: list[str]) -> list[str]:
    """The distinct ``values``, in numeric order if all are numbers, else as first seen."""
    distinct = list(dict.fromkeys(values))
    try:
        return sorted(distinct, key=float)
    except (TypeError, ValueError):
        return distinct


def smooth(losses: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average of ``losses`` (n,) up to its first non-finite value (m of
    them finite before it): (m,), ``out[i]`` the mean of ``losses[max(0, i - window + 1) :
    i + 1]``."""
    finite = np.isfinite(losses)
    end = len(losses) if finite.all() else int(np.argmin(finite))
    total = np.concatenate([[0.0], np.cumsum(losses[:end], dtype=np.float64)])
    stop = np.arange(1, end + 1)
    start = np.maximum(stop - window, 0)
    return (total[stop] - total[start]) / (stop - start)


def short_name(key: str) -> str:
    return key.rpartition(".")[2]


def axis_values(params: list[dict[str, str]], key: str) -> list[str]:
    """The values ``key`` takes in ``params`` (a run without it: "None"), ``ordered``."""
    return ordered([str(p.get(key)) for p in params])


def combinations(params: list[dict[str, str]], keys: list[str]) -> list[tuple[str, ...]]:
    """Every combination of the values ``keys`` take in ``params``, in grid order."""
    return list(itertools.product(*(axis_values(params, key) for key in keys)))


def panel_title(keys: list[str], values: tuple[str, ...]) -> str:
    return ", ".join(f"{short_name(k)}={v}" for k, v in zip(keys, values, strict=True))


def loss_panels(
    params: list[dict[str, str]], curves: list[np.ndarray], line_key: str, panel_keys: list[str]
) -> Figure:
    """Smoothed loss curves (``curves[i]``: (iters,) of the run with ``params[i]``; empty
    for a run without one), one panel per combination of ``panel_keys`` (a row per value of
    the first when there are two or more; one panel when there are none), one colour per
    value of ``line_key``, in ``ordered`` order: runs that differ in another key only (their
    seed) are lines of the same colour. A log y axis shared by all panels. A curve that stops
    early ends in an x."""
    lines, panels = axis_values(params, line_key), combinations(params, panel_keys)
    rows = len(axis_values(params, panel_keys[0])) if len(panel_keys) > 1 else 1
    columns = math.ceil(len(panels) / rows)
    longest = max((len(c) for c in curves), default=0)
    window = max(1, min(SMOOTH_WINDOW, longest // 10))
    colors = line_colors(lines)
    smoothed = [smooth(curve, window) for curve in curves]
    panel_size = (2.9, 2.3) if len(panels) > 1 else (5.6, 3.8)
    fig = Figure(figsize=(panel_size[0] * columns + 1.6, panel_size[1] * rows + 1.1))
    grid = fig.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)
    for ax, panel in zip(grid.ravel(), panels, strict=False):
        fixed = dict(zip(panel_keys, panel, strict=True))
        shown = {v: [smoothed[run] for run in runs_of(params, {line_key: v, **fixed})]
                 for v in lines}  # fmt: skip
        _draw_losses(ax, shown, colors, longest)
        missing = [v for v in lines if not any(len(curve) for curve in shown[v])]
        if missing:
            note = f"no curve: {short_name(line_key)}={', '.join(missing)}"
            ax.text(0.97, 0.95, note, transform=ax.transAxes, ha="right", va="top", fontsize=8)
        ax.set_title(panel_title(panel_keys, panel), fontsize=9)
    for ax in grid.ravel()[len(panels) :]:
        ax.set_visible(False)
    for ax in grid[-1]:
        ax.set_xlabel("iteration")
    for ax in grid[:, 0]:
        ax.set_ylabel("train loss")
    handles = [Line2D([], [], color=colors[value], label=value) for value in lines]
    fig.legend(handles=handles, title=short_name(line_key), loc="center left", fontsize=9,
               bbox_to_anchor=(1 - 1.3 / fig.get_figwidth(), 0.5))  # fmt: skip
    stopped = "; x: a run stopped early" if any(0 < len(c) < longest for c in smoothed) else ""
    fig.suptitle(
        f"Sweep: training loss\n(moving average over the last {window} iterations{stopped})"
    )
    margins_in_inches(fig, 0.8, 1.4, 0.6, 0.8, wspace=0.08, hspace=0.3)
    return fig


def _draw_losses(
    ax: Any, smoothed: dict[str, list[np.ndarray]], colors: dict, longest: int
) -> None:
    """The lines of each value in its colour, an x where one ends before ``longest``; log y."""
    for value, curves in smoothed.items():
        drawn = [curve for curve in curves if len(curve)]
        for n, curve in enumerate(drawn):  # replicates: one label for the panel's legend
            width = 1.1 if len(drawn) == 1 else 0.8
            ax.plot(curve, color=colors[value], linewidth=width, label=value if n == 0 else "_")
            if 0 < len(curve) < longest:
                ax.plot(len(curve) - 1, curve[-1], "x", color=colors[value])
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
    ax.grid(alpha=0.3, which="both")


def runs_of(params: list[dict[str, str]], wanted: dict[str, str]) -> list[int]:
    """The indices of the runs whose params have the ``wanted`` values, in order."""
    return [i for i, p in enumerate(params) if all(str(p.get(k)) == v for k, v in wanted.items())]


def run_of(params: list[dict[str, str]], wanted: dict[str, str]) -> int | None:
    """The index of the last run whose params have the ``wanted`` values (None: no run)."""
    found = runs_of(params, wanted)
    return found[-1] if found else None


def line_colors(values: list[str]) -> dict[str, tuple]:
    """A color per value: tab10 (sequential viridis for more than ten values)."""
    if len(values) <= 10:
        return {v: mpl.colormaps["tab10"](i) for i, v in enumerate(values)}
    return {v: mpl.colormaps["viridis"](i / (len(values) - 1) * 0.9) for i, v in enumerate(values)}
