"""Check every job a command line asks for before Hydra starts any of them.

Each job's config is composed (the typed schema refuses misspelled keys and values of the
wrong type, Hydra refuses unknown options of a config group) and ``validate``d (ranges and
choices). The first problem becomes one line naming the key, the bad value and what is
allowed; nothing has run and no run was created.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from pipeline.config import ConfigError, validate
from pipeline.launchers import check_launcher_store
from pipeline.switches import off

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")
HYDRA_FLAGS_WE_CHECK = ("-m", "--multirun")
PLUGIN_EXTRAS = " (more come with the extras: pip install -e '.[ray]', '.[slurm]', '.[optuna]')"
TYPE_NAMES = {"Float": "a number", "Integer": "an integer", "Boolean": "true or false"}


def base_config(overrides: list[str]) -> DictConfig:
    """The config (with ``hydra``) of the first job: each sweep axis at its first value.
    Composing it also checks the hydra/... choices."""
    parser = OverridesParser.create()
    return _compose([_first_value(o) for o in parser.parse_overrides(overrides)], hydra=True)


def job_overrides(base: DictConfig, overrides: list[str], multirun: bool) -> list[list[str]]:
    """The override list of each job: one job, or the basic sweeper's grid of a multirun
    (sweep presets' ``hydra.sweeper.params`` first, then the command line's overrides)."""
    if not multirun:
        return [overrides]
    parser = OverridesParser.create()
    check_launcher_store(base)  # jobs on other machines need a tracking server
    params = OmegaConf.select(base, "hydra.sweeper.params") or {}
    arguments = [f"{key}={value}" for key, value in params.items()] + overrides
    if "BasicSweeper" not in str(OmegaConf.select(base, "hydra.sweeper._target_")):
        return _each_value(parser.parse_overrides(arguments))  # e.g. Optuna picks as it goes
    batches = BasicSweeper.split_arguments(parser.parse_overrides(arguments), None)
    return [job for batch in batches for job in batch]


def _values(override) -> list:
    """The values a sweep override lists; an interval's two ends."""
    if override.is_interval_sweep():
        return [override.value().start, override.value().end]
    return list(override.sweep_string_iterator())


def _first_value(override) -> str:
    if not override.is_sweep_override():
        return override.input_line
    return f"{override.get_key_element()}={_values(override)[0]}"


def _each_value(parsed: list) -> list[list[str]]:
    """For a sweeper that picks its jobs as it goes: each value of each axis (an interval's
    ends), the other axes at their first value."""
    first = [_first_value(o) for o in parsed]
    jobs = [first]
    for i, override in enumerate(parsed):
        if override.is_sweep_override():
            key = override.get_key_element()
            jobs += [[*first[:i], f"{key}={v}", *first[i + 1 :]] for v in _values(override)[1:]]
    return jobs


def _compose(overrides: list[str], hydra: bool = False):
    """Compose inside ``initialize_config_dir(CONF_DIR)`` (once for all jobs: it is slow)."""
    return compose("config", overrides=overrides, return_hydra_config=hydra)


def job_configs(jobs: list[list[str]]) -> Iterator[DictConfig]:
    """The config of each job (without ``hydra``), as Hydra composes it: the config groups
    it chooses are composed once per distinct choice (it takes ~0.2 s), then its value
    overrides are applied to a copy the way Hydra applies them after composing."""
    parser = OverridesParser.create()
    composed: dict[tuple[str, ...], DictConfig] = {}
    for job in jobs:
        if off("compose_cache"):
            yield _compose([o for o in job if not o.startswith("hydra")])
            continue
        parsed = parser.parse_overrides([o for o in job if not o.startswith("hydra")])
        groups = [_is_group(o) for o in parsed]
        choices = tuple(o.input_line for o, group in zip(parsed, groups, strict=True) if group)
        values = [o for o, group in zip(parsed, groups, strict=True) if not group]
        if choices not in composed:
            composed[choices] = _compose(list(choices))
        config = copy.deepcopy(composed[choices])
        ConfigLoaderImpl._apply_overrides_to_config(values, config)
        yield config


def _is_group(override) -> bool:
    """Whether ``override`` chooses a config group (``model=...``), not a value."""
    return (Path(CONF_DIR) / override.key_or_group).is_dir()


def check(
    overrides: list[str], multirun: bool, prepare: Callable[[DictConfig], None] | None = None
) -> int:
    """Compose and validate every job; returns how many. Raises ``ConfigError``.

    ``prepare(base)`` is called with the first job's config (``base_config``) before the
    jobs are composed, to start work that can overlap with this check.
    """
    try:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            base = base_config(overrides)
            if prepare is not None:
                prepare(base)
            jobs = job_overrides(base, overrides, multirun)
            for job_config in job_configs(jobs):
                validate(job_config)
    except ConfigError:
        raise
    except MissingConfigException as error:
        raise ConfigError(_missing_option(error)) from None
    except OmegaConfBaseException as error:
        raise ConfigError(_bad_key(error)) from None
    except Exception as error:  # noqa: BLE001 - Hydra wraps OmegaConf's errors
        cause = error.__cause__
        if isinstance(cause, OmegaConfBaseException):
            raise ConfigError(_bad_key(cause)) from None
        raise ConfigError(" ".join(str(error).split())) from None
    return len(jobs)


def _missing_option(error: MissingConfigException) -> str:
    found = re.search(r"Could not find '([^']+)'", str(error))
    group, _, value = (found.group(1) if found else "?/?").rpartition("/")
    options = ", ".join(error.options or [])
    plugins = PLUGIN_EXTRAS if group.startswith("hydra/") else ""
    return f"{group}={value!r} is not allowed; allowed: {options}{plugins}"


def _bad_key(error: OmegaConfBaseException) -> str:
    key = getattr(error, "full_key", None) or "?"
    message = str(error).splitlines()[0]
    if "not in" in message or "Missing key" in message:
        parent = key.rpartition(".")[0]
        under = f" under {parent}" if parent else ""
        return f"{key} is not a config key; allowed{under}: {_keys_under(parent)}"
    value = re.search(r"Value '([^']*)'", message)
    wanted = re.search(r"converted to (\w+)", message)
    shown = repr(value.group(1)) if value else "?"
    allowed = TYPE_NAMES.get(wanted.group(1), wanted.group(1)) if wanted else message
    return f"{key}={shown} is not allowed; allowed: {allowed}"


def _keys_under(parent: str) -> str:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        node = _compose([])
    node = OmegaConf.select(node, parent) if parent else node
    return ", ".join(str(k) for k in node) if node is not None else "?"


def check_command_line(
    argv: list[str], prepare_sweep: Callable[[DictConfig], None] | None = None
) -> None:
    """``check`` for ``python -m pipeline`` arguments; other Hydra flags are left to Hydra.
    For a multirun, ``prepare_sweep`` is ``check``'s ``prepare``."""
    if any(a.startswith("-") and a not in HYDRA_FLAGS_WE_CHECK for a in argv):
        return
    multirun = any(a in HYDRA_FLAGS_WE_CHECK for a in argv)
    check([a for a in argv if not a.startswith("-")], multirun, prepare_sweep if multirun else None)
