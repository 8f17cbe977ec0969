"""Reruns are bitwise identical, altered configs are caught, sweeps resume, launchers agree."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from pipeline.run import run
from pipeline.tools import serve
from pipeline.tools.rerun import rerun
from pipeline.tracking.recorder import JobInfo
from pipeline.tracking.reuse import lacks, reusable
from tests.conftest import compose_config, run_pipeline

SMALL = ("train.iters=60", "train.batch_size=50", "train.lr=1.0", "model.hidden_size=8")


@pytest.fixture(scope="module")
def original(tmp_path_factory, empty_store):
    """A finished run: (store uri, outputs dir, run id)."""
    out = tmp_path_factory.mktemp("repro")
    shutil.copyfile(empty_store, out / "mlflow.db")
    result = run(compose_config(out, *SMALL), JobInfo(output_dir=out / "job"))
    return f"sqlite:///{out}/mlflow.db", out, result["run_id"]


def test_rerun_is_identical(original, capsys):
    uri, out, run_id = original
    assert rerun(run_id, uri, str(out)) == 0
    printed = capsys.readouterr().out
    assert "identical: rerun" in printed and run_id in printed
    client = MlflowClient(uri)
    reruns = client.search_runs(
        [client.get_run(run_id).info.experiment_id], f"tags.rerun_of = '{run_id}'"
    )
    assert len(reruns) == 1 and reruns[0].info.status == "FINISHED"
    tags = reruns[0].data.tags  # its Source in MLflow's UI: the command that made it
    assert tags["mlflow.source.name"] == f"python -m pipeline.tools.rerun {run_id}"
    assert tags["mlflow.source.type"] == "LOCAL"


def test_a_run_that_predates_a_metric_still_reruns_identically(outputs, capsys):
    """A run logged before the gradient check existed: its config has no ``train.grad_check``,
    so the rerun takes today's (on) and logs ``grad_check_*`` too; that is named, not a
    difference."""
    cfg = compose_config(outputs, *SMALL, "train.grad_check=false")
    run_id = run(cfg, JobInfo(output_dir=outputs / "job"))["run_id"]
    uri = f"sqlite:///{outputs}/mlflow.db"
    artifacts = MlflowClient(uri).get_run(run_id).info.artifact_uri.removeprefix("file://")
    logged = Path(artifacts) / "config" / "config_resolved.yaml"
    logged.write_text(logged.read_text().replace("  grad_check: false\n", ""))
    assert rerun(run_id, uri, str(outputs)) == 0
    printed = capsys.readouterr().out
    assert "identical: rerun" in printed
    assert "note: the rerun also logs metrics the original predates: grad_check_W1" in printed


def test_a_run_from_before_the_validation_split_reruns_as_it_ran(outputs, capsys):
    """A run logged before ``data.val_size``, ``data.seed`` and ``train.epochs`` existed
    trained on every training row, on a synthetic set generated from its own seed, for its
    ``train.iters``: its config has none of the three keys, and the rerun takes the values
    that compute as it did (``PREDATED``), not today's defaults (rows held out, data seed 0)."""
    cfg = compose_config(outputs, *SMALL, "seed=3", "data.val_size=0", "data.seed=null")
    run_id = run(cfg, JobInfo(output_dir=outputs / "job"))["run_id"]
    uri = f"sqlite:///{outputs}/mlflow.db"
    artifacts = MlflowClient(uri).get_run(run_id).info.artifact_uri.removeprefix("file://")
    logged = Path(artifacts) / "config" / "config_resolved.yaml"
    text = logged.read_text()
    predated = ("  val_size: 0\n", "  seed: null\n", "  epochs: null\n")
    for line in predated:
        assert line in text
        text = text.replace(line, "")
    logged.write_text(text)
    assert rerun(run_id, uri, str(outputs)) == 0
    printed = capsys.readouterr().out
    assert "identical: rerun" in printed and "val_acc" not in printed


def test_rerun_of_an_altered_config_reports_the_difference(original, capsys):
    uri, out, run_id = original
    client = MlflowClient(uri)
    artifacts = client.get_run(run_id).info.artifact_uri.removeprefix("file://")
    logged = Path(artifacts) / "config" / "config_resolved.yaml"
    text = logged.read_text()
    assert "lr: 1.0" in text
    logged.write_text(text.replace("lr: 1.0", "lr: 0.9", 1))
    try:
        assert rerun(run_id, uri, str(out)) == 1
    finally:
        logged.write_text(text)
    printed = capsys.readouterr().out
    assert "warning: train.lr: 1.0 logged as param, 0.9 in the logged config" in printed
    assert "different: rerun" in printed
    assert "first difference: " in printed and "train_loss at step 1" in printed


def test_a_store_of_its_own_keeps_its_artifacts_beside_it_and_moves_whole(outputs, capsys):
    """``tracking.uri=sqlite:///<dir>/x.db``: the runs' files go to ``<dir>/mlartifacts``, not
    the project's outputs; after the folder is moved, `make rerun` and `make serve` find
    them beside the file."""
    first, moved = outputs / "store", outputs / "moved"
    cfg = compose_config(outputs / "project", *SMALL, f"tracking.uri=sqlite:///{first}/x.db")
    run_id = run(cfg, JobInfo(output_dir=outputs / "job"))["run_id"]
    assert not (outputs / "project" / "mlartifacts").exists()
    config = "config/config_resolved.yaml"
    assert (first / "mlartifacts" / run_id / "artifacts" / config).is_file()
    assert list(first.glob("mlartifacts/models/*/artifacts/MLmodel"))
    shutil.move(first, moved)
    uri = f"sqlite:///{moved}/x.db"
    source = serve.run_to_serve(uri, run_id, "scratchnn", "synthetic")[1]
    assert source.startswith(f"file://{moved}/mlartifacts/") and source.endswith("/artifacts")
    assert Path(source.removeprefix("file://"), "MLmodel").is_file()
    assert rerun(run_id, uri, str(outputs / "project")) == 0
    assert "identical: rerun" in capsys.readouterr().out


def _sweep(out: Path, *args: str):
    done = run_pipeline("--multirun", "sweep=small", f"outputs_dir={out}", "train.iters=40", *args)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _summary(client, parent_id, out):
    path = client.download_artifacts(parent_id, "summary.csv", str(out))
    return list(csv.DictReader(open(path)))


def _parents(client):
    experiment = client.get_experiment_by_name("scratchnn")
    return client.search_runs(
        [experiment.experiment_id], "tags.`scratchnn.role` = 'sweep'", order_by=["start_time ASC"]
    )


@pytest.mark.slow
def test_an_interrupted_sweep_resumes_with_only_the_missing_jobs(outputs):
    tmp_path = outputs
    # The first attempt got through half of the grid (lr=0.5 only) before it stopped.
    _sweep(tmp_path, "train.lr=0.5")
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment_id = client.get_experiment_by_name("scratchnn").experiment_id
    first_runs = client.search_runs([experiment_id], "tags.`scratchnn.role` = 'job'")
    assert len(first_runs) == 2
    done = _sweep(tmp_path)  # the whole 2 x 2 grid
    jobs = client.search_runs([experiment_id], "tags.`scratchnn.role` = 'job'")
    assert len(jobs) == 4  # only the two missing jobs ran
    rows = _summary(client, _parents(client)[-1].info.run_id, tmp_path)
    assert len(rows) == 4
    assert sorted(r["reused"] for r in rows) == ["False", "False", "True", "True"]
    assert {r["run_id"] for r in rows} == {r.info.run_id for r in jobs}
    assert "reused: finished earlier" in done.stdout
    _sweep(tmp_path, "force=true")  # FORCE=1 reruns everything
    assert len(client.search_runs([experiment_id], "tags.`scratchnn.role` = 'job'")) == 8


@pytest.mark.slow
def test_a_resume_runs_again_the_jobs_that_lack_what_it_asks_for(outputs):
    """Jobs that finished with ``tracking.log_model=false`` are not reused by a sweep that logs
    models: they run again, and the sweep registers its chosen model. A resume that reuses
    every job lists them, linked, in its parent's description."""
    two_jobs = "model.hidden_size=16"  # sweep=small's lr axis only
    _sweep(outputs, two_jobs, "tracking.log_model=false", "tracking.registered_model=null")
    done = _sweep(outputs, two_jobs)
    client = MlflowClient(f"sqlite:///{outputs}/mlflow.db")
    experiment_id = client.get_experiment_by_name("scratchnn").experiment_id
    assert "reused: finished earlier" not in done.stdout
    logs = [path.read_text() for path in outputs.glob("sweeps/*/*/*/__main__.log")]
    assert sum("without what tracking.log_model=true asks for" in text for text in logs) == 2
    assert "registered: models:/scratchnn-synthetic/1" in done.stdout
    assert "nothing registered" not in done.stdout + done.stderr
    resumed = _sweep(outputs, two_jobs)
    assert resumed.stdout.count("reused: finished earlier") == 2
    parent = _parents(client)[-1]
    rows = _summary(client, parent.info.run_id, outputs)
    note = parent.data.tags["mlflow.note.content"]
    assert "**Reused jobs**" in note
    for row in rows:
        page = f"#/experiments/{experiment_id}/runs/{row['run_id']}?workflowType=machine_learning"
        assert f"[{row['run_id'][:8]}]({page})" in note


@pytest.mark.slow
def test_basic_and_joblib_launchers_give_identical_metrics(outputs):
    tmp_path = outputs
    one_job = ("train.lr=1.0", "model.hidden_size=16", "force=true")
    _sweep(tmp_path, *one_job, "hydra/launcher=basic")
    _sweep(tmp_path, *one_job)  # joblib, the default
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment_id = client.get_experiment_by_name("scratchnn").experiment_id
    basic, joblib = client.search_runs(
        [experiment_id], "tags.`scratchnn.role` = 'job'", order_by=["start_time ASC"]
    )
    assert basic.data.tags["weights_sha256"] == joblib.data.tags["weights_sha256"]
    for key in ("train_loss", "train_acc", "test_acc", "final_test_loss"):
        points = [
            [(m.step, m.value) for m in client.get_metric_history(r.info.run_id, key)]
            for r in (basic, joblib)
        ]
        assert sorted(points[0]) == sorted(points[1]), key
        assert len(points[0]) > 0


def test_a_twin_is_reused_only_if_it_holds_what_the_job_asks_for(caplog):
    tracking = OmegaConf.create({"log_model": True, "log_figures": False})
    bare = {"tracking.log_model": "False", "tracking.log_figures": "False"}
    full = {"tracking.log_model": "True", "tracking.log_figures": "True"}
    assert lacks(tracking, bare) == ["log_model"] and lacks(tracking, full) == []
    assert lacks(OmegaConf.create({"log_model": False, "log_figures": False}), bare) == []
    twins = [{"run_id": "new", "params": bare}, {"run_id": "old", "params": full}]
    assert reusable(twins, tracking)["run_id"] == "old"
    assert reusable(twins[:1], tracking) is None
    assert "run new finished earlier without what tracking.log_model=true asks for" in caplog.text
    assert reusable([], tracking) is None
