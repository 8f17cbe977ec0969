"""``python -m pipeline [overrides] [--multirun]``: the Hydra entry; all work is in ``run``.

``main`` checks every job the command line asks for (``pipeline.sweeps.preflight``), then
hands over to Hydra, which calls ``hydra_entry`` once per job. Errors leave as one line with
an exit code of ``pipeline.errors.ExitCode``: a bad value 2, a tracking store that fails 1,
a tracking server down past ``tracking.outage_wait`` 75 (the runs wait in the spool), Ctrl-C
130 and SIGTERM 143 (their runs marked KILLED).
"""

from __future__ import annotations

import atexit
import gc
import os
import signal
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

import pipeline.numerics as numerics
from pipeline.config import ConfigError, register_schema
from pipeline.errors import ExitCode, fail
from pipeline.run import run
from pipeline.stages.data.mnist import MnistUnavailableError
from pipeline.stages.selection import REPORTED, SELECT_BY
from pipeline.sweeps.callback import ENV_PARENT_RUN, abandon_open_sweeps
from pipeline.sweeps.launchers import register_worker_env
from pipeline.sweeps.preflight import asks_multirun, check_command_line, with_command_line_budget
from pipeline.tracking.recorder import WRITER, JobInfo, command_line, uses_writer
from pipeline.tracking.run_status import FAILED, KILLED
from pipeline.tracking.spooled import StillDown
from pipeline.tracking.store import TrackingError, resolve_uri, ui_hint

# Python's last garbage collection at exit walks every object the imports of MLflow, pandas,
# Hydra and matplotlib made: ~0.7 s of a single run's or a sweep's process, for nothing: by
# then every file is closed and every run ended. (A sweep's workers get ``hydra_entry`` by
# value, without this line; the launcher does not wait for their exit.)
atexit.register(gc.freeze)  # frozen objects are skipped by that last collection


class Terminated(BaseException):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so the same clean-up runs."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def job_info() -> JobInfo:
    """This job's output dir and, in a sweep, its number and the parent run (handed to every
    job by ``pipeline.sweeps.callback.hand_to_jobs``)."""
    hc = HydraConfig.get()
    output_dir, command = Path(hc.runtime.output_dir), command_line(list(hc.overrides.task))
    if hc.mode != RunMode.MULTIRUN:
        return JobInfo(output_dir=output_dir, command=command)
    parent = os.environ.get(ENV_PARENT_RUN)
    return JobInfo(output_dir, job_num=hc.job.num, parent_run_id=parent, command=command)


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def hydra_entry(cfg: DictConfig) -> float:
    """One job; returns its ``objective`` for sweepers that optimise (e.g. Optuna)."""
    _handle_sigterm()  # again here: a parallel job runs in a worker process
    job = job_info()
    try:
        result = run(cfg, job)
    except ConfigError as error:
        fail(error, ExitCode.BAD_INPUT)
    except StillDown as error:
        fail(error, ExitCode.SPOOLED)
    except (TrackingError, MnistUnavailableError) as error:
        fail(error, ExitCode.FAILED)
    if not job.in_sweep:
        report(result, resolve_uri(cfg.tracking.uri, cfg.outputs_dir))
    return objective(result)


def objective(result: dict) -> float:
    """What a sweeper that optimises maximises: ``SELECT_BY``, the final validation accuracy
    (NaN when the run diverged; never the test accuracy), or f(x) for
    ``task=gradient_descent``."""
    return float(result.get(SELECT_BY, result.get("f", float("nan"))))


def report(result: dict, uri: str) -> None:
    """One line on how a single run ended, and where to look at it."""
    run_id = result.get("run_id", "(untracked)")
    if "diverged_at" in result:
        print(f"run {run_id} FAILED: {result['stop_reason']}")
    elif REPORTED in result:
        shown = ("final_train_acc", SELECT_BY, REPORTED)
        accuracies = " ".join(
            f"{key.removeprefix('final_')}={result[key]:.4f}" for key in shown if key in result
        )
        print(f"run {run_id} finished: {accuracies}")
    elif "min_abs_error" in result:  # task=numerical_diff
        error, step = result["min_abs_error"], result["best_h"]
        print(f"run {run_id}: the smallest error, {error:.3g}, is at h={step:.3g}")
    if result.get("run_id"):
        print(ui_hint(uri))


def _handle_sigterm() -> None:
    try:
        signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread (a thread-based launcher): leave it
        pass


def main() -> None:
    register_schema()
    register_worker_env()
    _handle_sigterm()
    try:
        sys.argv[1:] = with_command_line_budget(sys.argv[1:])  # what Hydra and preflight see
        if not asks_multirun(sys.argv[1:]):
            WRITER.start()  # before preflight: its MLflow import overlaps all start-up
        jobs = check_command_line(sys.argv[1:])
        single = None if jobs is None or asks_multirun(sys.argv[1:]) else jobs[0]
        if single is None or not uses_writer(single, in_sweep=False):
            WRITER.close()  # given nothing yet: stopped at once
        if jobs:  # its numerics, here and in a sweep's workers (a restart stops the writer)
            numerics.require(jobs[0].train.portable, before_restart=WRITER.close)
        hydra_entry()  # composes again: Hydra's entry takes no config from outside
    except ConfigError as error:
        fail(error, ExitCode.BAD_INPUT)
    except TrackingError as error:
        fail(error, ExitCode.FAILED)
    except SystemExit as stop:
        if stop.code:  # Hydra reported a failed sweep (e.g. a worker process died)
            abandon_open_sweeps(FAILED)
        raise
    except KeyboardInterrupt:
        _stopped("interrupted", ExitCode.INTERRUPTED)
    except Terminated:
        _stopped("terminated", ExitCode.TERMINATED)


def _stopped(what: str, code: ExitCode) -> None:
    """After Ctrl-C (130) or SIGTERM (143): metrics are flushed, runs marked KILLED."""
    abandon_open_sweeps(KILLED)
    print(f"{what}: buffered metrics were flushed and the run marked KILLED", file=sys.stderr)
    sys.exit(int(code))


if __name__ == "__main__":
    main()
