"""The summary a sweep's parent run gets: a CSV row per job, comparison plots, the best run
and its model registered.

The sweep's axes (``pipeline.sweeps.preflight.axis_values``: the keys its config sweeps over)
order the columns and the plots. The jobs' runs are read back through
``pipeline.tracking.lookup``; the figures are ``pipeline.figures``'.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import Task
from pipeline.tracking import provenance
from pipeline.tracking.lookup import download, sweep_jobs
from pipeline.tracking.mlflow_run import MlflowRun
from pipeline.tracking.registry import SCORE as METRIC
from pipeline.tracking.registry import Registration, register
from pipeline.tracking.tags import BEST_RUN_TAG, PARENT_TAG

SCORE = f"metrics.{METRIC}"  # what "best" means: a row's column of the final test accuracy


def summary_rows(runs: list[tuple[int, Any]], parent_id: str, axes: list[str]) -> list[dict]:
    """One row per (job number, MLflow run): status, whether the run was reused, the params
    that vary between the jobs and can change a result (``params.<key>``, the sweep's axes
    first; a reused rerun differs in ``force`` and ``tracking.*`` only) and every metric's last
    value (``metrics.<key>``)."""
    all_params = [run.data.params for _, run in runs]
    keys = {k for p in all_params for k in p if provenance.is_semantic(k)}
    varying = sorted(
        {k for k in keys if len({q.get(k) for q in all_params}) > 1},
        key=lambda k: (axes.index(k) if k in axes else len(axes), k),
    )
    rows = []
    for job, run in runs:
        row: dict[str, Any] = {"job": job, "run_id": run.info.run_id, "status": run.info.status}
        row["reused"] = run.data.tags.get(PARENT_TAG) != parent_id
        row["diverged_at"] = run.data.tags.get("diverged_at", "")
        row.update({f"params.{k}": run.data.params.get(k, "") for k in varying})
        row.update({f"metrics.{k}": v for k, v in sorted(run.data.metrics.items())})
        rows.append(row)
    return rows


def best_row(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    finished = [r for r in rows if r["status"] == "FINISHED" and r.get(SCORE) is not None]
    return max(finished, key=lambda r: r[SCORE], default=None)


def summarize(parent: MlflowRun, sweep_dir: Path, axes: list[str]) -> list[dict[str, Any]]:
    """Log ``summary.csv``, the comparison plots, ``best_run_id`` and ``best_test_acc`` to the
    ``parent`` run; return the rows."""
    runs = sweep_jobs(parent.client, parent.run_id)
    rows = summary_rows(runs, parent.run_id, axes)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(k for row in rows for k in row)) or ["job"]
    with open(sweep_dir / "summary.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    parent.log_artifact(sweep_dir / "summary.csv", None)
    if axes and any(run.data.params.get("task") == Task.TRAIN for _, run in runs):  # not lessons
        _log_comparisons(parent, rows, [run.data.params for _, run in runs], sweep_dir, axes)
    best = best_row(rows)
    if best is not None:
        parent.set_tags({BEST_RUN_TAG: best["run_id"]})
        parent.log_series("best_test_acc", np.array([0]), np.array([best[SCORE]]))
    return rows


def _log_comparisons(
    parent: MlflowRun, rows: list[dict], params: list[dict], sweep_dir: Path, axes: list[str]
) -> None:
    """The loss curves as small multiples, a line per learning rate (else per value of the
    first axis), a panel per combination of the other axes; the test accuracy as heat-maps
    over that axis and the next (a panel per value of the rest), or, with one axis only,
    against it. ``params[i]`` are those of ``rows[i]``."""
    from pipeline.figures import sweep_accuracy, sweep_losses  # matplotlib: only here

    line_key = "train.lr" if "train.lr" in axes else axes[0]
    others = [key for key in axes if key != line_key]
    curves = [
        _losses(parent.client, r["run_id"], None if r["reused"] else sweep_dir / str(r["job"]))
        for r in rows
    ]
    parent.log_figure(sweep_losses.loss_panels(params, curves, line_key, others), "loss_curves")
    scores = [r.get(SCORE) for r in rows]
    notes = ["diverged" if r["diverged_at"] else r["status"].lower() for r in rows]
    if others:
        heatmaps = sweep_accuracy.accuracy_heatmaps(
            params, scores, notes, line_key, others[0], others[1:]
        )
        parent.log_figure(heatmaps, "test_acc_heatmap")
    else:
        against = sweep_accuracy.accuracy_against(params, scores, notes, line_key)
        parent.log_figure(against, f"test_acc_vs_{sweep_losses.short_name(line_key)}")


def _losses(client: Any, run_id: str, job_dir: Path | None) -> np.ndarray:
    """The run's loss curve, from its ``history.npz``: the file the job wrote in ``job_dir``
    (its Hydra dir in this sweep) when it is there, else the run's artifact (empty if the
    run has none)."""
    if job_dir is not None and (job_dir / "history.npz").is_file():
        with np.load(job_dir / "history.npz", allow_pickle=False) as history:
            return history["losses"]
    with tempfile.TemporaryDirectory() as tmp:
        path = download(client, run_id, "history.npz", tmp)
        if path is None:  # a killed run has no history file
            return np.array([])
        with np.load(path, allow_pickle=False) as history:
            return history["losses"]


def register_best(
    client: Any, rows: list[dict[str, Any]], name: str | None, alias: str
) -> Registration | None:
    """``register`` the model of the best finished run of the summary ``rows`` (``alias`` if
    it beats the holder's, else challenger), or None if nothing was registered (``name``
    None, no finished run, or the best has no model)."""
    best = best_row(rows)
    if name is None or best is None:
        return None
    return register(client, best["run_id"], name, alias)
