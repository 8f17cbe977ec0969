"""Benchmark: how far a subset of the test set moves the champion's test accuracy.

Run: ``python tests/benchmarks/bench_subsets.py [--tracking-uri URI] [--others N]``

Loads the registered model's champion (``tracking.registered_model``, alias
``tracking.model_alias``; without one, the run of the experiment with the best
``final_val_acc``): its run's ``weights.npz`` and ``model.activation``. Prints its test
accuracy on all 10,000 test images, on the first and last 5,000, and on the rows ``data.n_test``
takes with ``data.subset=random`` and ``first`` (the data stage's own choice); then the spread
over N other random 5,000-row subsets beside the binomial standard error, sqrt(p(1 - p)/n),
and that error with the finite-population correction sqrt((N - n)/(N - 1)) for n of these
N rows. Accuracies are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from omegaconf import OmegaConf

from pipeline.config import project_config
from pipeline.stages.data import load_data
from scratchnn.functions import labels_of
from scratchnn.networks import PARAM_KEYS, TwoLayerNet

ROOT = Path(__file__).resolve().parents[2]
HALF = 5000  # test rows of the halves and of the random subsets whose spread is measured


def champion_run(client: MlflowClient, tracking: Any) -> tuple[str, str]:
    """(run id, what it is) of the registered champion, else of the best run by validation."""
    try:
        version = client.get_model_version_by_alias(tracking.registered_model, tracking.model_alias)
        return version.run_id, f"{tracking.registered_model} v{version.version} (champion)"
    except MlflowException as error:
        print(f"no champion: {error.message.splitlines()[0]}")
    experiment = client.get_experiment_by_name(tracking.experiment)
    (best,) = client.search_runs(
        [experiment.experiment_id], "metrics.final_val_acc > 0",
        order_by=["metrics.final_val_acc DESC"], max_results=1,
    )  # fmt: skip
    return best.info.run_id, "the best run by final_val_acc"


def load_network(client: MlflowClient, run_id: str) -> TwoLayerNet:
    """The run's ``TwoLayerNet``: ``weights.npz`` (no pickle) and its ``model.activation``."""
    activation = client.get_run(run_id).data.params["model.activation"]
    with tempfile.TemporaryDirectory() as tmp:
        path = client.download_artifacts(run_id, "weights.npz", tmp)
        with np.load(path, allow_pickle=False) as weights:
            params = {key: weights[key] for key in PARAM_KEYS}
    (n_features, hidden), n_classes = params["W1"].shape, len(params["b2"])
    net = TwoLayerNet(
        n_features, hidden, n_classes, activation=activation, dtype=params["W1"].dtype
    )
    net.params.update(params)
    return net


def correct_on(net: TwoLayerNet, data_cfg: Any, **fields: Any) -> tuple[np.ndarray, str]:
    """Whether the net gets each of the N test rows the data stage takes for ``data_cfg``
    (``fields`` changed) right, bool (N,), and that data's sha256."""
    dtype = str(net.params["W1"].dtype)
    ds = load_data(OmegaConf.merge(data_cfg, fields), dtype, seed=0)
    return net.scores(ds.x_test).argmax(axis=1) == labels_of(ds.t_test), ds.sha256


def print_spread(right: np.ndarray, others: int) -> None:
    """The accuracy on ``others`` random ``HALF``-row subsets of the N rows ``right`` (bool
    (N,)): mean, std and range, beside the binomial SE and its finite-population correction."""
    n_all, p = len(right), right.mean()
    rngs = (np.random.default_rng(i) for i in range(1, others + 1))
    got = [right[rng.choice(n_all, HALF, replace=False)].mean() for rng in rngs]
    se = np.sqrt(p * (1 - p) / HALF)
    corrected = se * np.sqrt((n_all - HALF) / (n_all - 1))
    print(
        f"{others} other random {HALF:,}-row subsets: mean {np.mean(got):.4f}, std "
        f"{np.std(got, ddof=1):.4f}, range {min(got):.4f}..{max(got):.4f}; binomial SE "
        f"{se:.4f}, {corrected:.4f} for {HALF:,} of these {n_all:,} rows"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", default=f"sqlite:///{ROOT}/outputs/mlflow.db")
    parser.add_argument("--others", type=int, default=20, help="random 5,000-row subsets")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    cfg = project_config()
    client = MlflowClient(args.tracking_uri)
    run_id, what = champion_run(client, cfg.tracking)
    run, net = client.get_run(run_id), load_network(client, run_id)
    right, sha256 = correct_on(net, cfg.data)
    same = "the same" if run.data.tags.get("data_sha256") == sha256 else "NOT the same"
    print(f"model: {what}, run {run_id}: data {same} as the data stage's default")
    print(f"logged final_test_acc {run.data.metrics['final_test_acc']:.4f}")
    print(f"all {len(right):,} test images: {right.mean():.4f}")
    print(f"first {HALF:,}: {right[:HALF].mean():.4f}   last {HALF:,}: {right[-HALF:].mean():.4f}")
    for n in (HALF, 1000):
        for subset in ("random", "first"):
            got = correct_on(net, cfg.data, n_test=n, subset=subset)[0].mean()
            print(f"data.n_test={n} data.subset={subset}: {got:.4f}")
    print_spread(right, args.others)


if __name__ == "__main__":
    main()
