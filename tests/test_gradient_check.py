"""The gradient check (the book's 5.7): its error measure, that it passes for the library's
backprop, that it catches a wrong one, and what a tracked run records of it."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pipeline.run import run
from pipeline.stages.gradient_check import check_gradients, failing, relative_error
from pipeline.tracking.recorder import JobInfo
from scratchnn import TwoLayerNet
from scratchnn.networks import PARAM_KEYS

RUN = ("train.iters=60", "train.batch_size=50", "model.hidden_size=8", "tracking.log_figures=false")


def make_batch(dtype=np.float32, rows: int = 10, d: int = 30, c: int = 5):
    rng = np.random.default_rng(2)
    x = rng.random((rows, d)).astype(dtype)
    x[:, :4] = 0  # blank pixels: zero gradients in both methods
    return x, rng.integers(0, c, rows)


def test_relative_error_is_relative_to_the_largest_entry():
    assert relative_error(np.array([1.0, -4.0]), np.array([1.0, -3.0])) == 0.25
    assert relative_error(np.array([1e-12, 2.0]), np.array([2e-12, 2.0])) == pytest.approx(5e-13)
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert np.isnan(relative_error(np.array([np.nan]), np.array([1.0])))
    assert failing({"W1": 1e-9, "b1": 2e-6, "W2": np.nan, "b2": 0.0}, 1e-6) == ["b1", "W2"]


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_backprop_passes_in_float64_whatever_the_nets_dtype(activation):
    net = TwoLayerNet(30, 8, 5, 0.5, activation=activation, rng=np.random.default_rng(1),
                      dtype=np.float32)  # fmt: skip
    before = {key: value.copy() for key, value in net.params.items()}
    errors = check_gradients(net, *make_batch(), h=1e-4)
    assert list(errors) == list(PARAM_KEYS)
    assert max(errors.values()) < 1e-7  # measured here: ~1e-9
    for key, value in net.params.items():  # the net is not touched
        assert value.dtype == np.float32
        np.testing.assert_array_equal(value, before[key])


def test_a_wrong_backprop_is_caught(monkeypatch):
    """A bias gradient 1 % off (a typical slip) stands out by orders of magnitude."""
    right = TwoLayerNet.loss_and_gradient

    def off_by_one_percent(self, x, t):
        loss, grads = right(self, x, t)
        return loss, {**grads, "b1": grads["b1"] * 1.01}

    monkeypatch.setattr(TwoLayerNet, "loss_and_gradient", off_by_one_percent)
    net = TwoLayerNet(30, 8, 5, 0.5, rng=np.random.default_rng(1))
    errors = check_gradients(net, *make_batch(np.float64), h=1e-4)
    assert failing(errors, 1e-6) == ["b1"]
    assert errors["b1"] == pytest.approx(0.01 / 1.01, rel=1e-3)


def read_run(outputs, result):
    client = MlflowClient(f"sqlite:///{outputs}/mlflow.db")
    return client, client.get_run(result["run_id"])


def test_a_run_logs_the_check_before_and_after_training(make_cfg, outputs):
    result = run(make_cfg(*RUN), JobInfo(output_dir=outputs / "job"))
    client, mlflow_run = read_run(outputs, result)
    assert mlflow_run.data.tags["grad_check"] == "passed"
    for key in PARAM_KEYS:
        history = client.get_metric_history(result["run_id"], f"grad_check_{key}")
        assert sorted(m.step for m in history) == [0, 60]
        assert all(0 < m.value < 1e-6 for m in history)


def test_a_check_above_the_tolerance_tags_the_run_and_warns(make_cfg, outputs, caplog):
    cfg = make_cfg(*RUN, "train.grad_check_tol=1e-15")
    with caplog.at_level(logging.WARNING, logger="pipeline.jobs.training"):
        result = run(cfg, JobInfo(output_dir=outputs / "job"))
    _, mlflow_run = read_run(outputs, result)
    assert mlflow_run.info.status == "FINISHED"  # a warning, not a failure
    assert mlflow_run.data.tags["grad_check"].startswith("failed: W1 at iteration 0 (")
    warned = [r.getMessage() for r in caplog.records if "gradient check" in r.getMessage()]
    assert len(warned) == 8  # 4 keys, twice
    assert "differ for W1 at iteration 0" in warned[0] and "grad_check_tol=1e-15" in warned[0]


@pytest.mark.parametrize("overrides", [("train.grad_check=false",), ("train.gradient=numerical",)])
def test_no_check_when_off_or_when_training_is_numerical(make_cfg, outputs, overrides):
    cfg = make_cfg(*RUN, "train.iters=3", "data.n_train=100", *overrides)
    result = run(cfg, JobInfo(output_dir=outputs / "job"))
    _, mlflow_run = read_run(outputs, result)
    assert "grad_check" not in mlflow_run.data.tags
    assert not [key for key in mlflow_run.data.metrics if key.startswith("grad_check")]
