"""What a reviewer sees of a sweep in MLflow, read back through ``MlflowClient`` only: every
run's provenance (Source, Created by, git), the parent as the sweep's front page (description,
axes and fixed config as params, counts as metrics, its files), no job list in its tags."""

from __future__ import annotations

import getpass
import re
import subprocess

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import ROOT, run_pipeline

SWEEP = ("--multirun", "sweep=small", "train.iters=100")  # conf/sweep/small.yaml: 2 x 2 jobs


def sweep_runs(client: MlflowClient) -> tuple:
    """(the newest sweep parent, its children) of the experiment ``scratchnn``."""
    experiment = client.get_experiment_by_name("scratchnn").experiment_id
    parent = client.search_runs(
        [experiment], "tags.`scratchnn.role` = 'sweep'", order_by=["attributes.start_time DESC"]
    )[0]
    children = client.search_runs(
        [experiment], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    return parent, children


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A finished 2 x 2 sweep into a new outputs dir: (client, parent, children, outputs)."""
    outputs = tmp_path_factory.mktemp("review")
    done = run_pipeline(*SWEEP, f"outputs_dir={outputs}")
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{outputs}/mlflow.db")
    return (client, *sweep_runs(client), outputs)


@pytest.mark.slow
def test_every_run_says_where_it_came_from(sweep):
    client, parent, children, _ = sweep
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    for run in (parent, *children):
        tags = run.data.tags
        assert tags["mlflow.source.type"] == "LOCAL"
        assert tags["mlflow.user"] == getpass.getuser()
        assert tags["mlflow.runName"] == run.info.run_name
        assert tags["mlflow.source.git.commit"] == (commit or "unknown")
    assert parent.data.tags["mlflow.source.name"].startswith("python -m pipeline --multirun ")
    assert "sweep=small" in parent.data.tags["mlflow.source.name"]
    for child in children:  # a job's Source is the command that runs it alone
        source = child.data.tags["mlflow.source.name"]
        assert source.startswith("python -m pipeline ") and "--multirun" not in source
        params = child.data.params
        assert f"train.lr={params['train.lr']}" in source
        assert f"model.hidden_size={params['model.hidden_size']}" in source


@pytest.mark.slow
def test_the_parent_is_the_sweeps_front_page(sweep):
    client, parent, children, _ = sweep
    best = max(children, key=lambda run: run.data.metrics["final_val_acc"])
    note = parent.data.tags["mlflow.note.content"]
    assert note.startswith("### Sweep of lr × hidden_size: 4 jobs")
    assert "| `train.lr` | 0.5, 1.0 |" in note and "| `model.hidden_size` | 16, 32 |" in note
    assert "4 finished, 0 reused (finished earlier), 0 diverged, 0 failed or killed" in note
    acc, test_acc = (best.data.metrics[key] for key in ("final_val_acc", "final_test_acc"))
    assert "**Chosen by validation accuracy**" in note
    assert "**Length**: 100 iterations each (train.iters): 5 epochs at batch 50." in note
    params = best.data.params
    chosen = f"train.lr={params['train.lr']} model.hidden_size={params['model.hidden_size']}"
    assert f"| chosen | `{chosen}` | **{acc:.4f} ± " in note and "| runner-up |" in note
    assert re.search(r"^(Within noise|Clear): the gap", note, re.M)
    assert f"**Best job**: #{best.data.tags['scratchnn.job']} (run `{best.info.run_id}`)" in note
    assert f"test accuracy **{test_acc:.4f}**, its estimate on new data" in note
    assert re.search(r"Rerun every job: `python -m pipeline --multirun .*force=true`", note)
    params = parent.data.params
    assert params["train.lr"] == "0.5, 1.0" and params["model.hidden_size"] == "16, 32"
    assert params["train.iters"] == "100" and params["data.name"] == "synthetic"
    metrics = parent.data.metrics
    assert metrics["best_val_acc"] == acc and metrics["selected_test_acc"] == test_acc
    assert "best_test_acc" not in metrics  # no maximum over test accuracies
    assert {params[f"best.{key}"] for key in ("train.lr", "model.hidden_size")} == {
        best.data.params["train.lr"], best.data.params["model.hidden_size"]}  # fmt: skip
    assert {k: metrics[k] for k in ("n_jobs", "n_finished", "n_reused", "n_diverged")} == {
        "n_jobs": 4, "n_finished": 4, "n_reused": 0, "n_diverged": 0,
    }  # fmt: skip
    assert parent.data.tags["best_run_id"] == best.info.run_id


@pytest.mark.slow
def test_the_parent_keeps_the_sweeps_files_and_a_short_tags_panel(sweep, tmp_path):
    client, parent, _, _ = sweep
    files = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"multirun.yaml", "summary.csv", "configs.csv", "sweep.log", "figures", "jobs"} <= files
    log = open(client.download_artifacts(parent.info.run_id, "sweep.log", str(tmp_path))).read()
    assert f"sweep {parent.info.run_id}: 4 jobs" in log  # the summary the terminal showed
    assert "#0 : train.lr=0.5 model.hidden_size=16" in log  # what Hydra's launcher logged
    ours = [key for key in parent.data.tags if not key.startswith("mlflow.")]
    assert not [key for key in ours if key.startswith("scratchnn.job")]
    assert len(ours) <= 15, ours


@pytest.mark.slow
def test_a_resumed_sweep_counts_its_reused_jobs(sweep):
    client, first, children, outputs = sweep
    done = run_pipeline(*SWEEP, f"outputs_dir={outputs}")
    assert done.returncode == 0, done.stderr[-3000:]
    parent, new_children = sweep_runs(client)
    assert parent.info.run_id != first.info.run_id and new_children == []
    assert parent.data.metrics["n_reused"] == 4 and parent.data.metrics["n_finished"] == 0
    assert "0 finished, 4 reused (finished earlier)" in parent.data.tags["mlflow.note.content"]
    summary = client.download_artifacts(parent.info.run_id, "summary.csv", str(outputs))
    assert sorted(c.info.run_id for c in children) == sorted(
        line.split(",")[1] for line in open(summary).read().splitlines()[1:]
    )
