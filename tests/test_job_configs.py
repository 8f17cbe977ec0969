"""preflight's job configs: set from the first job where only values change, else composed;
either way what Hydra's compose API gives, and a bad value refused the same way."""

from __future__ import annotations

import pytest
from hydra import initialize_config_dir
from omegaconf import OmegaConf

from pipeline.config import CONF_DIR, ConfigError
from pipeline.sweeps.job_configs import compose_job, compose_jobs
from pipeline.sweeps.preflight import base_config, check, job_overrides

SWEEPS = [
    ["sweep=default"],  # values only: lr x batch x hidden
    ["sweep=small", "data=synthetic,mnist", "train.iters=3"],  # a config group as an axis
    ["train.lr=0.1,0.5", "+hydra.job.env_set.X=1", "model.activation=sigmoid,relu"],
    ["train.batch_size=10,20", "data.n_train=null,100", "experiment=book"],
]


@pytest.mark.parametrize("overrides", SWEEPS, ids=lambda o: " ".join(o))
def test_every_job_config_is_what_compose_gives(overrides):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        jobs = job_overrides(base_config(overrides), overrides, multirun=True)
        fast = compose_jobs(jobs)
        composed = [compose_job(job) for job in jobs]
    assert len(jobs) > 1
    for job, got, expected in zip(jobs, fast, composed, strict=True):
        assert OmegaConf.to_yaml(got) == OmegaConf.to_yaml(expected), job
        assert OmegaConf.get_type(got, "train") is OmegaConf.get_type(expected, "train")


def test_a_bad_value_of_a_later_job_is_refused_in_one_line(tmp_path):
    overrides = ["train.lr=0.1,fast", f"outputs_dir={tmp_path}", "tracking.enabled=false"]
    with pytest.raises(ConfigError, match=r"^train.lr='fast' is not allowed; allowed: a number$"):
        check(overrides, multirun=True)


def test_jobs_that_change_only_values_are_composed_once(monkeypatch):
    """The default sweep's 27 jobs change leaf values only: Hydra composes the first, the
    others are set from it (composing each costs ~30 ms)."""
    import pipeline.sweeps.job_configs as job_configs

    calls = []
    compose = job_configs.compose_job
    monkeypatch.setattr(job_configs, "compose_job", lambda job: calls.append(job) or compose(job))
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        overrides = ["sweep=default"]
        jobs = job_overrides(base_config(overrides), overrides, multirun=True)
        configs = job_configs.compose_jobs(jobs)
    assert len(configs) == len(jobs) == 27 and calls == [jobs[0]]
