"""``run(cfg, job)``: one job, from a composed config to a tracked result.

It validates the config, pins BLAS and hands over to the task's job (``pipeline.jobs``):
``training`` for ``task=train``, ``lessons`` for the notebook's gradient descent and
numerical differentiation. ``pipeline.__main__`` is the Hydra entry calling it.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

import pipeline.numerics as numerics
from pipeline.config import ConfigError, Task
from pipeline.jobs.lessons import run_gradient_descent, run_numerical_diff
from pipeline.jobs.training import run_training
from pipeline.tracking import provenance
from pipeline.tracking.recorder import JobInfo
from pipeline.validation import validate

log = logging.getLogger(__name__)


def check_numerics(portable: bool) -> None:
    """Refuse (``ConfigError``) to compute otherwise than ``train.portable`` asks; say in one
    line where the portable profile cannot run (``pipeline.numerics``)."""
    wrong = numerics.problem(portable, provenance.blas_info(), provenance.simd_info())
    if wrong:
        raise ConfigError(wrong)
    notice = numerics.notice(portable)
    if notice:
        log.warning("%s", notice)


def run(cfg: Any, job: JobInfo | None = None) -> dict[str, Any]:
    """Run the job ``cfg`` describes; returns its final metrics (and run id when tracked)."""
    validate(cfg)  # again after preflight: run() is also the library's entry (rerun, tests)
    check_numerics(cfg.train.portable)
    job = job or JobInfo(output_dir=Path(tempfile.mkdtemp(prefix="scratchnn-run-")))
    with threadpool_limits(limits=cfg.train.blas_threads):
        if cfg.task == Task.GRADIENT_DESCENT:
            return run_gradient_descent(cfg, job)
        if cfg.task == Task.NUMERICAL_DIFF:
            return run_numerical_diff(cfg, job)
        return run_training(cfg, job)
