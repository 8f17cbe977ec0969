"""Validate every job of a sweep before the first one starts."""

from __future__ import annotations

import sys

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from pipeline.config import ConfigError, validate


def job_overrides(config: DictConfig) -> list[list[str]]:
    """The override list of each job, expanded as Hydra's basic sweeper does."""
    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    arguments = [f"{key}={value}" for key, value in params.items()]
    arguments += list(config.hydra.overrides.task)
    loader = GlobalHydra.instance().config_loader()
    parsed = OverridesParser.create(config_loader=loader).parse_overrides(arguments)
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def validate_sweep(config: DictConfig) -> None:
    """Compose and ``validate`` each job's config; exit 2 with one line on the first bad one.

    Only the basic sweeper's grid can be expanded ahead; other sweepers (e.g. Optuna) choose
    their jobs as they go, and each job is then validated when it starts.
    """
    if "BasicSweeper" not in str(OmegaConf.select(config, "hydra.sweeper._target_")):
        validate(config)
        return
    loader = GlobalHydra.instance().config_loader()
    for overrides in job_overrides(config):
        job_config = loader.load_sweep_config(config, overrides)
        try:
            validate(job_config)
        except ConfigError as error:
            print(f"error: {error} (job {' '.join(overrides)})", file=sys.stderr)
            sys.exit(2)
