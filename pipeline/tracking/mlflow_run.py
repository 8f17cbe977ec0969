"""One MLflow run, logged through ``MlflowClient`` in this process: the only module (with
``store.connect``) that writes to a store.

Metric points are buffered and sent with ``MlflowClient.log_batch``, at most
``MAX_METRICS`` a call (MLflow's limit); params and tags at most ``MAX_PARAMS`` a call.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np

from pipeline.tracking.tags import JOBS_DIR

MAX_METRICS = 1000  # metric points per log_batch call: MLflow's limit
MAX_PARAMS = 100  # params (or tags) per log_batch call: MLflow's limit


class MlflowRun:
    """An open MLflow run of ``client``; ``end`` closes it.

    Parameters
    ----------
    client : mlflow.tracking.MlflowClient
    run_id : str
    """

    def __init__(self, client: Any, run_id: str) -> None:
        self.client, self.run_id = client, run_id
        self.pending: list[Any] = []  # mlflow.entities.Metric not sent yet

    @classmethod
    def start(
        cls,
        client: Any,
        experiment_id: str,
        run_name: str,
        tags: dict[str, str],
        start_time: int | None = None,
    ) -> MlflowRun:
        """Create the run with its ``tags`` (``mlflow.parentRunId`` nests it), started at
        ``start_time`` (ms since the epoch; None: now). ``log_params`` gives it its params."""
        run = client.create_run(experiment_id, start_time, tags, run_name)
        return cls(client, run.info.run_id)

    def log_params(self, params: dict[str, str]) -> None:
        """Log ``params``; logging a param again with the value it has is allowed (a
        replayed run whose first try the server cut off after ``start``)."""
        from mlflow.entities import Param

        items = [Param(key, str(value)) for key, value in params.items()]
        for start in range(0, len(items), MAX_PARAMS):
            self.client.log_batch(self.run_id, params=items[start : start + MAX_PARAMS])

    def log_series(
        self, key: str, steps: np.ndarray, values: np.ndarray, timestamp: int | None = None
    ) -> None:
        """``values[i]`` as the value of metric ``key`` at step ``steps[i]``, logged at
        ``timestamp`` (ms since the epoch; None: now)."""
        from mlflow.entities import Metric

        now = timestamp or int(time.time() * 1000)
        points = zip(np.asarray(steps).tolist(), np.asarray(values, float).tolist(), strict=True)
        self.pending += [Metric(key, value, now, step) for step, value in points]
        if len(self.pending) >= MAX_METRICS:
            self.flush()

    def flush(self) -> None:
        """Send every buffered metric point."""
        pending, self.pending = self.pending, []
        for start in range(0, len(pending), MAX_METRICS):
            self.client.log_batch(self.run_id, metrics=pending[start : start + MAX_METRICS])

    def set_tags(self, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(key, str(value)) for key, value in tags.items()]
        for start in range(0, len(items), MAX_PARAMS):
            self.client.log_batch(self.run_id, tags=items[start : start + MAX_PARAMS])

    def log_artifact(self, path: str | os.PathLike[str], artifact_path: str | None) -> None:
        """The file or folder ``path`` under ``artifact_path`` (None: the run's root)."""
        if os.path.isdir(path):
            self.client.log_artifacts(self.run_id, str(path), artifact_path)
        else:
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_job(self, job: int, run_id: str) -> None:
        """Name ``run_id`` as job number ``job`` of this sweep's parent: its artifact
        ``jobs/<job>.json`` (a file per job: parallel jobs never write the same one, and the
        parent's Tags panel stays short). ``lookup.sweep_jobs`` reads them back."""
        text = json.dumps({"job": job, "run_id": run_id})
        self.client.log_text(self.run_id, text, f"{JOBS_DIR}/{job}.json")

    def log_figure(self, figure: Any, name: str) -> None:
        """A matplotlib figure as ``figures/<name>.png``."""
        self.client.log_figure(self.run_id, figure, f"figures/{name}.png")

    def end(self, status: str, end_time: int | None = None) -> str:
        """Send what is buffered and mark the run ``status`` (FINISHED, FAILED, KILLED) as of
        ``end_time`` (ms since the epoch; None: now)."""
        try:
            self.flush()
        finally:
            self.client.set_terminated(self.run_id, status, end_time)
        return self.run_id
