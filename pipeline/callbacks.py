"""Hydra callback for sweeps: one MLflow parent run per ``--multirun``, made before any job.

``on_multirun_start`` runs in the launching process: it creates the store and experiment
(parallel jobs opening a brand-new SQLite store race on its schema) and the parent run,
tagged with the sweep dir so every job, under any launcher, finds it. ``on_multirun_end``
writes the sweep summary to the parent.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from pipeline.launchers import keep_ray_local, prepare_jobs
from pipeline.recording import ROLE_TAG, SWEEP_DIR_TAG
from pipeline.tracking import TrackingError, artifact_location, check_server, resolve_uri

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

log = logging.getLogger(__name__)
OPEN_PARENTS: list[tuple[Any, str]] = []  # (client, run id) of sweeps still running here


def open_store(cfg: DictConfig):
    """(client, experiment id), creating the store and experiment when they are new."""
    from mlflow.tracking import MlflowClient

    uri = resolve_uri(cfg.tracking, cfg.outputs_dir)
    check_server(uri)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(cfg.tracking.experiment)
    if experiment is not None:
        return client, experiment.experiment_id
    location = artifact_location(uri, cfg.outputs_dir)
    return client, client.create_experiment(cfg.tracking.experiment, artifact_location=location)


class SweepRun(Callback):
    """The parent run of a sweep and, when it ends, its summary."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        keep_ray_local(config.hydra.launcher)
        if config.data.name == "mnist":  # fetch once here, not once per parallel job
            from pipeline.mnist import fetch_mnist, resolve_data_dir

            fetch_mnist(resolve_data_dir(config.data.data_dir))
        if not config.tracking.enabled:
            return
        try:
            client, experiment_id = open_store(config)
        except TrackingError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(1)
        sweep_dir = str(Path(config.hydra.sweep.dir).resolve())
        tags = {ROLE_TAG: "sweep", SWEEP_DIR_TAG: sweep_dir}
        run = client.create_run(experiment_id, tags=tags, run_name=f"sweep {Path(sweep_dir).name}")
        OPEN_PARENTS.append((client, run.info.run_id))
        prepare_jobs(config, sweep_dir)  # jobs elsewhere still find this store and parent
        log.info("sweep parent run %s in experiment %s", run.info.run_id, experiment_id)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from pipeline.sweep_summary import summarize

        while OPEN_PARENTS:
            client, run_id = OPEN_PARENTS.pop()
            try:
                rows = summarize(client, run_id, Path(config.hydra.sweep.dir))
            finally:
                client.set_terminated(run_id, "FINISHED")
            print_summary(rows, run_id)


def abandon_open_sweeps(status: str = "KILLED") -> None:
    """Mark the parents of interrupted sweeps (Ctrl-C, SIGTERM) as ``status``."""
    while OPEN_PARENTS:
        client, run_id = OPEN_PARENTS.pop()
        client.set_terminated(run_id, status)


def print_summary(rows: list[dict[str, Any]], parent_id: str) -> None:
    """The sweep's jobs, one line each (the params that vary, the outcome), and what next."""
    print(f"\nsweep {parent_id}: {len(rows)} jobs")
    for row in rows:
        varying = " ".join(
            f"{k.split('.')[-1]}={v}" for k, v in row.items() if k.startswith("params.")
        )
        metrics = {
            k.removeprefix("metrics."): v for k, v in row.items() if k.startswith("metrics.")
        }
        if row["diverged_at"]:
            outcome = f"diverged at iteration {row['diverged_at']}"
        elif "final_test_acc" in metrics:
            outcome = f"test_acc={metrics['final_test_acc']:.4f}"
        else:
            outcome = " ".join(f"{k}={v:.6g}" for k, v in metrics.items()) or row["status"]
        reused = "  (reused: finished earlier)" if row["reused"] else ""
        print(f"  #{row['job']:<3} {varying}  {outcome}{reused}")
    print("open the MLflow UI with `make ui`")
