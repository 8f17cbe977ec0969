"""A real sweep: ``python -m pipeline --multirun`` with the joblib launcher, brand-new store."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import run_pipeline


def children_of(client, experiment_id, parent_id):
    return client.search_runs(
        [experiment_id], f"tags.`mlflow.parentRunId` = '{parent_id}'", max_results=100
    )


@pytest.mark.slow
def test_two_by_two_sweep_on_a_new_store(tmp_path, store_uri):
    done = run_pipeline("--multirun", "sweep=small", f"outputs_dir={tmp_path}", "train.iters=100")
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(store_uri)
    experiment = client.get_experiment_by_name("scratchnn")
    parents = client.search_runs([experiment.experiment_id], "tags.`scratchnn.role` = 'sweep'")
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    children = children_of(client, experiment.experiment_id, parent.info.run_id)
    assert len(children) == 4
    combos = {(c.data.params["train.lr"], c.data.params["model.hidden_size"]) for c in children}
    assert combos == {("0.5", "16"), ("0.5", "32"), ("1.0", "16"), ("1.0", "32")}
    for child in children:
        assert child.info.status == "FINISHED"
        losses = client.get_metric_history(child.info.run_id, "train_loss")
        assert sorted(m.step for m in losses) == list(range(100))
    summary = client.download_artifacts(parent.info.run_id, "summary.csv", str(tmp_path))
    rows = list(csv.DictReader(open(summary)))
    assert sorted(r["run_id"] for r in rows) == sorted(c.info.run_id for c in children)
    best = max(rows, key=lambda r: float(r["metrics.final_val_acc"]))
    assert parent.data.tags["best_run_id"] == best["run_id"]
    figures = {a.path for a in client.list_artifacts(parent.info.run_id, "figures")}
    assert figures == {"figures/val_acc_heatmap.png", "figures/loss_curves.png"}


def sweep_jobs(store_uri: str) -> tuple[MlflowClient, list]:
    """(client, the job runs of experiment ``scratchnn``) of the store ``store_uri``."""
    client = MlflowClient(store_uri)
    experiment_id = client.get_experiment_by_name("scratchnn").experiment_id
    return client, client.search_runs([experiment_id], "tags.`scratchnn.role` = 'job'")


@pytest.mark.slow
def test_a_numerical_gradient_sweep_runs_end_to_end(outputs, store_uri):
    tmp_path = outputs
    done = run_pipeline(
        "--multirun", "sweep=small", "train.gradient=numerical", "train.lr=1.0",
        "model.hidden_size=8,16", "train.iters=30", f"outputs_dir={tmp_path}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    client, jobs = sweep_jobs(store_uri)
    assert len(jobs) == 2
    for job in jobs:
        assert job.info.status == "FINISHED"
        assert (
            job.data.tags["gradient"] == "numerical" and job.data.params["data.dtype"] == "float64"
        )
        losses = client.get_metric_history(job.info.run_id, "train_loss")
        assert sorted(m.step for m in losses) == list(range(30))
    # the same job by backprop: the same curve within central differences' error, not its bits
    analytic = run_pipeline("sweep=small", "train.gradient=analytic", "train.lr=1.0",
                            "model.hidden_size=8", "train.iters=30", "data.dtype=float64",
                            f"outputs_dir={tmp_path}")  # fmt: skip
    assert analytic.returncode == 0, analytic.stderr[-3000:]
    experiment_id = client.get_experiment_by_name("scratchnn").experiment_id
    curves = {
        run.data.tags["gradient"]: [m.value for m in sorted(
            client.get_metric_history(run.info.run_id, "train_loss"), key=lambda m: m.step)]
        for run in client.search_runs([experiment_id], "params.`model.hidden_size` = '8'")
    }  # fmt: skip
    assert sorted(curves) == ["analytic", "numerical"]
    differences = np.abs(np.subtract(curves["numerical"], curves["analytic"]))
    assert 0 < differences.max() < 1e-6, differences


@pytest.mark.slow
def test_a_length_typed_on_the_command_line_replaces_the_presets_end_to_end(outputs, store_uri):
    """``sweep=small`` sets 300 iterations; ``train.epochs=1`` typed after it wins: each job
    runs one pass over its 1,000 rows (20 iterations of 50), and its run says so."""
    done = run_pipeline("--multirun", "sweep=small", "train.epochs=1", f"outputs_dir={outputs}")
    assert done.returncode == 0, done.stderr[-3000:]
    client, jobs = sweep_jobs(store_uri)
    assert len(jobs) == 4
    for job in jobs:
        assert (job.data.params["train.iters"], job.data.params["train.epochs"]) == ("None", "1.0")
        assert (job.data.metrics["iters_run"], job.data.metrics["epochs_run"]) == (20, 1.0)
        assert "train.epochs=1" in job.data.tags["mlflow.source.name"]
    assert (
        "length: 1 epoch each (train.epochs): the same data for every batch size: 20 "
        "iterations at batch 50" in done.stdout
    )
