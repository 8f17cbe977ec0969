"""The Hydra callback of a sweep: one MLflow parent run per ``--multirun``, made before any job.

``on_multirun_start`` runs in the launching process before the sweeper starts a job. It
fetches MNIST for training once (not per job), creates the store and experiment (parallel
jobs opening a brand-new SQLite store race on its schema) and the parent run, and hands every
job, on whichever machine, the store and the parent (``hand_to_jobs``). ``on_multirun_end``
logs the sweep's summary to the parent (``summary``; for ``task=numerical_diff`` also
``diff_summary``'s figure), ends it and registers the best run's model
(``tracking.registered_model``, alias ``tracking.model_alias``).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict, read_write

from pipeline.config import Task
from pipeline.errors import ExitCode, fail, one_line
from pipeline.stages.data.mnist import fetch_mnist, resolve_data_dir
from pipeline.sweeps.diff_summary import log_error_vs_h
from pipeline.sweeps.front_page import SWEEP_LOG, log_front_page, parent_params, terminal_lines
from pipeline.sweeps.launchers import keep_ray_local
from pipeline.sweeps.preflight import axis_values
from pipeline.sweeps.summary import register_best, summarize
from pipeline.tracking.lookup import running_children
from pipeline.tracking.mlflow_run import MlflowRun
from pipeline.tracking.provenance import environment_tags, system_tags
from pipeline.tracking.recorder import command_line
from pipeline.tracking.registry import check_alias
from pipeline.tracking.store import (
    ENV_URI,
    TrackingError,
    artifact_location,
    check_store,
    connect,
    resolve_uri,
    set_mlflow_environment,
)
from pipeline.tracking.tags import ROLE_TAG

set_mlflow_environment()  # in the launching process, and so in every job it starts

ENV_PARENT_RUN = "SCRATCHNN_PARENT_RUN"  # the sweep's parent run id, for each of its jobs
log = logging.getLogger(__name__)
OPEN_SWEEPS: list[MlflowRun] = []  # parent runs of sweeps still running, for Ctrl-C
SWEEP_LOGS: list[logging.Handler] = []  # the sweep.log handler of the sweep running
LOGGED = ("hydra", "hydra_plugins", "pipeline")  # the loggers whose records sweep.log keeps


class SweepCallback(Callback):
    """The parent run of a sweep and, when it ends, its summary."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            check_alias(config.tracking.model_alias)  # refused at the end, after every job
        except ValueError as error:
            fail(error, ExitCode.BAD_INPUT)
        keep_ray_local(config.hydra.launcher)
        if config.task == Task.TRAIN and config.data.name == "mnist":  # other tasks need no data
            fetch_mnist(resolve_data_dir(config.data.data_dir))
        if not config.tracking.enabled:
            return
        uri = resolve_uri(config.tracking.uri, config.outputs_dir)
        attach_log(Path(config.hydra.sweep.dir))
        try:
            parent = start_parent(config, uri)
        except TrackingError as error:
            fail(error, ExitCode.FAILED)
        OPEN_SWEEPS.append(parent)
        hand_to_jobs(config, uri, parent.run_id)
        log.info("sweep parent run %s", parent.run_id)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir).resolve()
        axes = swept(config)
        while OPEN_SWEEPS:
            parent, status = OPEN_SWEEPS.pop(), "FAILED"
            try:
                end_orphans(parent)
                rows = summarize(parent, sweep_dir, list(axes))
                if config.task == Task.NUMERICAL_DIFF:
                    log_error_vs_h(parent)
                lines = terminal_lines(rows, parent.run_id, parent.client.tracking_uri)
                overrides = list(config.hydra.overrides.task)
                log_front_page(parent, rows, axes, overrides, sweep_dir, lines)
                status = "FINISHED"
            finally:
                detach_log()
                parent.end(status)
            print("\n".join(lines))
            register_best_model(parent.client, rows, config.tracking)


def swept(config: DictConfig) -> dict[str, str]:
    """The sweep's axes: each swept key -> its values (``preflight.axis_values``)."""
    return axis_values(config.hydra.sweeper.get("params"), config.hydra.overrides.task)


def start_parent(config: DictConfig, uri: str) -> MlflowRun:
    """The sweep's parent run in the experiment of ``uri``, creating store and experiment."""
    check_store(uri)
    location = artifact_location(uri, config.outputs_dir)
    client, experiment_id = connect(uri, config.tracking.experiment, location)
    axes = swept(config)
    shown = " x ".join(key.rpartition(".")[2] for key in axes)
    name = f"sweep {shown} {Path(config.hydra.sweep.dir).name}"
    command = command_line(list(config.hydra.overrides.task), multirun=True)
    tags = {**system_tags(command), **environment_tags(), ROLE_TAG: "sweep"}
    try:
        return MlflowRun.start(client, experiment_id, name, tags, parent_params(config, axes))
    except Exception as exc:  # noqa: BLE001 - MLflow's and SQLAlchemy's errors
        raise TrackingError(f"tracking store {uri}: {one_line(exc)}") from None


def hand_to_jobs(config: DictConfig, uri: str, parent_id: str) -> None:
    """Make every job log to ``uri`` as a child of ``parent_id``, wherever it runs.

    Both are set in this process's environment and named in ``hydra.job.env_copy``, which
    Hydra applies when it composes each job's config here, before the launcher ships it: a
    job on another machine (a Ray worker, a SLURM node, whose environment and working
    directory differ) still logs to the sweep's store, under its parent.
    """
    os.environ[ENV_URI], os.environ[ENV_PARENT_RUN] = uri, parent_id
    names = list(dict.fromkeys([*config.hydra.job.env_copy, ENV_URI, ENV_PARENT_RUN]))
    with read_write(config.hydra), open_dict(config.hydra):
        config.hydra.overrides.hydra.append(f"hydra.job.env_copy=[{','.join(names)}]")


def end_orphans(parent: MlflowRun) -> None:
    """Mark KILLED the children of ``parent`` still RUNNING: their job's process died without
    ending them (SIGKILL, out of memory), so no job will."""
    for run_id in running_children(parent.client, parent.run_id):
        MlflowRun(parent.client, run_id).end("KILLED")


def abandon_open_sweeps(status: str = "KILLED") -> None:
    """Mark the parents of interrupted sweeps (Ctrl-C, SIGTERM) and their children that are
    still running as ``status``."""
    detach_log()
    while OPEN_SWEEPS:
        parent = OPEN_SWEEPS.pop()
        try:
            end_orphans(parent)
            parent.end(status)
        except Exception as exc:  # noqa: BLE001 - reported; the process is stopping anyway
            print(
                f"scratchnn: ending a sweep's parent run failed: {one_line(exc)}", file=sys.stderr
            )


def register_best_model(client: Any, rows: list[dict[str, Any]], tracking: DictConfig) -> None:
    """The best finished run's model as a new version of ``tracking.registered_model``
    (null: none), with ``tracking.model_alias`` on it if it beats the version that has it,
    else ``challenger``; one line says which."""
    name, alias = tracking.registered_model, tracking.model_alias
    try:
        registered = register_best(client, rows, name, alias)
    except Exception as exc:  # noqa: BLE001 - MLflow's and SQLAlchemy's errors
        fail(f"registering the best model as {name}: {one_line(exc)}", ExitCode.FAILED)
    if registered is not None:
        print(registered.line())


def attach_log(sweep_dir: Path) -> None:
    """Copy this process's log records (Hydra, its launcher, the pipeline) into
    ``<sweep_dir>/sweep.log``, which the parent run keeps. The handler sits on those loggers,
    not the root, whose handlers Hydra's launchers replace when they start."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(sweep_dir / SWEEP_LOG)
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    for name in LOGGED:
        logging.getLogger(name).addHandler(handler)
    SWEEP_LOGS.append(handler)


def detach_log() -> None:
    while SWEEP_LOGS:
        handler = SWEEP_LOGS.pop()
        for name in LOGGED:
            logging.getLogger(name).removeHandler(handler)
        handler.close()
