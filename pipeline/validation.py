"""The checks a config's types cannot make: ranges and choices, against the tables of the code
that uses them (``validate``). The first bad value raises ``pipeline.config.ConfigError``: one
line naming the key, the value and what is allowed. Preflight runs it on every job of a
command line before any starts; ``pipeline.run`` on the job it runs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pipeline.config import PROGRESS, ConfigError, Task, compute_dtype
from pipeline.stages import data
from pipeline.stages import numerical_diff as diff
from pipeline.stages.steps import GRADIENTS, IMPLS, OPTIMIZERS
from scratchnn.layers import ACTIVATIONS
from scratchnn.networks import WEIGHT_INITS


def _choice(key: str, value: Any, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not allowed; allowed: {', '.join(allowed)}")


def _at_least(key: str, value: Any, low: int) -> None:
    if value < low:
        raise ConfigError(f"{key}={value!r} is not allowed; allowed: an integer >= {low}")


def _fraction(key: str, value: float) -> None:
    if not 0 <= value < 1:
        raise ConfigError(f"{key}={value!r} is not allowed; allowed: a number in [0, 1)")


def _positive(key: str, value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{key}={value!r} is not allowed; allowed: a finite number > 0")


def _within(key: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{key}={value!r} is not allowed; allowed: an integer in {low}..{high}")


def validate_numerical_diff(cfg: Any) -> None:
    """``diff.*``: a method and dtype of the stage's tables, an x the dtype holds, k_max."""
    _choice("diff.method", cfg.diff.method, tuple(diff.METHODS))
    _choice("diff.dtype", cfg.diff.dtype, diff.DTYPES)
    largest = float(np.finfo(cfg.diff.dtype).max)
    if not abs(cfg.diff.x) <= largest:  # also refuses nan
        raise ConfigError(
            f"diff.x={cfg.diff.x!r} is not allowed; allowed: a finite number of "
            f"{cfg.diff.dtype} (|x| <= {largest:.3g})"
        )
    _within("diff.k_max", cfg.diff.k_max, 1, diff.MAX_K)


def validate_budget(train: Any) -> None:
    """``train.iters`` (an integer >= 1) or ``train.epochs`` (a number > 0): exactly one."""
    iters, epochs = train.iters, train.epochs
    if (iters is None) == (epochs is None):
        raise ConfigError(
            f"train.iters={iters!r} and train.epochs={epochs!r} is not allowed; allowed: one "
            "of them set, the other null (a run's length in iterations or in epochs)"
        )
    if iters is not None:
        _at_least("train.iters", iters, 1)
    else:
        _positive("train.epochs", epochs)


def validate(cfg: Any) -> None:
    """Check ranges and choices of a composed config; raise ``ConfigError`` on the first bad one."""
    _choice("task", cfg.task, tuple(Task))
    _choice("progress", cfg.progress, PROGRESS)
    _at_least("seed", cfg.seed, 0)  # numpy's seeds are non-negative: seed=0,1,2 replicates
    if not cfg.tracking.outage_wait >= 0:  # also refuses nan
        raise ConfigError(
            f"tracking.outage_wait={cfg.tracking.outage_wait!r} is not allowed; "
            "allowed: seconds >= 0"
        )
    if cfg.task == Task.GRADIENT_DESCENT:
        _positive("gd.lr", cfg.gd.lr)
        _at_least("gd.step_num", cfg.gd.step_num, 1)
        return
    if cfg.task == Task.NUMERICAL_DIFF:
        validate_numerical_diff(cfg)
        return
    _choice("model.activation", cfg.model.activation, ACTIVATIONS)
    _choice("model.weight_init", cfg.model.weight_init, ("std", *WEIGHT_INITS))
    _choice("train.gradient", cfg.train.gradient, GRADIENTS)
    _choice("train.impl", cfg.train.impl, IMPLS)
    _choice("train.optimizer", cfg.train.optimizer, OPTIMIZERS)
    for key in ("momentum", "beta1", "beta2"):
        _fraction(f"train.{key}", getattr(cfg.train, key))
    _choice("data.dtype", cfg.data.dtype, ("auto", *data.DTYPES))
    if cfg.train.gradient == "numerical" and cfg.data.dtype == "float32":
        raise ConfigError(
            "data.dtype='float32' is not allowed with train.gradient=numerical; "
            "allowed: auto or float64 (a 1e-4 step is lost in float32 rounding)"
        )
    for key in ("lr", "h", "grad_check_tol"):
        _positive(f"train.{key}", getattr(cfg.train, key))
    _positive("model.weight_init_std", cfg.model.weight_init_std)
    _at_least("model.hidden_size", cfg.model.hidden_size, 1)
    for key in ("blas_threads", "batch_size", "grad_check_rows"):
        _at_least(f"train.{key}", getattr(cfg.train, key), 1)
    validate_budget(cfg.train)
    if cfg.train.numerical_threads is not None:
        _at_least("train.numerical_threads", cfg.train.numerical_threads, 1)
    try:
        data.check(cfg.data, compute_dtype(cfg))
    except data.DataError as error:
        raise ConfigError(str(error)) from None
    n_train = data.shape(cfg.data).train
    if cfg.train.batch_size > n_train:
        raise ConfigError(
            f"train.batch_size={cfg.train.batch_size!r} is larger than the training set; "
            f"allowed: 1..{n_train}"
        )
