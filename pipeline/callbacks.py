"""Hydra callback for sweeps: one MLflow parent run per ``--multirun``, made before any job.

``on_multirun_start`` runs in the launching process: it creates the store and experiment
(parallel jobs opening a brand-new SQLite store race on its schema) and the parent run,
tagged with the sweep dir so every job, under any launcher, finds it. ``on_multirun_end``
writes the sweep summary to the parent. All of it goes through this process's writer
(``pipeline.tracking``), which the jobs on this machine share when ``python -m pipeline``
started it with ``share()``: the launching process never imports MLflow.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from pipeline.launchers import keep_ray_local, prepare_jobs
from pipeline.recording import ROLE_TAG, SWEEP_DIR_TAG
from pipeline.tracking import TrackingError, artifact_location, resolve_uri, writer

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

log = logging.getLogger(__name__)
OPEN_PARENTS: list[str] = []  # the writer's keys of the parent runs of sweeps still running


def open_store(cfg: DictConfig) -> str:
    """Connect the writer to the store (creating it and the experiment when they are new);
    returns the experiment id."""
    uri = resolve_uri(cfg.tracking, cfg.outputs_dir)
    location = artifact_location(uri, cfg.outputs_dir)
    fields = {"uri": uri, "experiment": cfg.tracking.experiment}
    return writer().call("open", **fields, artifact_location=location)


class SweepRun(Callback):
    """The parent run of a sweep and, when it ends, its summary."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        keep_ray_local(config.hydra.launcher)
        if config.data.name == "mnist":  # fetch once here, not once per parallel job
            from pipeline.mnist import fetch_mnist, resolve_data_dir

            fetch_mnist(resolve_data_dir(config.data.data_dir))
        if not config.tracking.enabled:
            return
        sweep_dir = str(Path(config.hydra.sweep.dir).resolve())
        tags = {ROLE_TAG: "sweep", SWEEP_DIR_TAG: sweep_dir}
        key = f"sweep-{uuid.uuid4().hex}"
        try:
            experiment_id = open_store(config)
            run_id = writer().call(
                "start_run", key=key, run_name=f"sweep {Path(sweep_dir).name}", tags=tags,
                params={},
            )  # fmt: skip
        except TrackingError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(1)
        OPEN_PARENTS.append(key)
        prepare_jobs(config, sweep_dir)  # jobs elsewhere still find this store and parent
        log.info("sweep parent run %s in experiment %s", run_id, experiment_id)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        while OPEN_PARENTS:
            key = OPEN_PARENTS.pop()
            try:
                sweep_dir = str(Path(config.hydra.sweep.dir).resolve())  # for any cwd
                rows = writer().call("summarize", run=key, sweep_dir=sweep_dir)
            finally:
                run_id = writer().call("end", run=key, status="FINISHED")
            print_summary(rows, run_id)


def abandon_open_sweeps(status: str = "KILLED") -> None:
    """Mark the parents of interrupted sweeps (Ctrl-C, SIGTERM) as ``status``. If the
    writer is gone, there is nothing to do: it marked them KILLED when it stopped."""
    while OPEN_PARENTS:
        try:
            writer().call("end", run=OPEN_PARENTS.pop(), status=status)
        except TrackingError:
            pass


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
