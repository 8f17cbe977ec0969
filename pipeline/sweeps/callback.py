"""The Hydra callback of a sweep: one MLflow parent run per ``--multirun``, made before any job.

``on_multirun_start`` runs in the launching process before the sweeper starts a job. It
fetches MNIST for training once (not per job), creates the store and experiment (parallel
jobs opening a brand-new SQLite store race on its schema), sends a tracking server what an
earlier outage left in the spool, makes the parent run, and hands every job, on whichever
machine, the store and the parent (``hand_to_jobs``). ``on_multirun_end`` sends the runs
its jobs spooled while the server was down (waiting up to ``tracking.outage_wait`` for it),
then ends the sweep (``ending.end_sweep``: summary, front page, best model registered); if
the server stays down, it saves that end for ``make sync`` and exits 75.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict, read_write

from pipeline.config import Task
from pipeline.errors import ExitCode, fail, one_line
from pipeline.stages.data.mnist import fetch_mnist, resolve_data_dir
from pipeline.sweeps.ending import SweepEnd, end_sweep, send_owed
from pipeline.sweeps.front_page import SWEEP_LOG, parent_params
from pipeline.sweeps.launchers import keep_ray_local
from pipeline.sweeps.preflight import axis_values
from pipeline.tracking.artifacts import artifact_location
from pipeline.tracking.drain import drain
from pipeline.tracking.mlflow_run import MlflowRun
from pipeline.tracking.provenance import environment_tags, system_tags
from pipeline.tracking.recorder import command_line
from pipeline.tracking.registry import check_alias
from pipeline.tracking.run_status import KILLED
from pipeline.tracking.spool import pending, spool_dir
from pipeline.tracking.spooled import SYNC
from pipeline.tracking.store import (
    ENV_URI,
    TrackingError,
    check_store,
    connect,
    is_server,
    resolve_uri,
    server_answers,
    set_mlflow_environment,
)
from pipeline.tracking.tags import ROLE_TAG, SWEEP_ROLE

set_mlflow_environment()  # in the launching process, and so in every job it starts

ENV_PARENT_RUN = "SCRATCHNN_PARENT_RUN"  # the sweep's parent run id, for each of its jobs
log = logging.getLogger(__name__)
OPEN_SWEEPS: list[SweepEnd] = []  # the ends of sweeps still running, also for Ctrl-C
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
            check_store(uri)
            if is_server(uri):  # what an earlier outage left: resume must see those runs
                send_owed(spool_dir(config.outputs_dir), uri, 0.0, log.info)
            parent = start_parent(config, uri)
        except TrackingError as error:
            fail(error, ExitCode.FAILED)
        OPEN_SWEEPS.append(sweep_end(config, uri, parent.run_id))
        hand_to_jobs(config, uri, parent.run_id)
        log.info("sweep parent run %s", parent.run_id)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        while OPEN_SWEEPS:
            end = OPEN_SWEEPS.pop()
            try:
                if is_server(end.uri):  # the runs its jobs left while the server was down
                    wait = config.tracking.outage_wait
                    if drain(Path(end.spool_dir), end.uri, wait, log.info).down:
                        postpone(end)
                end_sweep(end)
            except Exception as error:  # noqa: BLE001 - MLflow's, SQLAlchemy's, requests'
                if is_server(end.uri) and not server_answers(end.uri):
                    postpone(end)
                fail(error, ExitCode.FAILED)
            finally:
                detach_log()


def sweep_end(config: DictConfig, uri: str, parent_run_id: str) -> SweepEnd:
    """What the end of the sweep ``config`` describes needs (``ending.SweepEnd``)."""
    return SweepEnd(
        uri, parent_run_id, str(Path(config.hydra.sweep.dir).resolve()), config.task,
        swept(config), list(config.hydra.overrides.task), config.tracking.registered_model,
        config.tracking.model_alias, str(spool_dir(config.outputs_dir)),
    )  # fmt: skip


def postpone(end: SweepEnd) -> NoReturn:
    """Save the sweep's end for ``make sync`` and exit 75 (``ExitCode.SPOOLED``): its
    tracking server stayed down."""
    detach_log()
    spool = Path(end.spool_dir)
    end.save()
    fail(
        f"tracking server {end.uri} did not answer: the sweep's end and "
        f"{len(pending(spool))} spooled runs wait in {spool}; {SYNC} sends them once the "
        "server is back",
        ExitCode.SPOOLED,
    )


def swept(config: DictConfig) -> dict[str, str]:
    """The sweep's axes: each swept key -> its values (``preflight.axis_values``)."""
    return axis_values(config.hydra.sweeper.get("params"), config.hydra.overrides.task)


def start_parent(config: DictConfig, uri: str) -> MlflowRun:
    """The sweep's parent run in the experiment of ``uri``, creating store and experiment."""
    location = artifact_location(uri)
    client, experiment_id = connect(uri, config.tracking.experiment, location)
    axes = swept(config)
    shown = " x ".join(key.rpartition(".")[2] for key in axes)
    name = f"sweep {shown} {Path(config.hydra.sweep.dir).name}"
    command = command_line(list(config.hydra.overrides.task), multirun=True)
    tags = {**system_tags(command), **environment_tags(), ROLE_TAG: SWEEP_ROLE}
    try:
        parent = MlflowRun.start(client, experiment_id, name, tags)
        parent.log_params(parent_params(config, axes))
        return parent
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


def abandon_open_sweeps(status: str = KILLED) -> None:
    """Mark the parents of interrupted sweeps (Ctrl-C, SIGTERM) and their children that are
    still running as ``status``; a sweep whose server is down is saved for ``make sync``."""
    detach_log()
    while OPEN_SWEEPS:
        end = replace(OPEN_SWEEPS.pop(), status=status)
        try:
            end_sweep(end)
        except Exception as exc:  # noqa: BLE001 - reported; the process is stopping anyway
            if is_server(end.uri) and not server_answers(end.uri):
                end.save()
            print(
                f"scratchnn: ending a sweep's parent run failed: {one_line(exc)}", file=sys.stderr
            )


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
