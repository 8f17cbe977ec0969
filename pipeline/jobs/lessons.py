"""The notebook's two lessons before training: ``task=gradient_descent`` (section 4.4.1) and
``task=numerical_diff`` (section 4.3.1), each a stage run and, when tracked, one MLflow run."""

from __future__ import annotations

from typing import Any

import numpy as np
from omegaconf import OmegaConf

from pipeline.config import Task
from pipeline.stages.descent import descend
from pipeline.stages.history import MetricsSink
from pipeline.stages.numerical_diff import differentiate
from pipeline.tracking.figure_messages import LogDescentFigure
from pipeline.tracking.recorder import JobInfo, Recorder
from pipeline.tracking.run_status import FINISHED, status_after


def tracked(cfg: Any, job: JobInfo, name: str, tags: dict[str, str], record) -> str:
    """Start the job's run ``name`` with ``tags``, call ``record(recorder, sink)`` to log to it, and
    end it (FAILED or KILLED if ``record`` raised); returns the run id."""
    recorder = Recorder(cfg, job, OmegaConf.to_container(cfg, resolve=True))
    sink = recorder.start(name, tags)
    try:
        record(recorder, sink)
    except BaseException as error:
        recorder.end(status_after(error))
        raise
    return recorder.end(FINISHED)


def run_gradient_descent(cfg: Any, job: JobInfo) -> dict[str, Any]:
    """The notebook's gradient descent; logs the path and its figure when tracked."""
    path, values = descend(cfg.gd)
    result = {"x0": float(path[-1, 0]), "x1": float(path[-1, 1]), "f": float(values[-1])}
    if not cfg.tracking.enabled:
        return result

    def record(recorder: Recorder, sink: MetricsSink) -> None:
        steps = np.arange(len(path))
        for key, series in (("x0", path[:, 0]), ("x1", path[:, 1]), ("f", values)):
            sink.log_series(key, steps, series)
        if cfg.tracking.log_figures:
            recorder.log(LogDescentFigure(path.tolist(), float(cfg.gd.lr)))
        job.output_dir.mkdir(parents=True, exist_ok=True)
        np.savetxt(job.output_dir / "path.csv", path, delimiter=",", header="x0,x1", comments="")
        recorder.save_file(job.output_dir / "path.csv")

    return {
        **result,
        "run_id": tracked(
            cfg, job, f"gradient descent lr={cfg.gd.lr:g}", {"task": Task.GRADIENT_DESCENT}, record
        ),
    }


def run_numerical_diff(cfg: Any, job: JobInfo) -> dict[str, Any]:
    """The notebook's section 4.3.1: f'(x) at h = 10**-k, k = 1 .. ``diff.k_max``.

    When tracked, metrics ``estimate`` and ``abs_error`` get a point at each step k (nan
    where h rounded to 0), ``min_abs_error`` and ``best_h`` one point, and
    ``differences.csv`` holds every (k, h, estimate, abs_error).
    """
    found = differentiate(cfg.diff.method, cfg.diff.x, cfg.diff.dtype, cfg.diff.k_max)
    best = int(np.nanargmin(found.abs_error))  # k = 1 always gives a number
    result = {"min_abs_error": float(found.abs_error[best]), "best_h": float(found.h[best])}
    if not cfg.tracking.enabled:
        return result

    def record(recorder: Recorder, sink: MetricsSink) -> None:
        sink.log_series("estimate", found.k, found.estimate)
        sink.log_series("abs_error", found.k, found.abs_error)
        recorder.log_metrics(result)
        table = np.column_stack([found.k, found.h, found.estimate, found.abs_error])
        path = job.output_dir / "differences.csv"
        job.output_dir.mkdir(parents=True, exist_ok=True)
        columns = {"fmt": ["%d", "%.17g", "%.17g", "%.17g"], "header": "k,h,estimate,abs_error"}
        np.savetxt(path, table, delimiter=",", comments="", **columns)
        recorder.save_file(path)

    name = f"{cfg.diff.method} x={cfg.diff.x:g} {cfg.diff.dtype}"
    tags = {"task": Task.NUMERICAL_DIFF, "dtype": cfg.diff.dtype}
    return {**result, "run_id": tracked(cfg, job, name, tags, record)}
