"""Check every job a command line asks for before Hydra starts any of them.

The jobs are expanded from the sweep's axes (``hydra.sweeper.params``, then the command line)
with Hydra's override parser, as its basic sweeper does: the grid of every axis' values, the
last axis varying fastest. Each job's config is composed with Hydra's compose API
(``job_configs``: the typed schema refuses misspelled keys and values of the wrong type, Hydra
refuses unknown options of a config group) and ``validate``d (ranges and choices). The first
problem becomes one line naming the key, the bad value and what is allowed; then the store is
checked. Nothing has run and nothing was written.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from pipeline.config import CONF_DIR, ConfigError, Task
from pipeline.sweeps.job_configs import compose_jobs
from pipeline.sweeps.launchers import check_launcher_store
from pipeline.tracking.access import check_access
from pipeline.tracking.store import check_store, is_server, resolve_uri
from pipeline.validation import validate

HYDRA_FLAGS_WE_CHECK = ("-m", "--multirun")
BUDGET_KEYS = ("train.iters", "train.epochs")  # a run's length: one is set, the other null
PLUGIN_EXTRAS = " (more come with the extras: pip install -e '.[ray]', '.[slurm]', '.[optuna]')"
TYPE_NAMES = {"Float": "a number", "Integer": "an integer", "Boolean": "true or false"}


def sweep_overrides(params: Any, overrides: list[str]) -> list[Override]:
    """The parsed axes and values of a multirun: ``hydra.sweeper.params`` (a sweep preset's
    axes) first, then the command line's overrides, as Hydra's sweepers take them."""
    arguments = [f"{key}={value}" for key, value in (params or {}).items()] + list(overrides)
    return OverridesParser.create().parse_overrides(arguments)


def axis_values(params: Any, overrides: list[str]) -> dict[str, str]:
    """Each key a multirun sweeps over (more than one value), in the order of its axes ->
    its values (``0.05, 0.1, 0.5``; an interval's ends: ``interval(0.01, 1.0)``)."""
    last = {o.get_key_element(): o for o in sweep_overrides(params, overrides)}  # as in grid
    return {key.lstrip("+~"): _shown(o) for key, o in last.items() if _sweeps(o)}


def _shown(override: Override) -> str:
    values = ", ".join(str(value) for value in _values(override))
    return f"interval({values})" if override.is_interval_sweep() else values


def _sweeps(override: Override) -> bool:
    return override.is_sweep_override() and len(_values(override)) > 1


def _values(override: Override) -> list:
    """The values a sweep override lists; an interval's two ends."""
    if override.is_interval_sweep():
        return [override.value().start, override.value().end]
    return list(override.sweep_string_iterator())


def _first_value(override: Override) -> str:
    if not override.is_sweep_override():
        return override.input_line
    return f"{override.get_key_element()}={_values(override)[0]}"


def grid(parsed: list[Override]) -> list[list[str]]:
    """The basic sweeper's jobs: one override per key (a later one replaces an earlier one in
    its place), every combination of the values, the last key varying fastest."""
    axes: dict[str, list[str]] = {}
    for override in parsed:
        key = override.get_key_element()
        if override.is_interval_sweep():
            raise ConfigError(
                f"{override.input_line} is not allowed: an interval needs a sweeper that "
                "samples it; allowed: a list of values (a,b,c), or search=default (Optuna)"
            )
        if override.is_sweep_override():
            axes[key] = [f"{key}={value}" for value in _values(override)]
        else:
            axes[key] = [f"{key}={override.get_value_element_as_str()}"]
    return [list(job) for job in itertools.product(*axes.values())]


def each_value(parsed: list[Override]) -> list[list[str]]:
    """For a sweeper that picks its jobs as it goes (Optuna): each value of each axis (an
    interval's ends), the other axes at their first value."""
    first = [_first_value(o) for o in parsed]
    jobs = [first]
    for i, override in enumerate(parsed):
        if override.is_sweep_override():
            key = override.get_key_element()
            jobs += [[*first[:i], f"{key}={v}", *first[i + 1 :]] for v in _values(override)[1:]]
    return jobs


def job_overrides(base: DictConfig, overrides: list[str], multirun: bool) -> list[list[str]]:
    """The override list of each job the command line asks for."""
    if not multirun:
        return [overrides]
    check_launcher_store(base)  # jobs on other machines need a tracking server
    parsed = sweep_overrides(OmegaConf.select(base, "hydra.sweeper.params"), overrides)
    return each_value(parsed) if optimises(base) else grid(parsed)


def optimises(base: DictConfig) -> bool:
    """Whether the sweeper picks its jobs by their objective (Optuna), not from a grid."""
    return "BasicSweeper" not in str(OmegaConf.select(base, "hydra.sweeper._target_"))


def check_objective(job: DictConfig) -> None:
    """A search maximises the validation accuracy (``__main__.objective``): refuse a job
    that has no validation rows to measure it on."""
    if job.task == Task.TRAIN and job.data.val_size == 0:
        raise ConfigError(
            "data.val_size=0 is not allowed in a search: it maximises the validation accuracy, "
            "never the test accuracy; allowed: an integer >= 1"
        )


def base_config(overrides: list[str]) -> DictConfig:
    """The config, with ``hydra``, of the first job: every axis at its first value."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    return compose("config", [_first_value(o) for o in parsed], return_hydra_config=True)


def check(overrides: list[str], multirun: bool) -> list[DictConfig]:
    """Compose and validate every job, then check the store; returns the jobs' configs.
    Raises ``ConfigError`` (a bad value) or ``TrackingError`` (a store that cannot work)."""
    try:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            base = base_config(overrides)
            jobs = compose_jobs(job_overrides(base, overrides, multirun))
            for job in jobs:
                validate(job)
                if multirun and optimises(base):
                    check_objective(job)
            one_numerics(jobs)
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
    if base.tracking.enabled:
        uri = resolve_uri(base.tracking.uri, base.outputs_dir)
        check_store(uri)
        if is_server(uri):  # who may log there (MLflow's basic auth)
            model = base.tracking.registered_model if multirun else None
            check_access(uri, base.tracking.experiment, model)
    return jobs


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
    if "is not Optional" in message:
        return f"{key}=null is not allowed; allowed: a value other than null"
    value = re.search(r"Value '([^']*)'", message)
    wanted = re.search(r"converted to (\w+)", message)
    shown = repr(value.group(1)) if value else "?"
    allowed = TYPE_NAMES.get(wanted.group(1), wanted.group(1)) if wanted else message
    return f"{key}={shown} is not allowed; allowed: {allowed}"


def _keys_under(parent: str) -> str:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        node = compose("config")
    node = OmegaConf.select(node, parent) if parent else node
    return ", ".join(str(k) for k in node) if node is not None else "?"


def with_command_line_budget(argv: list[str]) -> list[str]:
    """``python -m pipeline`` arguments ``argv``, with the other key of ``BUDGET_KEYS`` set to
    null when they give one of them a value: a length typed on the command line replaces
    the one a preset sets (``sweep=default`` sets ``train.epochs``; ``train.iters=1`` then
    runs one iteration). Giving both a value is refused (``ConfigError``)."""
    try:
        parsed = OverridesParser.create().parse_overrides([a for a in argv if a[:1] != "-"])
    except Exception:  # noqa: BLE001 - a malformed override: preflight's check names it
        return argv
    named = {o.get_key_element().lstrip("+~"): o.value() is not None for o in parsed}
    given = [key for key in BUDGET_KEYS if named.get(key)]
    if len(given) > 1:
        raise ConfigError(
            "train.iters and train.epochs are both given; allowed: one of them (a run's length "
            "in iterations or in passes over the training rows)"
        )
    others = [key for key in BUDGET_KEYS if given and key not in named]
    return [*argv, *(f"{key}=null" for key in others)]


def asks_multirun(argv: list[str]) -> bool:
    """Whether ``python -m pipeline`` arguments ``argv`` ask for a sweep (``-m``)."""
    return any(a in HYDRA_FLAGS_WE_CHECK for a in argv)


def check_command_line(argv: list[str]) -> list[DictConfig] | None:
    """``check`` for ``python -m pipeline`` arguments (other Hydra flags are left to Hydra);
    returns every job's config (None when Hydra checks)."""
    if any(a.startswith("-") and a not in HYDRA_FLAGS_WE_CHECK for a in argv):
        return None
    return check([a for a in argv if not a.startswith("-")], asks_multirun(argv))


def one_numerics(jobs: list[DictConfig]) -> bool:
    """The ``train.portable`` of every job: a process's numpy loads once, so a sweep's jobs,
    which share worker processes, all compute with the same numerics."""
    values = {job.train.portable for job in jobs}
    if len(values) > 1:
        raise ConfigError(
            "train.portable=true,false is not allowed in one sweep; allowed: one value "
            "(a sweep's jobs share worker processes, whose numpy loads once)"
        )
    return values.pop()
