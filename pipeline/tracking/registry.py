"""A run's model in MLflow's registry: found, registered, its alias moved.

A run logs its network as ``model/`` (``messages.LogModel``, the folder of
``pipeline.model.save``); ``runs:/<id>/model`` then loads it, and ``register`` makes a
version of it with an alias. ``check_alias`` refuses, before a sweep starts, an alias MLflow
would refuse at its end.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pipeline.model.save import MODEL_DIR
from pipeline.tracking.store import check_store, experiment_id
from pipeline.tracking.tags import BEST_RUN_TAG, ROLE_TAG

ALIAS_PATTERN = r"[\w-]{1,255}"  # MLflow's aliases: letters, digits, _ and -
RESERVED_ALIAS = r"latest|v\d+"  # MLflow refuses these: they name versions
log = logging.getLogger(__name__)


def model_uri(run_id: str) -> str:
    return f"runs:/{run_id}/{MODEL_DIR}"


def check_alias(alias: str) -> None:
    """Refuse, in one line, an alias MLflow would refuse at the end of a sweep."""
    if not re.fullmatch(ALIAS_PATTERN, alias) or re.fullmatch(RESERVED_ALIAS, alias):
        raise ValueError(
            f"tracking.model_alias={alias!r} is not allowed; allowed: letters, digits, _ and -, "
            "other than latest and v<number>"
        )


def has_model(client: Any, run_id: str) -> bool:
    """Whether the run logged a model (``model/MLmodel``)."""
    return f"{MODEL_DIR}/MLmodel" in {a.path for a in client.list_artifacts(run_id, MODEL_DIR)}


def register(client: Any, run_id: str, name: str, alias: str) -> str | None:
    """Make the run's model a new version of registered model ``name`` (created if absent)
    and point ``alias`` at it. Returns the version ``alias`` points at: the new one, or the
    one it already pointed at if that is this run's (a resumed sweep); None if the run has
    no model."""
    from mlflow.exceptions import MlflowException

    if not has_model(client, run_id):
        log.warning("run %s has no %s/: nothing registered", run_id, MODEL_DIR)
        return None
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        try:
            current = client.get_model_version_by_alias(name, alias)
        except MlflowException:  # no version has the alias yet
            current = None
        if current is not None and current.run_id == run_id:
            return str(current.version)
    source = f"{client.get_run(run_id).info.artifact_uri}/{MODEL_DIR}"
    version = client.create_model_version(name, source, run_id=run_id).version
    client.set_registered_model_alias(name, alias, version)
    return str(version)


def latest_sweep_best(client: Any, experiment_id: str) -> str | None:
    """The best run of the newest sweep (a parent run with a ``best_run_id`` tag), if any."""
    sweeps = client.search_runs(
        [experiment_id],
        f"tags.`{ROLE_TAG}` = 'sweep' and tags.`{BEST_RUN_TAG}` LIKE '%'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return sweeps[0].data.tags[BEST_RUN_TAG] if sweeps else None


def newest_best_run(uri: str, experiment: str) -> str | None:
    """``latest_sweep_best`` of ``experiment`` in the store ``uri`` (None: no such experiment
    or no sweep with a best run)."""
    check_store(uri)
    found = experiment_id(uri, experiment)
    if found is None:
        return None
    from mlflow.tracking import MlflowClient

    return latest_sweep_best(MlflowClient(uri), found)
