"""The gradient check (the book's 5.7): its error measure, that it passes for the library's
backprop, that it catches a wrong one, and what a tracked run records of it."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pipeline.run import run
from pipeline.stages.gradient_check import (
    FLOOR,
    away_from_kinks,
    check_gradients,
    failing,
    relative_error,
)
from pipeline.stages.steps import BACKPROP
from pipeline.tracking.recorder import JobInfo
from scratchnn import TwoLayerNet
from scratchnn.fast.numerical import numerical_loss_and_gradient
from scratchnn.fast.step import FusedStep
from scratchnn.networks import PARAM_KEYS

RUN = ("train.iters=60", "train.batch_size=50", "model.hidden_size=8", "tracking.log_figures=false")


def make_batch(dtype=np.float32, rows: int = 10, d: int = 30, c: int = 5):
    rng = np.random.default_rng(2)
    x = rng.random((rows, d)).astype(dtype)
    x[:, :4] = 0  # blank pixels: zero gradients in both methods
    return x, rng.integers(0, c, rows)


def test_relative_error_is_relative_to_the_largest_entry_and_at_least_the_floor():
    assert relative_error(np.array([1.0, -4.0]), np.array([1.0, -3.0])) == 0.25
    assert relative_error(np.array([1e-12, 2.0]), np.array([2e-12, 2.0])) == pytest.approx(5e-13)
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert np.isnan(relative_error(np.array([np.nan]), np.array([1.0])))
    # a dead network: rounding noise over nothing is no error (it was 1 without the floor)
    assert relative_error(np.array([1.2e-16]), np.array([0.0])) == pytest.approx(1.2e-16 / FLOOR)
    kept = np.array([True, False])
    assert relative_error(np.array([1.0, 5.0]), np.array([1.0, 0.0]), kept) == 0.0
    assert failing({"W1": 1e-9, "b1": 2e-6, "W2": np.nan, "b2": 0.0}, 1e-6) == ["b1", "W2"]


def fused_halving_w1(net, x, labels):
    """The fast step's gradient with W1's halved: a bug the check must catch."""
    grads = BACKPROP["fast"](net, x, labels)
    return {**grads, "W1": grads["W1"] / 2}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("impl", ["fast", "textbook"])
def test_the_gradient_the_step_computes_passes_in_its_own_dtype(activation, dtype, impl):
    net = TwoLayerNet(30, 8, 5, 0.5, activation=activation, rng=np.random.default_rng(1),
                      dtype=dtype)  # fmt: skip
    before = {key: value.copy() for key, value in net.params.items()}
    check = check_gradients(net, *make_batch(), h=1e-4, backprop=BACKPROP[impl])
    assert list(check.errors) == list(PARAM_KEYS)
    assert max(check.errors.values()) < (1e-5 if dtype == np.float32 else 1e-8)
    for key, value in net.params.items():  # the net is not touched
        assert value.dtype == dtype
        np.testing.assert_array_equal(value, before[key])
    broken = check_gradients(net, *make_batch(), h=1e-4, backprop=fused_halving_w1)
    assert failing(broken.errors, 1e-4) == ["W1"]
    assert broken.errors["W1"] == pytest.approx(0.5, rel=1e-3)


def test_a_dead_network_passes():
    """Every sigmoid unit saturated (|pre-activation| ~ 1000): both gradients of W1 and b1
    are ~0, and their rounding noise is no error."""
    net = TwoLayerNet(30, 8, 5, 0.5, rng=np.random.default_rng(1), dtype=np.float32)
    net.params["W1"] *= 2000
    check = check_gradients(net, *make_batch(), h=1e-4, backprop=BACKPROP["fast"])
    assert failing(check.errors, 1e-4) == [] and check.skipped == 0


def test_a_relu_kink_within_h_is_left_out_and_counted():
    """A pre-activation 1e-5 from 0: the central difference of its unit's bias and of the
    weights of its sample's non-zero pixels (h = 1e-4) straddles the kink and measures
    neither side's slope. Those entries are left out; the rest still pass."""
    net = TwoLayerNet(30, 8, 5, 0.5, activation="relu", rng=np.random.default_rng(1))
    x, labels = make_batch(np.float64)
    a = x @ net.params["W1"] + net.params["b1"]
    net.params["b1"][3] -= a[0, 3] - 1e-5  # sample 0's unit 3 sits 1e-5 above the kink
    grads = BACKPROP["fast"](net, x, labels)
    _, numerical = numerical_loss_and_gradient(net, x, labels, 1e-4, n_threads=1)
    assert relative_error(grads["b1"], numerical["b1"]) > 1e-3  # what the kink does
    check = check_gradients(net, x, labels, h=1e-4, backprop=BACKPROP["fast"])
    assert failing(check.errors, 1e-6) == []
    assert check.skipped >= 1 + np.count_nonzero(x[0] * 1e-4 > 1e-5)  # b1[3] and W1[:, 3]
    away = away_from_kinks(net, x, 1e-4)
    assert not away["b1"][3] and away["b1"].sum() == 7
    assert away_from_kinks(TwoLayerNet(30, 8, 5, rng=np.random.default_rng(1)), x, 1e-4) == {}


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
        assert all(0 < m.value < 1e-5 for m in history)  # float32 backprop: ~1e-7


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


QUICK = ("tracking.writer_process=false", "tracking.log_model=false")


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adagrad", "adam"])
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_correct_runs_pass_with_every_optimizer(make_cfg, outputs, activation, optimizer):
    lr = "0.01" if optimizer == "adam" else "0.3"
    cfg = make_cfg(*RUN, *QUICK, f"model.activation={activation}", f"train.optimizer={optimizer}",
                   f"train.lr={lr}")  # fmt: skip
    result = run(cfg, JobInfo(output_dir=outputs / "job"))
    _, mlflow_run = read_run(outputs, result)
    assert mlflow_run.data.tags["grad_check"].startswith("passed"), mlflow_run.data.tags


def test_a_run_whose_fast_step_halves_the_w1_gradient_fails_the_check(
    make_cfg, outputs, monkeypatch
):
    right = FusedStep.gradient

    def halving(self, x, labels):
        loss = right(self, x, labels)
        self.steps["W1"] /= 2  # what the update would use: the training is wrong too
        return loss

    monkeypatch.setattr(FusedStep, "gradient", halving)
    result = run(make_cfg(*RUN, *QUICK), JobInfo(output_dir=outputs / "job"))
    _, mlflow_run = read_run(outputs, result)
    assert mlflow_run.data.tags["grad_check"].startswith("failed: W1 at iteration 0 (0.5);")


@pytest.mark.slow
def test_a_dead_mnist_network_passes(make_cfg, outputs):
    """``train.lr=20`` kills the book's sigmoid net within 50 steps: W1's and b1's gradients
    are ~1e-12 in both methods, which the check before the floor failed (4.4e-6 > 1e-6)."""
    cfg = make_cfg("data.n_train=2000", "data.n_test=200", "data.val_size=200", "train.lr=20",
                   "train.iters=50", *QUICK, data="mnist")  # fmt: skip
    result = run(cfg, JobInfo(output_dir=outputs / "job"))
    _, mlflow_run = read_run(outputs, result)
    assert result["final_train_acc"] < 0.15  # dead: chance
    assert mlflow_run.data.tags["grad_check"] == "passed"


@pytest.mark.parametrize("overrides", [("train.grad_check=false",), ("train.gradient=numerical",)])
def test_no_check_when_off_or_when_training_is_numerical(make_cfg, outputs, overrides):
    cfg = make_cfg(*RUN, "train.iters=3", "data.n_train=100", *overrides)
    result = run(cfg, JobInfo(output_dir=outputs / "job"))
    _, mlflow_run = read_run(outputs, result)
    assert "grad_check" not in mlflow_run.data.tags
    assert not [key for key in mlflow_run.data.metrics if key.startswith("grad_check")]
