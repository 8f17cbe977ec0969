"""The summary a sweep's parent run gets: a CSV row per job, comparison plots, the best run."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import plots
from pipeline.recording import JOB_TAG_PREFIX

AXES = ("train.lr", "train.batch_size", "model.hidden_size")
SCORE = "metrics.final_test_acc"  # what "best" means


def job_runs(client: Any, parent_id: str) -> list[tuple[int, str]]:
    """(job number, run id) of each job the parent's tags name, in job order."""
    tags = client.get_run(parent_id).data.tags
    prefix = len(JOB_TAG_PREFIX)
    return sorted((int(k[prefix:]), v) for k, v in tags.items() if k.startswith(JOB_TAG_PREFIX))


def summary_rows(runs: list[tuple[int, Any]], parent_id: str) -> list[dict[str, Any]]:
    """One row per (job number, MLflow run): status, whether the run was reused, the params
    that vary between the jobs (``params.<key>``), and every metric's last value
    (``metrics.<key>``)."""
    all_params = [run.data.params for _, run in runs]
    varying = sorted(
        {k for p in all_params for k in p if len({q.get(k) for q in all_params}) > 1},
        key=lambda k: (AXES.index(k) if k in AXES else len(AXES), k),  # the sweep axes first
    )
    rows = []
    for job, run in runs:
        row: dict[str, Any] = {"job": job, "run_id": run.info.run_id, "status": run.info.status}
        row["reused"] = run.data.tags.get("mlflow.parentRunId") != parent_id
        row["diverged_at"] = run.data.tags.get("diverged_at", "")
        row.update({f"params.{k}": run.data.params.get(k, "") for k in varying})
        row.update({f"metrics.{k}": v for k, v in sorted(run.data.metrics.items())})
        rows.append(row)
    return rows


def best_row(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    finished = [r for r in rows if r["status"] == "FINISHED" and r.get(SCORE) is not None]
    return max(finished, key=lambda r: r[SCORE], default=None)


def summarize(client: Any, parent_id: str, sweep_dir: Path) -> list[dict[str, Any]]:
    """Log ``summary.csv``, comparison plots and ``best_run_id`` to the parent run."""
    runs = [(job, client.get_run(run_id)) for job, run_id in job_runs(client, parent_id)]
    rows = summary_rows(runs, parent_id)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(k for row in rows for k in row)) or ["job"]
    with open(sweep_dir / "summary.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    client.log_artifact(parent_id, str(sweep_dir / "summary.csv"))
    if any(row.get(SCORE) is not None for row in rows):
        params = [run.data.params for _, run in runs]
        _log_comparisons(client, parent_id, rows, params, sweep_dir)
    client.set_tag(parent_id, "n_jobs", str(len(rows)))
    best = best_row(rows)
    if best is not None:
        client.set_tag(parent_id, "best_run_id", best["run_id"])
        client.log_metric(parent_id, "best_test_acc", best[SCORE])
    return rows


def _log_comparisons(
    client: Any, parent_id: str, rows: list[dict], params: list[dict], sweep_dir: Path
) -> None:
    """Test accuracy against lr per (hidden size, batch size), and the loss curves overlaid;
    ``params[i]`` are the params of the run of ``rows[i]``."""
    scores = [r.get(SCORE) for r in rows]
    figure = plots.sweep_accuracy(
        params, scores, "train.lr", ("model.hidden_size", "train.batch_size")
    )
    client.log_figure(parent_id, figure, "figures/test_acc_vs_lr.png")
    curves = {
        _label(p): _losses(client, r["run_id"], None if r["reused"] else sweep_dir / str(r["job"]))
        for p, r in zip(params, rows, strict=True)
    }
    client.log_figure(parent_id, plots.overlaid_losses(curves), "figures/loss_curves.png")


def _label(params: dict[str, str]) -> str:
    return " ".join(f"{k.split('.')[-1]}={params.get(k)}" for k in AXES)


def _losses(client: Any, run_id: str, job_dir: Path | None) -> np.ndarray:
    """The run's loss curve, from its ``history.npz``: the file the job wrote in ``job_dir``
    (its Hydra dir in this sweep) when it is there, else the run's artifact (empty if the
    run has none)."""
    if job_dir is not None and (job_dir / "history.npz").is_file():
        with np.load(job_dir / "history.npz", allow_pickle=False) as history:
            return history["losses"]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, "history.npz", tmp)
        except Exception:  # noqa: BLE001 - a killed run has no history file
            return np.array([])
        with np.load(path, allow_pickle=False) as history:
            return history["losses"]
