"""The MLflow writer process (see ``pipeline.tracking``): reads JSON lines on stdin, one
operation each, and answers those that ask on stdout. Run as ``python -m
pipeline.tracking_writer``; it ignores Ctrl-C and ends when its stdin closes, after
flushing every metric and marking runs that were never ended KILLED."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any, TextIO

from pipeline.tracking import TrackingError, check_server

MAX_METRICS_PER_BATCH = 1000  # MLflow's log_batch limit
MAX_PARAMS_PER_BATCH = 100


class Store:
    """One MLflow client, the metrics waiting to be sent, and the runs still open."""

    def __init__(self) -> None:
        from mlflow.tracking import MlflowClient  # the slow import, once per process

        self._client_class = MlflowClient
        self.client = None
        self.pending: dict[str, list] = {}
        self.open_runs: set[str] = set()

    def open(self, uri: str, experiment: str, artifact_location: str | None) -> str:
        """Connect (creating the store if new) and return the experiment id."""
        from mlflow.exceptions import MlflowException

        check_server(uri)
        self.client = self._client_class(uri)
        found = self.client.get_experiment_by_name(experiment)
        if found is not None:
            return found.experiment_id
        try:
            return self.client.create_experiment(experiment, artifact_location=artifact_location)
        except MlflowException:  # created meanwhile by another process
            return self.client.get_experiment_by_name(experiment).experiment_id

    def find_runs(self, experiment_id: str, filter_string: str) -> list[dict[str, Any]]:
        runs = self.client.search_runs([experiment_id], filter_string, max_results=100)
        return [
            {"run_id": r.info.run_id, "status": r.info.status, "metrics": r.data.metrics}
            for r in runs
        ]

    def start_run(self, experiment_id, run_name, tags, params) -> str:
        from mlflow.entities import Param

        run = self.client.create_run(experiment_id, tags=tags, run_name=run_name)
        run_id = run.info.run_id
        self.open_runs.add(run_id)
        items = [Param(k, str(v)) for k, v in params.items()]
        for start in range(0, len(items), MAX_PARAMS_PER_BATCH):
            self.client.log_batch(run_id, params=items[start : start + MAX_PARAMS_PER_BATCH])
        return run_id

    def metrics(self, run_id: str, key: str, steps: list, values: list) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        queue = self.pending.setdefault(run_id, [])
        queue.extend(Metric(key, float(v), now, int(s)) for s, v in zip(steps, values, strict=True))
        if len(queue) >= MAX_METRICS_PER_BATCH:
            self.flush(run_id)

    def flush(self, run_id: str) -> None:
        queue = self.pending.pop(run_id, [])
        for start in range(0, len(queue), MAX_METRICS_PER_BATCH):
            self.client.log_batch(run_id, metrics=queue[start : start + MAX_METRICS_PER_BATCH])

    def tags(self, run_id: str, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def artifact(self, run_id: str, path: str, artifact_path: str | None) -> None:
        if os.path.isdir(path):
            self.client.log_artifacts(run_id, path, artifact_path)
        else:
            self.client.log_artifact(run_id, path, artifact_path)

    def figure(self, run_id: str, name: str, arrays: dict[str, Any]) -> None:
        import numpy as np

        from pipeline import plots

        kwargs = {k: np.asarray(v) if isinstance(v, list) else v for k, v in arrays.items()}
        self.client.log_figure(run_id, getattr(plots, name)(**kwargs), f"figures/{name}.png")

    def end(self, run_id: str, status: str) -> None:
        self.flush(run_id)
        self.client.set_terminated(run_id, status)
        self.open_runs.discard(run_id)

    def abandon(self) -> None:
        """stdin closed: flush what was received and mark unfinished runs KILLED."""
        for run_id in list(self.open_runs):
            self.end(run_id, "KILLED")


OPERATIONS = ("open", "find_runs", "start_run", "metrics", "tags", "artifact", "figure", "end")


def serve(lines: TextIO, answers: TextIO) -> None:
    store = Store()
    for line in lines:
        message = json.loads(line)
        op, reply = message.pop("op"), message.pop("reply", False)
        if op not in OPERATIONS:
            raise ValueError(f"unknown tracking operation {op!r}")
        try:
            result, ok = getattr(store, op)(**message), True
        except Exception as exc:  # report it to the training process, keep serving
            detail = " ".join(str(exc).split())
            result = detail if isinstance(exc, TrackingError) else f"{type(exc).__name__}: {detail}"
            ok = False
            if not reply:
                print(f"scratchnn tracking: {op} failed: {result}", file=sys.stderr)
        if reply:
            answers.write(json.dumps({"ok": ok, "result" if ok else "error": result}) + "\n")
            answers.flush()
    store.abandon()


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not reach the pipe
    serve(sys.stdin, answers)


if __name__ == "__main__":
    main()
