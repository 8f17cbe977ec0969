"""The MLflow side of one job process, which every message (``messages``) is applied to."""

from __future__ import annotations

from typing import Any

from pipeline.tracking.mlflow_run import MlflowRun


class Session:
    """A job process's stores (client and experiment, once per store) and its open run."""

    def __init__(self) -> None:
        self.stores: dict[tuple[str, str], tuple[Any, str]] = {}  # (uri, experiment) -> ...
        self.client: Any = None
        self.experiment_id: str | None = None
        self.run: MlflowRun | None = None

    def end_open_run(self, status: str) -> None:
        """Close the run a job left open (its process died, or it never ended it)."""
        if self.run is not None:
            run, self.run = self.run, None
            run.end(status)
