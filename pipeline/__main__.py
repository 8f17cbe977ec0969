"""``python -m pipeline [overrides] [--multirun]``: the Hydra entry; all work is in ``run``."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from pipeline.config import ConfigError, register_schema
from pipeline.launchers import ENV_SWEEP_DIR
from pipeline.preflight import check_command_line
from pipeline.recording import JobInfo
from pipeline.run import run
from pipeline.switches import off
from pipeline.tracking import TrackingError, writer


class Terminated(BaseException):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so the same clean-up runs."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def job_info() -> JobInfo:
    """This job's output dir, and for a sweep job its sweep dir and number, from Hydra (the
    sweep dir as the launching process resolved it: a job may run elsewhere, in another cwd)."""
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return JobInfo(output_dir=Path(hc.runtime.output_dir))
    return JobInfo(
        output_dir=Path(hc.runtime.output_dir),
        sweep_dir=os.environ.get(ENV_SWEEP_DIR) or str(Path(hc.sweep.dir).resolve()),
        job_num=hc.job.num,
    )


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def hydra_entry(cfg: DictConfig) -> float:
    """One job; returns its objective for sweepers that optimise (e.g. Optuna): the final
    test accuracy (NaN when the run diverged), or f(x) for ``task=gradient_descent``."""
    _handle_sigterm()  # again here: a parallel job runs in a worker process
    try:
        job = job_info()
        result = run(cfg, job)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except TrackingError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    if job.sweep_dir is None:
        report(result)
    return float(result.get("final_test_acc", result.get("f", float("nan"))))


def report(result: dict) -> None:
    """One line on how a single run ended, and where to look at it."""
    if "diverged_at" in result:
        print(f"run {result.get('run_id', '(untracked)')} FAILED: {result['stop_reason']}")
    elif "final_test_acc" in result:
        print(
            f"run {result.get('run_id', '(untracked)')} finished: "
            f"test_acc={result['final_test_acc']:.4f} train_acc={result['final_train_acc']:.4f}"
        )
    if result.get("run_id"):
        print("open the MLflow UI with `make ui`")


def _handle_sigterm() -> None:
    try:
        signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread (a thread-based launcher): leave it
        pass


def _share_writer(base: DictConfig) -> None:
    """A tracked sweep: start the MLflow writer its jobs on this machine share now, so its
    imports run on the other core while preflight composes every job."""
    if base.tracking.enabled and not off("shared_writer"):
        writer().share()


def main() -> None:
    register_schema()
    _handle_sigterm()
    try:
        check_command_line(sys.argv[1:], prepare_sweep=_share_writer)
        hydra_entry()
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        _stopped("interrupted", 130)
    except Terminated:
        _stopped("terminated", 143)


def _stopped(what: str, code: int) -> None:
    """After Ctrl-C (130) or SIGTERM (143): metrics are flushed, runs marked KILLED."""
    from pipeline.callbacks import abandon_open_sweeps

    abandon_open_sweeps("KILLED")
    print(f"{what}: buffered metrics were flushed and the run marked KILLED", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    main()
