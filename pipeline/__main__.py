"""``python -m pipeline [overrides] [--multirun]``: the Hydra entry; all work is in ``run``."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from pipeline.config import ConfigError, register_schema
from pipeline.recording import JobInfo
from pipeline.run import run


class Terminated(BaseException):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so the same clean-up runs."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def job_info() -> JobInfo:
    """This job's output dir, and for a sweep job its sweep dir and number, from Hydra."""
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return JobInfo(output_dir=Path(hc.runtime.output_dir))
    return JobInfo(
        output_dir=Path(hc.runtime.output_dir),
        sweep_dir=str(Path(hc.sweep.dir).resolve()),
        job_num=hc.job.num,
    )


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def hydra_entry(cfg: DictConfig) -> dict:
    try:
        job = job_info()
        result = run(cfg, job)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    if job.sweep_dir is None:
        report(result)
    return result


def report(result: dict) -> None:
    """One line on how a single run ended, and where to look at it."""
    if "diverged_at" in result:
        print(f"run {result.get('run_id', '')} FAILED: {result['stop_reason']}")
    elif "final_test_acc" in result:
        print(
            f"run {result.get('run_id', '(untracked)')} finished: "
            f"test_acc={result['final_test_acc']:.4f} train_acc={result['final_train_acc']:.4f}"
        )
    if result.get("run_id"):
        print("open the MLflow UI with `make ui`")


def main() -> None:
    register_schema()
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        hydra_entry()
    except KeyboardInterrupt:
        print(
            "interrupted: buffered metrics were flushed, the run is marked KILLED", file=sys.stderr
        )
        sys.exit(130)
    except Terminated:
        print(
            "terminated: buffered metrics were flushed, the run is marked KILLED", file=sys.stderr
        )
        sys.exit(143)


if __name__ == "__main__":
    main()
