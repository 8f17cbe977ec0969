"""The figure a ``sweep=numerical_diff`` parent run gets: the error against the step h.

``log_error_vs_h`` reads each job's ``abs_error`` (a point per step k, nan where h rounded
to 0) back from the store, draws one panel per x with a line per (method, dtype) and the
guides of the stage (truncation 0.01 h, rounding eps |f(x)| / h, the level |f'(x)| of a zero
estimate), and logs it to the parent as ``figures/error_vs_h.png``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.config import Task
from pipeline.stages import numerical_diff as diff
from pipeline.tracking.lookup import metric_points, sweep_jobs
from pipeline.tracking.mlflow_run import MlflowRun


def errors_by_step(client: Any, run_id: str, k_max: int) -> np.ndarray:
    """(k_max,) the run's ``abs_error`` at steps 1 .. k_max, nan where it has no point."""
    errors = np.full(k_max, np.nan)
    for step, value in metric_points(client, run_id, "abs_error"):
        if 1 <= step <= k_max:
            errors[step - 1] = value
    return errors


def guides(x: float, dtypes: list[str], h: np.ndarray) -> dict[str, np.ndarray]:
    """label -> (K,) the reference lines of the panel of ``x``, at steps ``h`` (K,)."""
    lines = {"truncation of forward: 0.01 h": diff.truncation_error(h)}
    for dtype in sorted(set(dtypes), reverse=True):
        lines[f"rounding in {dtype}: eps |f(x)| / h"] = diff.rounding_error(x, dtype, h)
    exact = float(diff.exact_derivative(x))
    lines[f"|f'(x)| = {exact:g}: estimate 0 (x + h == x)"] = np.full(h.shape, abs(exact))
    return lines


def log_error_vs_h(parent: MlflowRun) -> None:
    """Log ``figures/error_vs_h.png`` to the sweep's ``parent`` run, from its jobs of
    ``task=numerical_diff`` (nothing when it has none)."""
    client = parent.client
    runs = [run for _, run in sweep_jobs(client, parent.run_id)]
    runs = [run for run in runs if run.data.params.get("task") == Task.NUMERICAL_DIFF]
    if not runs:
        return
    from pipeline.figures import lessons  # matplotlib: only when there is something to draw

    k_max = max(int(run.data.params["diff.k_max"]) for run in runs)
    h = np.array([float(f"1e-{k}") for k in range(1, k_max + 1)])
    panels: dict[float, dict[tuple[str, str], np.ndarray]] = {}
    for run in runs:
        params = run.data.params
        line = params["diff.method"], params["diff.dtype"]
        x = float(params["diff.x"])
        panels.setdefault(x, {})[line] = errors_by_step(client, run.info.run_id, k_max)
    titles = {x: f"x = {x:g}" for x in sorted(panels)}
    figure = lessons.error_vs_h(
        h,
        {titles[x]: panels[x] for x in titles},
        {titles[x]: guides(x, [dtype for _, dtype in panels[x]], h) for x in titles},
    )
    parent.log_figure(figure, "error_vs_h")
