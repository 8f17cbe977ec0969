"""Runs looked up in a store and read back: a run by id, a sweep's jobs, metric points, files.

What the sweep's summary, the registry and the tools read from a store comes through here,
so that they never hold a client's API themselves. Errors become one-line ``TrackingError``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from pipeline.errors import one_line
from pipeline.tracking.artifacts import relocated
from pipeline.tracking.store import TrackingError, check_store, scheme, sqlite_path
from pipeline.tracking.tags import JOBS_DIR, PARENT_TAG, ROLE_TAG, SWEEP_ROLE


def open_run(uri: str, run_id: str) -> tuple[Any, Any]:
    """(``MlflowClient``, ``mlflow.entities.Run``) of ``run_id`` in the store ``uri``; a
    ``TrackingError`` naming both if the store or the run does not exist (nothing created)."""
    check_store(uri)
    if scheme(uri) == "sqlite" and not sqlite_path(uri).is_file():
        raise TrackingError(f"tracking store {uri} does not exist: no run {run_id} in it")
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    try:
        return client, client.get_run(run_id)
    except MlflowException as exc:
        raise TrackingError(f"run {run_id} in {uri}: {one_line(exc)}") from None


def sweep_jobs(client: Any, parent_id: str) -> list[tuple[int, Any]]:
    """(job number, ``Run``) of each job the sweep's parent names (``MlflowRun.log_job``), in
    job order."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = download(client, parent_id, JOBS_DIR, tmp)
        named = [json.loads(p.read_text()) for p in Path(folder).glob("*.json")] if folder else []
    named.sort(key=lambda entry: entry["job"])
    return [(entry["job"], client.get_run(entry["run_id"])) for entry in named]


SIZE_KEYS = ("n_train", "n_test")  # of a data config: the rows a run takes (null: every row)


def on_default_rows(data: Any) -> str:
    """MLflow's search filter for the runs and sweeps on dataset ``data.name`` with the rows
    its config takes by default (``data``: that config; MNIST: every row, logged as ``None``).
    What the UI's front page, its newest-sweep link and `make serve` without a run look at:
    a sweep on a ``data.n_train``/``data.n_test`` subset (a sweep over one logs its values)
    or on other data never takes their place."""
    sizes = " and ".join(f"params.`data.{key}` = '{data[key]}'" for key in SIZE_KEYS)
    return f"params.`data.name` = '{data.name}' and {sizes}"


def newest_sweep_run(client: Any, experiment_id: str, also: str = "") -> Any | None:
    """The newest sweep parent run (``Run``) of experiment ``experiment_id`` that also matches
    ``also`` (MLflow's search syntax; empty: any), if any."""
    where = f"tags.`{ROLE_TAG}` = '{SWEEP_ROLE}'" + (f" and {also}" if also else "")
    found = client.search_runs(
        [experiment_id], where, order_by=["attributes.start_time DESC"], max_results=1
    )
    return found[0] if found else None


def running_children(client: Any, parent_id: str) -> list[str]:
    """The ids of the runs nested under ``parent_id`` that are still RUNNING."""
    experiment = client.get_run(parent_id).info.experiment_id
    runs = client.search_runs(
        [experiment], f"tags.`{PARENT_TAG}` = '{parent_id}' and attributes.status = 'RUNNING'"
    )
    return [run.info.run_id for run in runs]


def metric_points(client: Any, run_id: str, key: str) -> list[tuple[int, float]]:
    """Every point of metric ``key`` of the run: (step, value), by step."""
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def download(client: Any, run_id: str, artifact_path: str, folder: str) -> str | None:
    """The run's artifact ``artifact_path``, downloaded into ``folder``: its local path, or
    None if the run has no such artifact (e.g. a killed run has no history file). A SQLite
    store whose folder was moved is read from beside its file (``relocated``)."""
    import mlflow.artifacts

    recorded = client.get_run(run_id).info.artifact_uri
    source = relocated(client.tracking_uri, recorded)
    try:
        if source == recorded:
            return client.download_artifacts(run_id, artifact_path, folder)
        return mlflow.artifacts.download_artifacts(f"{source}/{artifact_path}", dst_path=folder)
    except Exception:  # noqa: BLE001 - MLflow's errors differ by store and artifact repository
        return None
