"""A single tracked run on the synthetic data, read back from the MLflow store."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pipeline.run import run
from pipeline.stages.data import load_data
from pipeline.tracking.provenance import weights_sha256
from pipeline.tracking.recorder import JobInfo
from tests.conftest import compose_config

OVERRIDES = ("train.iters=120", "train.batch_size=50", "train.lr=1.0", "model.hidden_size=16")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, empty_store):
    tmp_path = tmp_path_factory.mktemp("run")
    shutil.copyfile(empty_store, tmp_path / "mlflow.db")
    cfg = compose_config(tmp_path, *OVERRIDES)
    result = run(cfg, JobInfo(output_dir=tmp_path / "job"))
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    return cfg, result, client, client.get_run(result["run_id"])


def test_run_logs_params_tags_and_status(finished_run):
    cfg, _, _, mlflow_run = finished_run
    assert mlflow_run.info.status == "FINISHED"
    assert mlflow_run.info.run_name == "lr=1 bs=50 h=16 sgd sigmoid analytic"
    tags = mlflow_run.data.tags  # what MLflow's UI shows as Source and Created by
    assert tags["mlflow.source.name"] == "python -m pipeline"
    assert tags["mlflow.source.type"] == "LOCAL" and tags["mlflow.user"]
    assert tags["mlflow.runName"] == mlflow_run.info.run_name
    params = mlflow_run.data.params
    assert params["train.lr"] == "1.0"
    assert params["train.batch_size"] == "50"
    assert params["model.hidden_size"] == "16"
    assert params["data.name"] == "synthetic"
    assert params["data.val_size"] == "200"
    assert params["data.dtype"] == "float32"  # what it computed in: auto resolved
    assert (params["train.iters"], params["train.epochs"]) == ("120", "None")
    assert params["seed"] == "0"
    tags = mlflow_run.data.tags
    for key in ("mlflow.source.git.commit", "mlflow.source.git.dirty", "numpy_version", "blas",
                "simd", "numerics", "data_sha256", "seed"):  # fmt: skip
        assert tags[key], key
    assert "git_commit" not in tags and "git_dirty" not in tags  # MLflow's: once
    assert tags["gradient"] == "analytic"


def test_run_logs_its_training_validation_and_test_data_as_inputs(finished_run):
    """The runs table's Datasets column: name, digest (the sha256 of that split's own rows,
    each different) and context."""
    cfg, _, _, mlflow_run = finished_run
    inputs = {
        (d.dataset.name, d.dataset.digest, tag.value)
        for d in mlflow_run.inputs.dataset_inputs
        for tag in d.tags
        if tag.key == "mlflow.data.context"
    }
    data = load_data(cfg.data, "float32", cfg.seed)
    digests = {split: hashlib.sha256() for split in ("train", "val", "test")}
    for split, x, t in data.splits():  # the digest written out: the uint8 pixels and labels
        pixels = np.rint(x * 255).astype(np.uint8)
        for array in (pixels, t):
            digests[split].update(f"|{array.dtype.str}{array.shape}|".encode() + array.tobytes())
    assert inputs == {
        ("synthetic-train", digests["train"].hexdigest()[:36], "training"),
        ("synthetic-val", digests["val"].hexdigest()[:36], "validation"),
        ("synthetic-test", digests["test"].hexdigest()[:36], "test"),
    }
    assert len({digest for _, digest, _ in inputs}) == 3
    profiles = sorted(d.dataset.profile for d in mlflow_run.inputs.dataset_inputs)
    assert profiles == [
        '{"features_shape": [1000, 64], "targets_shape": [1000]}',
        '{"features_shape": [200, 64], "targets_shape": [200]}',
        '{"features_shape": [200, 64], "targets_shape": [200]}',
    ]


def test_run_logs_every_loss_point_and_each_epoch(finished_run, tmp_path):
    cfg, result, client, mlflow_run = finished_run
    losses = client.get_metric_history(mlflow_run.info.run_id, "train_loss")
    assert sorted(m.step for m in losses) == list(range(120))
    history_file = client.download_artifacts(mlflow_run.info.run_id, "history.npz", str(tmp_path))
    with np.load(history_file, allow_pickle=False) as history:
        expected = history["losses"].tolist()  # as the train stage computed them
    assert [m.value for m in sorted(losses, key=lambda m: m.step)] == expected
    # 1000 training samples / batch 50 = 20 iterations per epoch: 6 evaluations in 120, each
    # at the iteration it was made (the loss's x-axis), with the epoch's number beside it, and
    # the final values at the last iteration, after 6 epochs
    run_id, metrics = mlflow_run.info.run_id, mlflow_run.data.metrics
    for key in ("train_acc", "val_acc", "val_loss", "test_acc", "epoch"):
        points = sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)
        assert [m.step for m in points] == [0, 20, 40, 60, 80, 100, 119], key
        if key != "epoch":  # the last point is the final value: the runs table's column
            assert points[-1].value == metrics[f"final_{key}"] == metrics[key], key
    epochs = client.get_metric_history(run_id, "epoch")
    assert [m.value for m in sorted(epochs, key=lambda m: m.step)] == [0, 1, 2, 3, 4, 5, 6.0]
    assert (metrics["iters_run"], metrics["epochs_run"]) == (120, 6.0)
    epoch_losses = sorted(
        client.get_metric_history(run_id, "train_loss_epoch"), key=lambda m: m.step
    )
    assert [m.step for m in epoch_losses] == [19, 39, 59, 79, 99, 119]  # each epoch's last step
    means = [np.mean(expected[start : start + 20]) for start in range(0, 120, 20)]
    np.testing.assert_allclose([m.value for m in epoch_losses], means, rtol=1e-12)
    assert metrics["final_test_acc"] == pytest.approx(result["final_test_acc"])
    assert metrics["final_val_acc"] == result["final_val_acc"] > 0.5
    with np.load(history_file, allow_pickle=False) as history:
        val_loss = client.get_metric_history(run_id, "val_loss")
        assert [m.value for m in sorted(val_loss, key=lambda m: m.step)] == history[
            "val_loss"
        ].tolist()
    assert metrics["final_test_acc"] > 0.5  # learnt something
    assert metrics["final_train_loss"] < losses[0].value


def test_run_logs_figures_config_and_weights(finished_run, tmp_path):
    cfg, result, client, mlflow_run = finished_run
    run_id = mlflow_run.info.run_id
    names = {a.path for a in client.list_artifacts(run_id, "figures")}
    assert names == {
        "figures/loss_curve.png",
        "figures/accuracy_curves.png",
        "figures/confusion_matrix.png",
    }
    config_file = client.download_artifacts(run_id, "config/config_resolved.yaml", str(tmp_path))
    assert "lr: 1.0" in open(config_file).read()
    weights_file = client.download_artifacts(run_id, "weights.npz", str(tmp_path))
    with np.load(weights_file, allow_pickle=False) as weights:
        params = {k: weights[k] for k in weights.files}
    assert set(params) == {"W1", "b1", "W2", "b2"}
    assert weights_sha256(params) == mlflow_run.data.tags["weights_sha256"]
    assert result["weights_sha256"] == mlflow_run.data.tags["weights_sha256"]


def test_untracked_run_needs_no_store_and_computes_the_same(finished_run, make_cfg, tmp_path):
    _, tracked, _, _ = finished_run
    result = run(make_cfg("tracking.enabled=false", *OVERRIDES), JobInfo(output_dir=tmp_path / "j"))
    assert result == {k: v for k, v in tracked.items() if k.startswith("final_")}
    assert not (tmp_path / "mlflow.db").exists()
