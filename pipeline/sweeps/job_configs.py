"""The composed config of each job of a command line, for preflight to validate.

Composing a job with Hydra's compose API takes ~0.12 s, and a sweep's jobs mostly differ only
in plain values (``train.lr=0.05`` against ``train.lr=0.1``). So the first job is composed,
and a later job whose overrides differ from it only by new values of existing leaf keys is
that config with those values set as Hydra sets an override's value
(``OmegaConf.update(cfg, key, value, merge=True)``: the typed schema refuses a value of the
wrong type the same way); any other job (a config group chosen, a key added or deleted) is
composed. This saves 3 s of the 27-job default sweep's start (docs/performance.md).
"""

from __future__ import annotations

import copy

from hydra import compose
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from omegaconf import DictConfig, ListConfig, OmegaConf

ABSENT = object()  # what ``OmegaConf.select`` gives for a key the config does not have


def compose_job(overrides: list[str]) -> DictConfig:
    """The config of a job, without ``hydra`` (inside ``initialize_config_dir(CONF_DIR)``)."""
    return compose("config", overrides=[o for o in overrides if not o.startswith("hydra")])


def compose_jobs(jobs: list[list[str]]) -> list[DictConfig]:
    """The config of each job of ``jobs`` (each a list of overrides), in order."""
    if not jobs:
        return []
    first = compose_job(jobs[0])
    parser = OverridesParser.create()
    firsts = set(jobs[0])
    configs = [first]
    for job in jobs[1:]:
        changed = parser.parse_overrides([o for o in job if o not in firsts])
        if all(_sets_a_leaf(first, o) for o in changed):
            config = copy.deepcopy(first)
            for override in changed:
                OmegaConf.update(config, override.key_or_group, override.value(), merge=True)
            configs.append(config)
        else:
            configs.append(compose_job(job))
    return configs


def _sets_a_leaf(config: DictConfig, override: Override) -> bool:
    """Whether ``override`` only gives an existing leaf key of ``config`` a new plain value."""
    key = override.key_or_group
    if override.type != OverrideType.CHANGE or override.package or key.startswith("hydra"):
        return False
    value = OmegaConf.select(config, key, default=ABSENT, throw_on_resolution_failure=False)
    return value is not ABSENT and not isinstance(value, DictConfig | ListConfig)
