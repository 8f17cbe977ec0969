"""A sweep's comparison figures on its parent run: the loss curves of every job, and each
config's mean validation accuracy (over its seeds) as heat-maps or against its one axis.

The figures are ``pipeline.figures``'; the loss curves come from the jobs' ``history.npz``.
Replicates (jobs that differ only in their seed) share a line colour and a heat-map cell.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.stages.selection import REPLICATE_KEY, Candidate
from pipeline.tracking.lookup import download
from pipeline.tracking.mlflow_run import MlflowRun


def log_comparisons(
    parent: MlflowRun, rows: list[dict[str, Any]], configs: list[Candidate],
    params: list[dict], sweep_dir: Path, axes: list[str],
) -> None:  # fmt: skip
    """The loss curves as small multiples, a line per learning rate (else per value of the
    first axis), a panel per combination of the other axes, replicates overlaid; each config's
    accuracy as heat-maps over that axis and the next (a panel per value of the rest), or,
    with one axis only, against it. ``rows``: the summary's, one per job, ``params[i]`` the
    params of ``rows[i]``'s run; ``configs``: the jobs grouped by config."""
    from pipeline.figures import sweep_accuracy, sweep_losses  # matplotlib: only here

    config_axes = [key for key in axes if key != REPLICATE_KEY]
    line_key = "train.lr" if "train.lr" in config_axes else (config_axes or axes)[0]
    others = [key for key in config_axes if key != line_key]
    curves = [
        _losses(parent.client, r["run_id"], None if r["reused"] else sweep_dir / str(r["job"]))
        for r in rows
    ]
    parent.log_figure(sweep_losses.loss_panels(params, curves, line_key, others), "loss_curves")
    if not config_axes:  # only seeds: one config, whose numbers the description gives
        return
    values = [dict(config.config) for config in configs]
    scores, label, note, name = config_scores(configs)
    notes = [_note(config, rows) for config in configs]
    if others:
        figure = sweep_accuracy.accuracy_heatmaps(
            values, scores, notes, line_key, others[0], others[1:], label, note
        )
        parent.log_figure(figure, f"{name}_heatmap")
    else:
        figure = sweep_accuracy.accuracy_against(values, scores, notes, line_key, label, note)
        parent.log_figure(figure, f"{name}_vs_{sweep_losses.short_name(line_key)}")


def config_scores(configs: list[Candidate]) -> tuple[list[float], str, str, str]:
    """What the figures draw per config, its label, a note on it and the figure's short name:
    the mean validation accuracy over the seeds (none for a config that cannot be chosen);
    the test accuracy only when no job has a validation split (then nothing is chosen, and
    the note says so)."""
    if any(len(config.val_accs) for config in configs):
        seeds = max(len(config.jobs) for config in configs)
        note = f"mean over {seeds} seeds" if seeds > 1 else ""
        scores = [config.val_mean if config.eligible else math.nan for config in configs]
        return scores, "final validation accuracy", note, "val_acc"
    note = "no validation split: nothing chosen"
    return [config.test_mean for config in configs], "final test accuracy", note, "test_acc"


def _note(config: Candidate, rows: list[dict[str, Any]]) -> str:
    """What a config's cell says instead of a number: how its first job without a validation
    accuracy ended (diverged, failed, killed), and how many of its seeds did."""
    by_job = {row["job"]: row for row in rows}
    missing = [by_job[job.number] for job in config.jobs if job.val_acc is None]
    if not missing:
        return ""
    first = missing[0]
    note = "diverged" if first["diverged_at"] else first["status"].lower()
    return note if len(config.jobs) == 1 else f"{note} ({len(missing)}/{len(config.jobs)})"


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
