"""The summary a sweep's parent run gets: a CSV row per job and per config, comparison plots,
the config chosen by validation accuracy, and its best job's model registered.

The sweep's axes (``pipeline.sweeps.preflight.axis_values``: the keys its config sweeps over)
order the columns and the plots. Jobs that differ only in their seed are replicates of one
config; ``pipeline.stages.selection`` ranks the configs. The jobs' runs are read back
through ``pipeline.tracking.lookup``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import Task
from pipeline.stages.selection import (
    REPLICATE_KEY,
    REPORTED,
    SELECT_BY,
    Candidate,
    Job,
    candidates,
    ranked,
)
from pipeline.sweeps.comparisons import log_comparisons
from pipeline.tracking import provenance
from pipeline.tracking.lookup import sweep_jobs
from pipeline.tracking.mlflow_run import MlflowRun
from pipeline.tracking.registry import Registration, register
from pipeline.tracking.run_status import FINISHED
from pipeline.tracking.tags import BEST_RUN_TAG, PARENT_TAG

VAL_ROWS_KEY = "data.val_size"  # the run param holding a job's validation rows
BEST_PREFIX = "best."  # the parent's params of the chosen config: best.train.lr = 0.5


@dataclass(frozen=True)
class Summary:
    """A sweep's jobs (``rows``, one per job: ``summary.csv``; ``params``: each job's run's
    params, all of them), its configs (``configs``: their replicates, in sweep order), those
    that could be chosen, best first (``ranking``), and whether its jobs trained networks
    (``trained``; else they ran a lesson)."""

    rows: list[dict[str, Any]]
    params: list[dict[str, str]]
    configs: list[Candidate]
    ranking: list[Candidate]
    trained: bool

    @property
    def selected(self) -> dict[str, Any] | None:
        """The row of the job chosen: the best replicate of the best config (None: none)."""
        if not self.ranking:
            return None
        number = self.ranking[0].best_job.number
        return next(row for row in self.rows if row["job"] == number)

    @property
    def validated(self) -> bool:
        """Whether any job has a validation accuracy (none: ``data.val_size=0``)."""
        return any(f"metrics.{SELECT_BY}" in row for row in self.rows)


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


def selection_jobs(rows: list[dict], runs: list[tuple[int, Any]]) -> list[Job]:
    """The selection stage's view of each job: its config (the varying params but the seed),
    its scores if it finished, and its validation rows."""
    jobs = []
    for row, (_, run) in zip(rows, runs, strict=True):
        config = tuple(
            (key.removeprefix("params."), value) for key, value in row.items()
            if key.startswith("params.") and key != f"params.{REPLICATE_KEY}"
        )  # fmt: skip
        finished = row["status"] == FINISHED
        scores = [row.get(f"metrics.{key}") if finished else None for key in (SELECT_BY, REPORTED)]
        jobs.append(Job(row["job"], config, *scores, int(run.data.params.get(VAL_ROWS_KEY, 0))))
    return jobs


def summarize(parent: MlflowRun, sweep_dir: Path, axes: list[str]) -> Summary:
    """Log ``summary.csv``, ``configs.csv``, the comparison plots and the choice (the tag
    ``best_run_id``, the metrics ``best_val_acc`` and ``selected_test_acc``, the params
    ``best.<key>``) to the ``parent`` run; return the ``Summary``."""
    runs = sweep_jobs(parent.client, parent.run_id)
    rows = summary_rows(runs, parent.run_id, axes)
    jobs = selection_jobs(rows, runs)
    params = [run.data.params for _, run in runs]
    trained = any(p.get("task") == Task.TRAIN for p in params)
    summary = Summary(rows, params, candidates(jobs), ranked(jobs), trained)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    write_csv(sweep_dir / "summary.csv", rows)
    parent.log_artifact(sweep_dir / "summary.csv", None)
    if trained:  # not a sweep of lessons
        write_csv(sweep_dir / "configs.csv", config_rows(summary))
        parent.log_artifact(sweep_dir / "configs.csv", None)
    if axes and trained:
        log_comparisons(parent, rows, summary.configs, params, sweep_dir, axes)
    selected = summary.selected
    if selected is not None:
        best = summary.ranking[0]
        parent.set_tags({BEST_RUN_TAG: selected["run_id"]})
        parent.log_params({f"{BEST_PREFIX}{key}": value for key, value in best.config})
        test_acc = selected.get(f"metrics.{REPORTED}", np.nan)
        for key, value in {"best_val_acc": best.val_mean, "selected_test_acc": test_acc}.items():
            parent.log_series(key, np.array([0]), np.array([value]))
    return summary


def config_rows(summary: Summary) -> list[dict[str, Any]]:
    """``configs.csv``: one row per config, the ranked ones first (``rank`` 1 is chosen),
    then those that cannot be chosen (a replicate without a validation accuracy)."""
    order = summary.ranking + [c for c in summary.configs if c not in summary.ranking]
    rows = []
    for config in order:
        rank = summary.ranking.index(config) + 1 if config in summary.ranking else ""
        missing = sum(job.val_acc is None for job in config.jobs)
        rows.append({
            "rank": rank, **dict(config.config), "n_seeds": len(config.jobs),
            f"{SELECT_BY}_mean": config.val_mean, f"{SELECT_BY}_std": config.val_std,
            f"{REPORTED}_mean": config.test_mean,
            "jobs": " ".join(str(job.number) for job in config.jobs),
            "without_val_acc": missing,
        })  # fmt: skip
    return rows


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row)) or ["job"]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def register_best(
    client: Any, summary: Summary, name: str | None, alias: str
) -> Registration | None:
    """``register`` the model of the chosen job (``alias`` if it beats the holder's, else
    challenger), or None if nothing was registered (``name`` None, nothing chosen, or the
    chosen job has no model)."""
    selected = summary.selected
    if name is None or selected is None:
        return None
    return register(client, selected["run_id"], name, alias)
