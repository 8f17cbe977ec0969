"""The book's own numerical training, tracked: ``train.impl=textbook`` with
``train.gradient=numerical`` loops over every parameter (``TwoLayerNet.numerical_gradient``)
and must give the same run as the fast numerical gradient, up to rounding."""

from __future__ import annotations

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pipeline.run import run
from pipeline.tracking.recorder import JobInfo

# A tiny net on real MNIST (784-10-10 on 500 images): the textbook loop takes ~0.5 s a step.
TINY = (
    "data.n_train=500", "data.n_test=100", "model.hidden_size=10", "train.batch_size=20",
    "train.iters=6", "train.lr=1.0", "train.gradient=numerical", "tracking.log_figures=false",
)  # fmt: skip


@pytest.mark.slow
def test_textbook_numerical_training_runs_tracked_and_equals_the_fast_one(make_cfg, outputs):
    client = MlflowClient(f"sqlite:///{outputs}/mlflow.db")
    runs = {}
    for impl in ("textbook", "fast"):
        cfg = make_cfg(*TINY, f"train.impl={impl}", data="mnist")
        result = run(cfg, JobInfo(output_dir=outputs / impl))
        losses = client.get_metric_history(result["run_id"], "train_loss")
        runs[impl] = result, np.array([m.value for m in sorted(losses, key=lambda m: m.step)])
        assert client.get_run(result["run_id"]).info.status == "FINISHED"
        assert client.get_run(result["run_id"]).data.params["train.impl"] == impl
    (textbook, textbook_losses), (fast, fast_losses) = runs["textbook"], runs["fast"]
    assert len(textbook_losses) == 6
    # float64; the two differ by the rounding of each central difference (~1e-12 absolute)
    np.testing.assert_allclose(fast_losses, textbook_losses, rtol=0, atol=1e-10)
    assert fast["final_test_acc"] == textbook["final_test_acc"]
    assert fast["final_train_loss"] == pytest.approx(textbook["final_train_loss"], abs=1e-9)
