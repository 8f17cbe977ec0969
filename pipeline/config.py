"""The typed config schema (Hydra structured configs), composed and read back.

The dataclasses below declare every key, its type and what it means. Values live in
``conf/``: a key that a file there sets is ``MISSING`` here, and the few keys no file sets
have their value here (``tests/test_config.py`` checks that no value is written twice). A
misspelled key or a value of the wrong type is refused by OmegaConf when the config is
composed; ``pipeline.validation.validate`` then checks ranges and choices, raising
``ConfigError``: one line naming the key, the value, what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
PROGRESS = ("auto", "bar", "lines", "none")
# A key's value for the runs logged before it existed, where today's default would change
# what they compute (``as_logged``): no validation split, synthetic data from the run's seed,
# the first rows as subsets, a length in iterations, the machine's own numerics.
PREDATED = {
    "data": {"val_size": 0, "seed": None, "subset": "first"},
    "train": {"epochs": None, "portable": False},
}


class Task(StrEnum):
    """What a job does (``task=``): train the network, or one of the notebook's lessons."""

    TRAIN = "train"  # load_data -> train -> evaluate
    GRADIENT_DESCENT = "gradient_descent"  # the notebook's section 4.4.1
    NUMERICAL_DIFF = "numerical_diff"  # the notebook's section 4.3.1


class ConfigError(ValueError):
    """A config value outside what is allowed; the message is one line."""


@dataclass
class DataConfig:
    name: str = MISSING  # a dataset of pipeline.stages.data.DATASETS: mnist | synthetic
    n_train: int | None = MISSING  # n of the rows not held out (MNIST); null = all of them
    n_test: int | None = MISSING  # n of the test rows (MNIST); null = all of them
    subset: str | None = None  # MNIST: which rows n_train / n_test take: random (a fixed
    # random choice, the same for every job: stages.data.split) | first (the file's first n,
    # a biased sample). The synthetic set generates n_train / n_test rows: no subset
    val_size: int = MISSING  # training rows held out for validation (stages.data.split)
    dtype: str = "auto"  # float32 | float64 | auto: float32 for analytic training, else float64
    # (a run's params hold the dtype it computed in: auto is resolved before they are logged)
    one_hot: bool = False  # labels as one-hot rows instead of class numbers
    data_dir: str | None = None  # MNIST cache; null = $SCRATCHNN_DATA_DIR or ~/.cache/...
    n_features: int | None = None  # synthetic only: pixels per sample
    n_classes: int | None = None  # synthetic only
    seed: int | None = None  # synthetic only: the generator's seed; null = the run's seed


@dataclass
class ModelConfig:
    name: str = MISSING
    hidden_size: int = MISSING
    weight_init: str = MISSING  # std | he | xavier (scratchnn.networks.WEIGHT_INITS)
    weight_init_std: float = MISSING  # weight_init=std: weights are std * N(0, 1)
    activation: str = MISSING  # a layer of scratchnn.layers.ACTIVATIONS: sigmoid | relu


@dataclass
class TrainConfig:
    gradient: str = MISSING  # analytic (backprop) | numerical (central differences)
    impl: str = MISSING  # fast (scratchnn.fast) | textbook (the book's code as written)
    optimizer: str = MISSING  # sgd | momentum | adagrad | adam (stages.steps.OPTIMIZERS)
    lr: float = MISSING  # the learning rate of every optimizer
    momentum: float = MISSING  # optimizer=momentum: the velocity's decay
    beta1: float = MISSING  # optimizer=adam: decay of the gradient's running mean
    beta2: float = MISSING  # optimizer=adam: decay of its running square
    batch_size: int = MISSING
    iters: int | None = MISSING  # a run's length in iterations (the book's) ...
    epochs: float | None = MISSING  # ... or in passes over the training rows: one is null
    h: float = MISSING  # step of the numerical gradient
    blas_threads: int = MISSING  # pinned, never the launcher's: results stay bitwise equal
    portable: bool = MISSING  # the numerics profile (pipeline.numerics) or the machine's own
    numerical_threads: int | None = MISSING  # null: every core for a single run, 1 in a sweep
    diverge_factor: float = MISSING  # stop when the loss exceeds this multiple of the first
    grad_check: bool = MISSING  # analytic runs: backprop vs central differences, before/after
    grad_check_rows: int = MISSING  # the training rows the gradient check uses
    grad_check_tol: float = MISSING  # a larger relative error tags the run and warns


@dataclass
class TrackingConfig:
    enabled: bool = MISSING
    uri: str | None = MISSING  # null = $MLFLOW_TRACKING_URI, else sqlite:///<outputs>/mlflow.db
    experiment: str = MISSING
    log_figures: bool = MISSING
    writer_process: bool = MISSING  # a single run's MLflow calls in a process of their own
    log_model: bool = MISSING  # a finished run logs its network as an MLflow logged model
    registered_model: str | None = MISSING  # a sweep registers its best model as; null: none
    model_alias: str = MISSING  # the alias that moves to that version if it beats the holder
    outage_wait: float = MISSING  # s a run or sweep ending waits for a tracking server that is down


@dataclass
class GradientDescentConfig:
    """``task=gradient_descent``: the notebook's section 4.4.1."""

    init_x: list[float] = field(default_factory=lambda: [-3.0, 4.0])
    lr: float = 0.1
    step_num: int = 100


@dataclass
class NumericalDiffConfig:
    """``task=numerical_diff``: the notebook's section 4.3.1, f'(x) at h = 10**-k."""

    method: str = "central"  # forward (the notebook's "bad implementation") | central
    x: float = 5.0  # where f(x) = 0.01 x**2 + 0.1 x is differentiated
    dtype: str = "float64"  # float64 | float32: x, h and every operation
    k_max: int = 50  # the steps h = 10**-k, k = 1 .. k_max


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    gd: GradientDescentConfig = field(default_factory=GradientDescentConfig)
    diff: NumericalDiffConfig = field(default_factory=NumericalDiffConfig)
    task: str = MISSING  # what a job does: a value of Task
    seed: int = MISSING  # weights and minibatches derive from it (data too if data.seed null)
    outputs_dir: str = MISSING  # Hydra's run dirs and the local MLflow store
    progress: str = MISSING  # auto | bar | lines | none
    force: bool = False  # a sweep reruns jobs that already have a FINISHED run (make FORCE=1)


def register_schema() -> None:
    """Make the schema available to ``conf/config.yaml`` as ``schema``."""
    ConfigStore.instance().store(name="schema", node=Config)


def project_config() -> DictConfig:
    """``conf/config.yaml`` composed without overrides: the command-line tools take their
    defaults (outputs dir, experiment) from it."""
    register_schema()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config")


def dataset_config(name: str) -> DictConfig:
    """The ``data`` node of ``conf/config.yaml`` composed with ``data=<name>``: the dataset as
    a run gets it by default (e.g. mnist: every row; synthetic: 1,000 training rows)."""
    register_schema()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=[f"data={name}"]).data


def as_logged(logged: DictConfig) -> DictConfig:
    """A run's logged resolved config over today's (``project_config``): a key the run
    predates takes its ``PREDATED`` value if it has one, else today's default."""
    return OmegaConf.merge(project_config(), PREDATED, logged)


def compute_dtype(cfg: Any) -> str:
    """``data.dtype``, with ``auto`` = float32 for analytic training, float64 for numerical."""
    if cfg.data.dtype != "auto":
        return cfg.data.dtype
    return "float64" if cfg.train.gradient == "numerical" else "float32"
