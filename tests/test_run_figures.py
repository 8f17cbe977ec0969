"""The digit figures of a run and the sweep summary's figures, read back from a store."""

from __future__ import annotations

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pipeline.config import compute_dtype
from pipeline.jobs.training import DIGITS_SHOWN
from pipeline.run import run
from pipeline.stages.data import load_data
from pipeline.stages.evaluate import evaluate, misclassified
from pipeline.stages.train import make_network
from pipeline.sweeps.summary import summarize
from pipeline.tracking.artifacts import artifact_location
from pipeline.tracking.mlflow_run import MlflowRun
from pipeline.tracking.recorder import JobInfo
from pipeline.tracking.tags import PARENT_TAG
from scratchnn.functions import labels_of


def sigmoid_net_labels(params: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The two-layer sigmoid net's predicted labels, written out here: (N,)."""
    hidden = 1 / (1 + np.exp(-(x @ params["W1"] + params["b1"])))
    return (hidden @ params["W2"] + params["b2"]).argmax(axis=1)


def test_evaluate_returns_each_test_prediction_and_misclassified_picks_the_first_wrong(make_cfg):
    cfg = make_cfg("data.n_test=200")
    data = load_data(cfg.data, "float64", 0)
    net = make_network(data, cfg.model, 0)
    metrics, confusion, predicted = evaluate(net, data)
    labels = labels_of(data.t_test)
    np.testing.assert_array_equal(predicted, sigmoid_net_labels(net.params, data.x_test))
    assert metrics["final_test_acc"] == np.mean(predicted == labels)
    assert confusion.trace() == np.count_nonzero(predicted == labels)
    val_labels = labels_of(data.t_val)  # the validation rows: the same measures
    assert metrics["final_val_acc"] == np.mean(
        sigmoid_net_labels(net.params, data.x_val) == val_labels
    )
    hidden = 1 / (1 + np.exp(-(data.x_val @ net.params["W1"] + net.params["b1"])))
    scores = hidden @ net.params["W2"] + net.params["b2"]
    log_probabilities = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    expected = -np.mean(log_probabilities[np.arange(len(val_labels)), val_labels])
    assert metrics["final_val_loss"] == pytest.approx(expected, rel=1e-9)
    wrong = [i for i in range(len(labels)) if predicted[i] != labels[i]]  # the plain loop
    assert len(wrong) > 30  # an untrained net: many wrong
    np.testing.assert_array_equal(misclassified(predicted, labels, 30), wrong[:30])
    np.testing.assert_array_equal(misclassified(predicted, labels, 10_000), wrong)
    assert misclassified(labels, labels, 5).shape == (0,)


@pytest.mark.slow
def test_a_small_mnist_run_logs_its_w1_filters_and_misclassified_digits(outputs, make_cfg):
    overrides = ("data.n_train=500", "data.n_test=100", "train.iters=50", f"outputs_dir={outputs}")
    cfg = make_cfg(*overrides, data="mnist")
    job_dir = outputs / "job"
    result = run(cfg, JobInfo(output_dir=job_dir))
    client = MlflowClient(f"sqlite:///{outputs}/mlflow.db")
    names = {a.path for a in client.list_artifacts(result["run_id"], "figures")}
    assert {"figures/w1_filters.png", "figures/misclassified.png"} <= names
    sizes = {a.path: a.file_size for a in client.list_artifacts(result["run_id"], "figures")}
    assert sizes["figures/w1_filters.png"] > 10_000 and sizes["figures/misclassified.png"] > 10_000
    data = load_data(cfg.data, compute_dtype(cfg), cfg.seed)  # the run's data, float32
    with np.load(job_dir / "weights.npz", allow_pickle=False) as weights:
        predicted = sigmoid_net_labels(dict(weights), data.x_test)
    labels = labels_of(data.t_test)
    with np.load(job_dir / "misclassified.npz", allow_pickle=False) as drawn:
        expected = np.flatnonzero(predicted != labels)[:DIGITS_SHOWN]
        np.testing.assert_array_equal(drawn["index"], expected)
        np.testing.assert_array_equal(drawn["true"], labels[expected])
        np.testing.assert_array_equal(drawn["predicted"], predicted[expected])
        np.testing.assert_array_equal(drawn["images"], data.x_test[expected])
        assert int(drawn["n_wrong"]) == np.count_nonzero(predicted != labels)


def test_a_synthetic_run_has_no_digit_figures(outputs, make_cfg):
    cfg = make_cfg("train.iters=20", f"outputs_dir={outputs}")  # 64 features: not 28 x 28
    result = run(cfg, JobInfo(output_dir=outputs / "job"))
    client = MlflowClient(f"sqlite:///{outputs}/mlflow.db")
    names = {a.path for a in client.list_artifacts(result["run_id"], "figures")}
    assert names == {
        "figures/loss_curve.png",
        "figures/accuracy_curves.png",
        "figures/confusion_matrix.png",
    }


def fake_sweep(client, sweep_dir, runs: list[tuple[dict, dict, str, int]]) -> MlflowRun:
    """A parent run and a child per (params, final metrics, status, loss curve length);
    each job's ``history.npz`` in ``sweep_dir/<job>``, as a sweep's jobs leave it."""
    experiment = client.create_experiment("sweep", artifact_location(client.tracking_uri))
    parent = MlflowRun.start(client, experiment, "sweep", {})
    for job, (params, metrics, status, iters) in enumerate(runs):
        tags = {PARENT_TAG: parent.run_id, **({"diverged_at": "3"} if status == "FAILED" else {})}
        child = MlflowRun.start(client, experiment, f"job {job}", tags)
        child.log_params({"task": "train", "data.val_size": "200", **params})
        for key, value in metrics.items():
            child.log_series(key, np.array([0]), np.array([value]))
        if iters:
            (sweep_dir / str(job)).mkdir(parents=True)
            np.savez(sweep_dir / str(job) / "history.npz", losses=np.linspace(2.3, 0.3, iters))
        child.end(status)
        parent.log_job(job, child.run_id)
    return parent


def test_summary_of_a_one_axis_sweep_of_names(outputs):
    client = MlflowClient(f"sqlite:///{outputs}/mlflow.db")
    scores = {"final_val_acc": 0.9, "final_test_acc": 0.8}
    parent = fake_sweep(client, outputs / "sweep", [
        ({"train.optimizer": "sgd"}, scores, "FINISHED", 200),
        ({"train.optimizer": "momentum"}, {}, "FAILED", 40),  # diverged
        ({"train.optimizer": "adam"}, {}, "KILLED", 0),  # no history at all
    ])  # fmt: skip
    summary = summarize(parent, outputs / "sweep", ["train.optimizer"])
    assert [r["status"] for r in summary.rows] == ["FINISHED", "FAILED", "KILLED"]
    assert [dict(c.config) for c in summary.ranking] == [{"train.optimizer": "sgd"}]
    names = {a.path for a in client.list_artifacts(parent.run_id, "figures")}
    assert names == {"figures/loss_curves.png", "figures/val_acc_vs_optimizer.png"}
    configs = (outputs / "sweep" / "configs.csv").read_text().splitlines()
    assert configs[0] == (
        "rank,train.optimizer,n_seeds,final_val_acc_mean,final_val_acc_std,final_test_acc_mean,"
        "jobs,without_val_acc"
    )
    assert configs[1:] == [  # the one that can be chosen first; the others unranked
        "1,sgd,1,0.9,nan,0.8,0,0",
        ",momentum,1,nan,nan,nan,1,1",
        ",adam,1,nan,nan,nan,2,1",
    ]


def test_a_sweep_without_validation_draws_test_accuracy_and_chooses_nothing(outputs):
    client = MlflowClient(f"sqlite:///{outputs}/mlflow.db")
    grid = [{"a": a, "b": b, "train.lr": lr} for a in "12" for b in "34" for lr in ("0.1", "1")]
    test_only = {"final_test_acc": 0.5}  # data.val_size=0: the book's experiment
    parent = fake_sweep(client, outputs / "sweep", [(p, test_only, "FINISHED", 50) for p in grid])
    summary = summarize(parent, outputs / "sweep", ["a", "b", "train.lr"])
    assert summary.ranking == [] and summary.selected is None and not summary.validated
    names = {a.path for a in client.list_artifacts(parent.run_id, "figures")}
    assert names == {"figures/loss_curves.png", "figures/test_acc_heatmap.png"}
    parent_run = client.get_run(parent.run_id)
    assert (
        "best_run_id" not in parent_run.data.tags and "best_val_acc" not in parent_run.data.metrics
    )
