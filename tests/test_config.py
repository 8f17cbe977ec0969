"""The composed configs: the book's experiment, the sweep presets, and validation."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from pipeline.config import ConfigError, validate


def test_book_experiment_is_the_notebooks_run(make_cfg):
    cfg = make_cfg("experiment=book", data="mnist")
    assert cfg.data.name == "mnist"
    assert cfg.data.n_train is None and cfg.data.n_test is None
    assert cfg.model.hidden_size == 50
    assert cfg.model.weight_init_std == 0.01
    assert cfg.model.activation == "sigmoid"
    assert (cfg.train.lr, cfg.train.batch_size, cfg.train.iters) == (0.1, 100, 10000)
    assert cfg.train.gradient == "analytic"
    validate(cfg)


def test_default_sweep_covers_three_values_on_each_axis(make_cfg):
    cfg = make_cfg("sweep=default", data="mnist", hydra=True)
    params = OmegaConf.to_container(cfg.hydra.sweeper.params)
    assert set(params) == {"train.lr", "train.batch_size", "model.hidden_size"}
    for axis, values in params.items():
        assert len(str(values).split(",")) >= 3, axis
    assert cfg.data.name == "mnist" and cfg.data.n_train is None
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lr=0", "train.lr=0.0 is not allowed; allowed: a finite number > 0"),
        ("train.lr=-1", "train.lr=-1.0"),
        ("train.lr=nan", "train.lr=nan"),
        ("train.batch_size=0", "train.batch_size=0 is not allowed; allowed: an integer >= 1"),
        ("train.batch_size=5000", "train.batch_size=5000 is larger than the training set"),
        ("model.hidden_size=0", "model.hidden_size=0"),
        ("train.iters=0", "train.iters=0"),
        ("train.gradient=symbolic", "train.gradient='symbolic' is not allowed; allowed: analytic"),
        ("model.activation=tanh", "model.activation='tanh'"),
        ("data.n_train=0", "data.n_train=0"),
    ],
)
def test_bad_values_are_one_line_errors(make_cfg, override, message):
    with pytest.raises(ConfigError) as error:
        validate(make_cfg(override))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_mnist_subsets_beyond_the_data_are_refused(make_cfg):
    with pytest.raises(ConfigError, match=r"data.n_train=70000 is not allowed; allowed: 1..60000"):
        validate(make_cfg("data.n_train=70000", data="mnist"))
    with pytest.raises(ConfigError, match=r"data.n_test=10001"):
        validate(make_cfg("data.n_test=10001", data="mnist"))


def test_numerical_gradient_refuses_float32(make_cfg):
    with pytest.raises(ConfigError, match="data.dtype='float32' is not allowed"):
        validate(make_cfg("train.gradient=numerical", "data.dtype=float32"))
