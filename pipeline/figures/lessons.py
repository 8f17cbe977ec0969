"""The figures of the notebook's lessons: the gradient descent's path over its contours, and
the numerical derivative's error against the step h (``make sweep-h``)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def descent_path(path: np.ndarray, lr: float) -> Figure:
    """path: (steps + 1, 2) points visited minimising x0**2 + x1**2, over its contour plot."""
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    finite = path[np.all(np.isfinite(path), axis=1)]
    reach = max(4.5, float(np.max(np.abs(finite[:2]))) * 1.2)
    grid = np.linspace(-reach, reach, 201)
    x0, x1 = np.meshgrid(grid, grid)
    ax.contour(x0, x1, x0**2 + x1**2, levels=12, colors="0.7", linewidths=0.6)
    ax.plot(finite[:, 0], finite[:, 1], "o-", markersize=3, color="tab:blue")
    ax.plot(*finite[0], "s", color="tab:red", label="start")
    ax.set(xlim=(-reach, reach), ylim=(-reach, reach), xlabel="x0", ylabel="x1")
    ax.set_title(f"Gradient descent, lr={lr:g}")
    ax.set_aspect("equal")
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


GUIDE_STYLES = ("--", ":", "-.", (0, (6, 2, 1, 2, 1, 2)))  # the reference lines of error_vs_h


def error_vs_h(
    h: np.ndarray,
    panels: dict[str, dict[tuple[str, str], np.ndarray]],
    guides: dict[str, dict[str, np.ndarray]],
) -> Figure:
    """The absolute error of numerical derivatives against the step, log-log, h shrinking to
    the right; one panel per title of ``panels``.

    h : (K,) the nominal steps 10**-k
    panels : title -> ((method, dtype) -> (K,) absolute errors at ``h``): a line each, one
        colour per method, solid for float64, dashed otherwise
    guides : title -> (label -> (K,) reference values at ``h``), thin grey lines, cut to
        the errors' range

    nan (h rounded to 0: 0/0) is left out, a gap, and the steps where it occurs are shaded;
    an error of exactly 0, which a log axis cannot show, is a triangle on the bottom edge.
    """
    fig = Figure(figsize=(6.5 * max(len(panels), 1), 5.5))
    axes = fig.subplots(1, max(len(panels), 1), sharey=True, squeeze=False)[0]
    methods = sorted({method for lines in panels.values() for method, _ in lines})
    every = np.concatenate([[1.0], *(e for lines in panels.values() for e in lines.values())])
    shown = every[np.isfinite(every) & (every > 0)]
    ylim = (shown.min() / 10, shown.max() * 10)
    for ax, (title, lines) in zip(axes, panels.items(), strict=False):
        for number, (label, values) in enumerate(guides.get(title, {}).items()):
            style = GUIDE_STYLES[number % len(GUIDE_STYLES)]
            ax.plot(h, values, linestyle=style, color="0.55", linewidth=0.9, label=label)
        for (method, dtype), errors in sorted(lines.items()):
            _error_line(ax, h, errors, f"C{methods.index(method)}", dtype, f"{method} {dtype}")
        nan_steps = [h[np.isnan(errors)] for errors in lines.values()]
        if any(steps.size for steps in nan_steps):
            start = max(steps.max() for steps in nan_steps if steps.size) * 10**0.5
            ax.axvspan(start, h.min() / 3, color="0.92", zorder=0, label="h rounded to 0: nan")
        ax.set(xscale="log", yscale="log", xlim=(h.max() * 3, h.min() / 3), ylim=ylim)
        ax.set_title(title)
        ax.set_xlabel("step h = 10^-k (shrinking →)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    axes[0].set_ylabel("|estimate − f'(x)|")
    fig.suptitle("Numerical derivative of f(x) = 0.01x² + 0.1x: error against the step h")
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.1, top=0.88, wspace=0.05)
    return fig


def _error_line(ax, h: np.ndarray, errors: np.ndarray, color: str, dtype: str, label: str):
    """One method's errors (K,) at ``h`` (K,): nan and 0 are gaps, 0 a triangle at the bottom."""
    line = "-" if dtype == "float64" else "--"
    shown = np.where(errors > 0, errors, np.nan)
    ax.plot(h, shown, line, color=color, marker=".", markersize=4, label=label)
    zeros = h[errors == 0]
    if zeros.size:
        ax.plot(zeros, np.zeros(zeros.size), "v", color=color, clip_on=False,
                transform=ax.get_xaxis_transform(), label=f"{label}: error exactly 0")  # fmt: skip
