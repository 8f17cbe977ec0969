"""Model selection never touches the test set: configs ranked by their mean validation accuracy
over seeds, and every choice a sweep makes (its best run, the parent's numbers, configs.csv,
the heat-map, the registry's champion, the search's objective, the saved view) following
validation in a sweep whose validation and test rankings disagree."""

from __future__ import annotations

import contextlib
import csv
import io
import math
import shutil
import statistics

import pytest

from pipeline.__main__ import objective
from pipeline.config import ConfigError, dataset_config
from pipeline.run import run
from pipeline.stages.selection import Job, binomial_se, candidates, ranked, within_noise
from pipeline.sweeps.ending import SweepEnd, end_sweep
from pipeline.tracking.artifacts import artifact_location
from pipeline.tracking.mlflow_run import MlflowRun
from pipeline.tracking.recorder import JobInfo
from pipeline.tracking.runs_view import COLUMNS, SORT_KEY, view_state
from pipeline.tracking.store import ENV_URI, connect
from pipeline.tracking.tags import NOTE_TAG, ROLE_TAG
from tests.conftest import compose_config

JOB = ("train.iters=60", "train.batch_size=50", "model.hidden_size=16", "progress=none")
LRS, SEEDS = ("1.0", "3.0"), (0, 1)  # two configs, two seeds each: four jobs


def job(number: int, lr: str, val: float | None, test: float | None, n_val: int = 10000) -> Job:
    return Job(number, (("train.lr", lr),), val, test, n_val)


def test_the_binomial_standard_error_of_an_accuracy():
    assert binomial_se(0.968, 10000) == pytest.approx(0.00176, abs=1e-5)  # the issue's ±0.0018
    assert binomial_se(0.5, 100) == 0.05
    assert math.isnan(binomial_se(0.9, 0))


def test_replicates_are_one_config_ranked_by_their_mean_validation_accuracy():
    jobs = [
        job(0, "0.1", 0.95, 0.99), job(1, "0.1", 0.97, 0.99),  # mean 0.96: best test accuracy
        job(2, "0.5", 0.96, 0.90), job(3, "0.5", 0.965, 0.91),  # mean 0.9625: chosen
        job(4, "1.0", 0.999, 0.999), job(5, "1.0", None, None),  # a seed diverged: not eligible
    ]  # fmt: skip
    configs = candidates(jobs)
    assert [dict(c.config)["train.lr"] for c in configs] == ["0.1", "0.5", "1.0"]
    assert [len(c.jobs) for c in configs] == [2, 2, 2]
    order = ranked(jobs)
    assert [dict(c.config)["train.lr"] for c in order] == ["0.5", "0.1"]
    best = order[0]
    assert best.val_mean == pytest.approx(0.9625) and best.best_job.number == 3
    assert best.val_std == pytest.approx(statistics.stdev([0.96, 0.965]))
    assert best.test_mean == pytest.approx(0.905)
    assert best.spread == best.val_std
    assert best.standard_error == pytest.approx(best.val_std / math.sqrt(2))
    assert not configs[2].eligible and configs[2].val_mean == 0.999  # shown, never chosen
    one = candidates([job(0, "0.1", 0.968, 0.97)])[0]
    assert math.isnan(one.val_std) and one.spread == binomial_se(0.968, 10000)


def test_two_configs_are_within_noise_when_the_gap_is_under_two_standard_errors():
    top = candidates([job(0, "a", 0.9685, 0), job(1, "b", 0.9677, 0), job(2, "c", 0.9500, 0)])
    assert within_noise(top[0], top[1])  # the top two on 10,000 rows: 0.0008 apart
    assert not within_noise(top[0], top[2])
    seeds = candidates([job(n, "a" if n < 3 else "b", v, 0) for n, v in
                        enumerate([0.9700, 0.9702, 0.9701, 0.9690, 0.9691, 0.9689])])  # fmt: skip
    assert not within_noise(*seeds)  # 0.0011 apart, each mean known to ~0.0001


def test_the_objective_of_a_search_is_the_validation_accuracy():
    assert objective({"final_val_acc": 0.91, "final_test_acc": 0.97}) == 0.91
    assert math.isnan(objective({"diverged_at": 3, "stop_reason": "loss diverged"}))
    assert objective({"f": 1e-9}) == 1e-9  # task=gradient_descent


def test_the_saved_view_sorts_by_validation_accuracy_beside_the_test_accuracy():
    mnist = dataset_config("mnist")
    assert SORT_KEY == "metrics.`final_val_acc`" == view_state(mnist)["orderByKey"]
    assert list(COLUMNS)[:2] == ["metrics.`final_val_acc`", "metrics.`final_test_acc`"]


def test_a_search_without_a_validation_split_is_refused_before_it_starts():
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    from pipeline.sweeps.preflight import check

    with pytest.raises(ConfigError, match=r"^data.val_size=0 is not allowed in a search"):
        check(["search=default", "data=synthetic", "data.val_size=0"], multirun=True)


@pytest.fixture(scope="module")
def disagreeing(tmp_path_factory, empty_store):
    """Four real jobs (two learning rates x two seeds, synthetic data) under a sweep parent,
    each with its model; then each job's test accuracy is logged anew as 1 - its validation
    accuracy, so that the test set ranks jobs and configs exactly the other way round. The
    sweep's end runs as `make sweep` runs it. Returns (client, parent id, jobs' run ids by
    number, the text printed, the scores the accuracy figure drew)."""
    outputs = tmp_path_factory.mktemp("selection")
    shutil.copyfile(empty_store, outputs / "mlflow.db")
    uri = f"sqlite:///{outputs}/mlflow.db"
    client, experiment = connect(uri, "scratchnn", artifact_location(uri))
    parent = MlflowRun.start(client, experiment, "sweep", {ROLE_TAG: "sweep"})
    runs = {}
    for number, (lr, seed) in enumerate((lr, seed) for lr in LRS for seed in SEEDS):
        cfg = compose_config(outputs, *JOB, f"train.lr={lr}", f"seed={seed}")
        folder = outputs / "sweep" / str(number)
        info = JobInfo(output_dir=folder, job_num=number, parent_run_id=parent.run_id)
        runs[number] = run(cfg, info)["run_id"]
    for run_id in runs.values():
        val = client.get_run(run_id).data.metrics["final_val_acc"]
        client.log_metric(run_id, "final_test_acc", 1 - val, step=0)  # newer: the latest
    end = SweepEnd(
        uri, parent.run_id, str(outputs / "sweep"), "train",
        {"train.lr": ", ".join(LRS), "seed": "0, 1"}, ["train.lr=1.0,3.0", "seed=0,1"],
        "scratchnn-selection", "champion", str(outputs / "spool"),
    )  # fmt: skip
    drawn, printed = {}, io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        patch.setenv(ENV_URI, uri)
        from pipeline.figures import sweep_accuracy

        against = sweep_accuracy.accuracy_against

        def spy(params, scores, notes, key, label, note):
            drawn.update(zip((p["train.lr"] for p in params), scores, strict=True))
            drawn.update(label=label, note=note)
            return against(params, scores, notes, key, label, note)

        patch.setattr(sweep_accuracy, "accuracy_against", spy)
        end_sweep(end)
    return client, parent.run_id, runs, printed.getvalue(), drawn


def test_every_choice_of_a_sweep_follows_validation_even_when_the_test_set_disagrees(
    disagreeing, tmp_path
):
    client, parent_id, runs, printed, drawn = disagreeing
    metrics = {n: client.get_run(r).data.metrics for n, r in runs.items()}
    val = {n: m["final_val_acc"] for n, m in metrics.items()}
    test = {n: m["final_test_acc"] for n, m in metrics.items()}
    assert max(val, key=val.get) != max(test, key=test.get)  # the two rankings disagree
    means = {lr: statistics.mean(val[n] for n in (2 * i, 2 * i + 1)) for i, lr in enumerate(LRS)}
    winner = max(means, key=means.get)
    first = 2 * LRS.index(winner)
    chosen = max((first, first + 1), key=lambda n: val[n])
    parent = client.get_run(parent_id)
    assert parent.data.tags["best_run_id"] == runs[chosen]
    assert parent.data.metrics["best_val_acc"] == pytest.approx(means[winner])
    assert parent.data.metrics["selected_test_acc"] == test[chosen]  # reported, not maximal
    assert parent.data.metrics["selected_test_acc"] < max(test.values())
    assert "best_test_acc" not in parent.data.metrics
    assert parent.data.params["best.train.lr"] == winner
    path = client.download_artifacts(parent_id, "configs.csv", str(tmp_path))
    rows = list(csv.DictReader(open(path)))
    assert [r["train.lr"] for r in rows] == sorted(LRS, key=means.get, reverse=True)
    assert [r["rank"] for r in rows] == ["1", "2"] and {r["n_seeds"] for r in rows} == {"2"}
    for row in rows:
        lr_jobs = [n for n in runs if LRS[n // 2] == row["train.lr"]]
        assert float(row["final_val_acc_mean"]) == pytest.approx(means[row["train.lr"]])
        assert float(row["final_val_acc_std"]) == pytest.approx(
            statistics.stdev(val[n] for n in lr_jobs))  # fmt: skip
        assert float(row["final_test_acc_mean"]) == pytest.approx(
            statistics.mean(test[n] for n in lr_jobs))  # fmt: skip
    assert {lr: drawn[lr] for lr in LRS} == pytest.approx(means)  # the figure: validation means
    assert (drawn["label"], drawn["note"]) == ("final validation accuracy", "mean over 2 seeds")
    version = client.get_model_version_by_alias("scratchnn-selection", "champion")
    assert version.run_id == runs[chosen]
    assert f"chosen by validation accuracy: train.lr={winner}: {means[winner]:.4f} ± " in printed
    assert f"as champion (val_acc {val[chosen]:.4f}; no champion before)" in printed
    note = parent.data.tags[NOTE_TAG]
    assert f"| chosen | `train.lr={winner}` | **{means[winner]:.4f} ± " in note
    assert "(std over 2 seeds)" in note and "| runner-up |" in note
    assert f"test accuracy **{test[chosen]:.4f}**, its estimate on new data" in note
