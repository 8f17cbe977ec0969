"""The composed configs: the book's experiment, the sweep presets, validation, and every value
written in one place."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from omegaconf import MISSING, OmegaConf

from pipeline.config import Config, ConfigError, as_logged
from pipeline.validation import validate

CONF = Path(__file__).resolve().parents[1] / "conf"
GROUPS = ("data", "model", "train", "tracking")  # the groups config.yaml picks an option of


def test_book_experiment_is_the_notebooks_run(make_cfg):
    cfg = make_cfg("experiment=book", data="mnist")
    assert cfg.data.name == "mnist"
    assert cfg.data.n_train is None and cfg.data.n_test is None
    assert cfg.data.val_size == 0  # the book's 60,000 training images, none held out
    assert cfg.data.dtype == "float64"  # as the book's network computes
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
        ("train.impl=torch", "train.impl='torch' is not allowed; allowed: fast, textbook"),
        ("model.activation=tanh", "model.activation='tanh' is not allowed; allowed: sigmoid, relu"),
        ("data.n_train=0", "data.n_train=0"),
        (
            "train.optimizer=rmsprop",
            "train.optimizer='rmsprop' is not allowed; allowed: sgd, momentum, adagrad, adam",
        ),
        ("train.momentum=1.0", "train.momentum=1.0 is not allowed; allowed: a number in [0, 1)"),
        ("train.beta2=-0.1", "train.beta2=-0.1 is not allowed"),
        ("model.weight_init=lecun", "model.weight_init='lecun' is not allowed; allowed: std, he"),
        ("train.grad_check_tol=0", "train.grad_check_tol=0.0 is not allowed"),
        ("train.grad_check_rows=0", "train.grad_check_rows=0 is not allowed"),
        ("seed=-1", "seed=-1 is not allowed; allowed: an integer >= 0"),
    ],
)
def test_bad_values_are_one_line_errors(make_cfg, override, message):
    with pytest.raises(ConfigError) as error:
        validate(make_cfg(override))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_mnist_holds_out_a_validation_split_by_default(make_cfg):
    assert make_cfg(data="mnist").data.val_size == 10000
    assert make_cfg().data.val_size == 200  # synthetic: as many as its test rows
    validate(make_cfg("data.val_size=0", "data.n_train=60000", data="mnist"))


def test_a_logged_config_predating_a_key_gets_the_value_that_computes_as_it_did():
    old = OmegaConf.create({"data": {"name": "mnist", "n_train": 500, "n_test": None}})
    assert as_logged(old).data.val_size == 0 and as_logged(old).data.seed is None
    assert as_logged(old).data.subset == "first"  # its n_train=500 was the first 500 rows
    assert as_logged(old).train.lr == 0.1  # a key without a PREDATED value: today's default
    validate(as_logged(old))
    new = OmegaConf.create(
        {"data": {"name": "mnist", "val_size": 5, "seed": 2, "subset": "random"}}
    )
    assert (as_logged(new).data.val_size, as_logged(new).data.seed) == (5, 2)
    assert as_logged(new).data.subset == "random"


def test_mnist_subsets_are_random_or_first(make_cfg):
    assert make_cfg(data="mnist").data.subset == "random"  # conf/data/mnist.yaml's
    validate(make_cfg("data.subset=first", "data.n_test=5000", data="mnist"))
    for value, shown in (("middle", "'middle'"), ("null", "None")):
        with pytest.raises(ConfigError) as error:
            validate(make_cfg(f"data.subset={value}", data="mnist"))
        message = f"data.subset={shown} is not allowed; allowed: random, first"
        assert str(error.value) == message
    assert make_cfg().data.subset is None  # the synthetic set generates its rows
    validate(make_cfg())


def test_mnist_subsets_beyond_the_data_are_refused(make_cfg):
    with pytest.raises(ConfigError, match=r"data.n_train=70000 is not allowed; allowed: 1..50000"):
        validate(make_cfg("data.n_train=70000", data="mnist"))
    with pytest.raises(ConfigError, match=r"data.n_train=60001 .* 1..60000 or null$"):
        validate(make_cfg("data.n_train=60001", "data.val_size=0", data="mnist"))
    with pytest.raises(ConfigError, match=r"data.n_test=10001"):
        validate(make_cfg("data.n_test=10001", data="mnist"))


def test_numerical_gradient_refuses_float32(make_cfg):
    with pytest.raises(ConfigError, match="data.dtype='float32' is not allowed"):
        validate(make_cfg("train.gradient=numerical", "data.dtype=float32"))


def schema_values(node: type, prefix: str = "") -> dict[str, object]:
    """Every leaf key of the schema dataclass ``node`` and the value the schema gives it."""
    values = {}
    for item in dataclasses.fields(node):
        key = f"{prefix}{item.name}"
        if dataclasses.is_dataclass(item.type if isinstance(item.type, type) else None):
            values |= schema_values(item.type, f"{key}.")
            continue
        default = item.default
        if default is dataclasses.MISSING and item.default_factory is not dataclasses.MISSING:
            default = item.default_factory()
        if dataclasses.is_dataclass(default):
            values |= schema_values(type(default), f"{key}.")
        else:
            values[key] = default
    return values


def yaml_keys(path: Path, prefix: str = "") -> set[str]:
    """The leaf keys a config file sets (its ``defaults`` list and ``hydra`` node aside)."""

    def leaves(node: dict, at: str) -> set[str]:
        keys = set()
        for key, value in node.items():
            if isinstance(value, dict):
                keys |= leaves(value, f"{at}{key}.")
            else:
                keys.add(f"{at}{key}")
        return keys

    text = OmegaConf.to_container(OmegaConf.load(path)) or {}
    return leaves({k: v for k, v in text.items() if k not in ("defaults", "hydra")}, prefix)


def test_each_value_is_written_once_in_the_yaml_or_in_the_schema():
    schema = schema_values(Config)
    files = {CONF / "config.yaml": ""}
    files |= {path: f"{group}." for group in GROUPS for path in (CONF / group).glob("*.yaml")}
    assert len(files) > len(GROUPS)
    for path, prefix in files.items():
        for key in yaml_keys(path, prefix):
            assert key in schema, f"{path.name}: {key} is not declared in pipeline/config.py"
            assert schema[key] in (MISSING, None), (
                f"{key} is set in both {path.relative_to(CONF)} and pipeline/config.py"
            )


@pytest.mark.parametrize("data", ["mnist", "synthetic"])
def test_every_key_has_a_value_after_composing(make_cfg, data):
    """The keys the schema leaves ``MISSING`` all get their value from ``conf/``."""
    assert any(value == MISSING for value in schema_values(Config).values())
    assert OmegaConf.missing_keys(make_cfg(data=data)) == set()


def test_the_default_sweep_gives_every_batch_size_the_same_data():
    from pipeline.stages.train import iterations
    from pipeline.sweeps.preflight import check

    jobs = check(["sweep=default"], multirun=True)
    assert {(job.train.epochs, job.train.iters) for job in jobs} == {(12, None)}
    lengths = {job.train.batch_size: iterations(job.train, 50000) for job in jobs}
    assert lengths == {50: 12000, 100: 6000, 200: 3000}  # 600,000 rows each


@pytest.mark.parametrize(
    ("typed", "multirun", "iters", "epochs"),
    [
        (["train.epochs=5"], False, None, 5),  # over conf/train/sgd.yaml's 10,000 iterations
        (["sweep=default", "train.iters=10000"], True, 10000, None),  # over the preset's epochs
        (["sweep=default", "train.iters=1"], True, 1, None),
        (["experiment=book"], False, 10000, None),  # the book's fixed iteration count
    ],
)
def test_a_length_typed_on_the_command_line_replaces_the_presets(typed, multirun, iters, epochs):
    from pipeline.sweeps.preflight import check, with_command_line_budget

    argv = [*(["--multirun"] if multirun else []), *typed]
    args = [a for a in with_command_line_budget(argv) if not a.startswith("-")]
    for job in check(args, multirun):
        assert (job.train.iters, job.train.epochs) == (iters, epochs)


def test_both_lengths_on_one_command_line_are_refused():
    from pipeline.sweeps.preflight import with_command_line_budget

    with pytest.raises(ConfigError, match=r"^train.iters and train.epochs are both given"):
        with_command_line_budget(["train.iters=100", "train.epochs=2"])
    assert with_command_line_budget(["train.iters=null", "train.epochs=2"]) == [
        "train.iters=null", "train.epochs=2",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.iters=null", "train.iters=None and train.epochs=None is not allowed; allowed: one"),
        ("train.epochs=0", "train.epochs=0.0 is not allowed; allowed: a finite number > 0"),
        ("train.iters=0", "train.iters=0 is not allowed; allowed: an integer >= 1"),
    ],
)
def test_a_length_must_be_one_positive_value(make_cfg, override, message):
    cfg = make_cfg(override, *(["train.iters=null"] if "epochs" in override else []))
    with pytest.raises(ConfigError) as error:
        validate(cfg)
    assert str(error.value).startswith(message)
