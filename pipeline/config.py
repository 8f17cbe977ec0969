"""The typed config schema (Hydra structured configs) and the checks Hydra's types cannot make.

The dataclasses below are the single definition of every key: the YAML files in ``conf/``
only choose values. A misspelled key or a value of the wrong type is refused by OmegaConf
when the config is composed; ``validate`` then checks ranges and choices, and raises
``ConfigError`` whose message is one line naming the key, the bad value and what is allowed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

GRADIENTS = ("analytic", "numerical")
DATASETS = ("mnist", "synthetic")
DTYPES = ("auto", "float32", "float64")
ACTIVATIONS = ("sigmoid", "relu")
TASKS = ("train", "gradient_descent")
PROGRESS = ("auto", "bar", "lines", "none")
MNIST_SIZES = {"n_train": 60000, "n_test": 10000}


class ConfigError(ValueError):
    """A config value outside what is allowed; the message is one line."""


@dataclass
class DataConfig:
    name: str = MISSING
    n_train: int | None = None  # first n rows; null = all
    n_test: int | None = None
    dtype: str = "auto"  # auto = float32 for analytic training, float64 for numerical
    one_hot: bool = False
    data_dir: str | None = None  # MNIST cache; null = $SCRATCHNN_DATA_DIR or ~/.cache
    n_features: int = 64  # synthetic only
    n_classes: int = 10  # synthetic only


@dataclass
class ModelConfig:
    name: str = "two_layer"
    hidden_size: int = MISSING
    weight_init_std: float = 0.01
    activation: str = "sigmoid"


@dataclass
class TrainConfig:
    gradient: str = "analytic"
    lr: float = MISSING
    batch_size: int = MISSING
    iters: int = MISSING
    h: float = 1e-4  # numerical gradient step
    blas_threads: int = 1  # pinned, never taken from the launcher: results stay bitwise equal
    numerical_threads: int | None = None  # null: every core for a single run, 1 in a sweep
    background_eval: bool | None = None  # null: on when a core is idle (see sgd.yaml)
    diverge_factor: float = 10.0  # stop when the loss exceeds this multiple of the first loss


@dataclass
class TrackingConfig:
    enabled: bool = True
    uri: str | None = None  # null = $MLFLOW_TRACKING_URI, else sqlite:///<outputs>/mlflow.db
    experiment: str = "scratchnn"
    log_figures: bool = True


@dataclass
class GradientDescentConfig:
    init_x: list[float] = field(default_factory=lambda: [-3.0, 4.0])
    lr: float = 0.1
    step_num: int = 100


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    gd: GradientDescentConfig = field(default_factory=GradientDescentConfig)
    task: str = "train"
    seed: int = 0
    outputs_dir: str = "outputs"
    progress: str = "auto"
    force: bool = (
        False  # a sweep reruns jobs that already have a FINISHED run of the same fingerprint
    )


def register_schema() -> None:
    """Make the schema available to ``conf/config.yaml`` as ``schema``."""
    ConfigStore.instance().store(name="schema", node=Config)


def _choice(key: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not allowed; allowed: {', '.join(allowed)}")


def _at_least(key: str, value: Any, low: int | float, what: str = "an integer") -> None:
    if value < low:
        raise ConfigError(f"{key}={value!r} is not allowed; allowed: {what} >= {low}")


def _positive_float(key: str, value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{key}={value!r} is not allowed; allowed: a finite number > 0")


def validate(cfg: Any) -> None:
    """Check ranges and choices of a composed config; raise ``ConfigError`` on the first bad one."""
    _choice("task", cfg.task, TASKS)
    _choice("progress", cfg.progress, PROGRESS)
    if cfg.task == "gradient_descent":
        _positive_float("gd.lr", cfg.gd.lr)
        _at_least("gd.step_num", cfg.gd.step_num, 1)
        return
    _choice("data.name", cfg.data.name, DATASETS)
    _choice("data.dtype", cfg.data.dtype, DTYPES)
    _choice("model.activation", cfg.model.activation, ACTIVATIONS)
    _choice("train.gradient", cfg.train.gradient, GRADIENTS)
    if cfg.train.gradient == "numerical" and cfg.data.dtype == "float32":
        raise ConfigError(
            "data.dtype='float32' is not allowed with train.gradient=numerical; "
            "allowed: auto or float64 (a 1e-4 step is lost in float32 rounding)"
        )
    _positive_float("train.lr", cfg.train.lr)
    _positive_float("train.h", cfg.train.h)
    _positive_float("model.weight_init_std", cfg.model.weight_init_std)
    _at_least("model.hidden_size", cfg.model.hidden_size, 1)
    _at_least("train.iters", cfg.train.iters, 1)
    _at_least("train.blas_threads", cfg.train.blas_threads, 1)
    if cfg.train.numerical_threads is not None:
        _at_least("train.numerical_threads", cfg.train.numerical_threads, 1)
    _at_least("train.batch_size", cfg.train.batch_size, 1)
    _validate_sizes(cfg)


def _validate_sizes(cfg: Any) -> None:
    """Subset sizes within the data, and a batch no larger than the training set."""
    data = cfg.data
    for key in ("n_train", "n_test"):
        value = getattr(data, key)
        if value is None:
            continue
        limit = MNIST_SIZES[key] if data.name == "mnist" else None
        if value < 1 or (limit is not None and value > limit):
            allowed = f"1..{limit} or null" if limit else "an integer >= 1"
            raise ConfigError(f"data.{key}={value!r} is not allowed; allowed: {allowed}")
    n_train = data.n_train or (MNIST_SIZES["n_train"] if data.name == "mnist" else 1000)
    if cfg.train.batch_size > n_train:
        raise ConfigError(
            f"train.batch_size={cfg.train.batch_size!r} is larger than the training set; "
            f"allowed: 1..{n_train}"
        )
