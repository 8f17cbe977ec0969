"""The MLflow writer process (see ``pipeline.tracking``): reads JSON lines on stdin, one
operation each, and answers those that ask on stdout. Run as ``python -m
pipeline.tracking_writer [--listen SOCKET]``; it ignores Ctrl-C and ends when its stdin
closes, after flushing every metric and marking runs that were never ended KILLED.

With ``--listen`` (a sweep's launching process starts it so) it also serves the jobs of
other processes on this machine, each connection to the Unix socket ``SOCKET`` like a stdin
of its own: one MLflow import and store for the whole sweep instead of one per worker.
Operations run one at a time; a connection that closes gets its unended runs marked KILLED.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from pipeline.switches import off
from pipeline.tracking import TrackingError, check_server
from pipeline.tracking_sql import SqlMetricWriter

MAX_METRICS_PER_BATCH = 1000  # MLflow's log_batch limit
MAX_PARAMS_PER_BATCH = 100
LOCK = threading.Lock()  # one operation at a time: connections share matplotlib and the store
LIVE_STORES: set[Store] = set()  # one per connection being served


class Store:
    """One MLflow client, its experiment, the runs it started (by the training process's
    key) and the metrics waiting to be sent."""

    def __init__(self) -> None:
        from mlflow.tracking import MlflowClient  # the slow imports, once per process

        import pipeline.plots  # noqa: F401 - matplotlib too, while training runs

        self._client_class = MlflowClient
        self.client = None
        self.experiment_id: str | None = None
        self.runs: dict[str, str] = {}  # key -> run id, for runs not ended yet
        self.pending: dict[str, list] = {}  # run -> [(key, value, timestamp ms, step), ...]
        self.sql_metrics: SqlMetricWriter | None = None  # bulk inserts, for a SQL store

    def _id(self, run: str) -> str:
        """The run id of a key this writer started, else ``run`` itself (a real run id)."""
        return self.runs.get(run, run)

    def open(self, uri: str, experiment: str, artifact_location: str | None) -> str:
        """Connect (creating the store if new) and return the experiment id."""
        from mlflow.exceptions import MlflowException

        check_server(uri)
        self.client = self._client_class(uri)
        self.sql_metrics = None if off("sql_bulk") else SqlMetricWriter.for_client(self.client)
        found = self.client.get_experiment_by_name(experiment)
        if found is None:
            try:
                self.client.create_experiment(experiment, artifact_location=artifact_location)
            except MlflowException:  # created meanwhile by another process
                pass
            found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id
        return self.experiment_id

    def find_runs(self, filter_string: str) -> list[dict[str, Any]]:
        runs = self.client.search_runs([self.experiment_id], filter_string, max_results=100)
        return [
            {"run_id": r.info.run_id, "status": r.info.status, "metrics": r.data.metrics}
            for r in runs
        ]

    def start_run(self, key, run_name, tags, params, report_to=None) -> str:
        """Create the run known as ``key``; ``report_to`` = (parent run id, tag) names it there."""
        from mlflow.entities import Param, RunTag

        run_id = self.client.create_run(
            self.experiment_id, tags=tags, run_name=run_name
        ).info.run_id
        self.runs[key] = run_id
        items = [Param(k, str(v)) for k, v in params.items()]
        for start in range(0, len(items), MAX_PARAMS_PER_BATCH):
            self.client.log_batch(run_id, params=items[start : start + MAX_PARAMS_PER_BATCH])
        if report_to:
            parent_id, tag = report_to
            self.client.log_batch(parent_id, tags=[RunTag(tag, run_id)])
        return run_id

    def metrics(self, run: str, key: str, steps: list, values: list) -> None:
        now = int(time.time() * 1000)
        queue = self.pending.setdefault(run, [])
        queue.extend((key, float(v), now, int(s)) for s, v in zip(steps, values, strict=True))
        if len(queue) >= MAX_METRICS_PER_BATCH:
            self.flush(run)

    def flush(self, run: str) -> None:
        from mlflow.entities import Metric

        queue, run_id = self.pending.pop(run, []), self._id(run)
        for start in range(0, len(queue), MAX_METRICS_PER_BATCH):
            points = queue[start : start + MAX_METRICS_PER_BATCH]
            if self.sql_metrics is not None:
                self.sql_metrics.log(run_id, points)
            else:
                self.client.log_batch(run_id, metrics=[Metric(*point) for point in points])

    def tags(self, run: str, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self._id(run), tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def artifact(self, run: str, path: str, artifact_path: str | None) -> None:
        if os.path.isdir(path):
            self.client.log_artifacts(self._id(run), path, artifact_path)
        else:
            self.client.log_artifact(self._id(run), path, artifact_path)

    def figure(self, run: str, name: str, arrays: dict[str, Any]) -> None:
        import numpy as np

        from pipeline import plots

        kwargs = {k: np.asarray(v) if isinstance(v, list) else v for k, v in arrays.items()}
        self.client.log_figure(self._id(run), getattr(plots, name)(**kwargs), f"figures/{name}.png")

    def summarize(self, run: str, sweep_dir: str) -> list[dict[str, Any]]:
        """The sweep summary of the parent run ``run`` (see ``pipeline.sweep_summary``)."""
        from pipeline.sweep_summary import summarize

        return summarize(self.client, self._id(run), Path(sweep_dir))

    def end(self, run: str, status: str) -> str:
        """Flush the run's metrics, mark it ``status``; returns its run id."""
        self.flush(run)
        run_id = self._id(run)
        self.client.set_terminated(run_id, status)
        self.runs.pop(run, None)
        return run_id

    def abandon(self) -> None:
        """stdin closed: flush what was received and mark unfinished runs KILLED."""
        for key in list(self.runs):
            self.end(key, "KILLED")


OPERATIONS = ("open", "find_runs", "start_run", "metrics", "tags", "artifact", "figure")
OPERATIONS += ("summarize", "end")
# A failed operation is answered when asked; else it is remembered for the next answer, so
# an error of an asynchronous start surfaces at the run's end instead of vanishing.


def serve(lines: TextIO, answers: TextIO) -> None:
    """Run the operations of one connection (stdin or a socket) until it closes, then mark
    its unended runs KILLED."""
    store = Store()
    LIVE_STORES.add(store)
    try:
        _serve_lines(store, lines, answers)
    finally:
        with LOCK:
            LIVE_STORES.discard(store)
            store.abandon()


def _serve_lines(store: Store, lines: TextIO, answers: TextIO) -> None:
    earlier_error: str | None = None
    for line in lines:
        message = json.loads(line)
        op, reply = message.pop("op"), message.pop("reply", False)
        if op not in OPERATIONS:
            raise ValueError(f"unknown tracking operation {op!r}")
        try:
            with LOCK:
                result, ok = getattr(store, op)(**message), True
        except Exception as exc:  # report it to the training process, keep serving
            detail = " ".join(str(exc).split())
            result = detail if isinstance(exc, TrackingError) else f"{type(exc).__name__}: {detail}"
            ok = False
            if not reply:
                print(f"scratchnn tracking: {op} failed: {result}", file=sys.stderr)
                earlier_error = earlier_error or f"{op} failed: {result}"
        if reply:
            if ok and earlier_error:
                result, ok, earlier_error = earlier_error, False, None
            answers.write(json.dumps({"ok": ok, "result" if ok else "error": result}) + "\n")
            answers.flush()


def abandon_all() -> None:
    """Mark the unended runs of every connection KILLED (the sweep's launcher has gone)."""
    with LOCK:
        for store in list(LIVE_STORES):
            store.abandon()


def listen(path: str) -> socket.socket:
    """Accept connections to the Unix socket ``path`` (created here, only for this user),
    serving each in a thread of its own; one that comes while MLflow is still being
    imported waits for the import."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_mask = os.umask(0o077)
    try:
        server.bind(path)
    finally:
        os.umask(old_mask)
    server.listen(64)
    threading.Thread(target=_accept, args=(server,), daemon=True).start()
    return server


def _accept(server: socket.socket) -> None:
    while True:
        try:
            connection, _ = server.accept()
        except OSError:  # closed: the writer is ending
            return
        threading.Thread(target=_serve_connection, args=(connection,), daemon=True).start()


def _serve_connection(connection: socket.socket) -> None:
    with connection, connection.makefile("r") as lines, connection.makefile("w") as answers:
        try:
            serve(lines, answers)
        except (OSError, ValueError) as exc:  # the job's process went away mid-line
            print(f"scratchnn tracking: a connection ended: {exc}", file=sys.stderr)


def main(argv: list[str]) -> None:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no network calls, no exit delay
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not reach the pipe
    server = listen(argv[1]) if argv[:1] == ["--listen"] else None
    try:
        serve(sys.stdin, answers)
    finally:
        abandon_all()
        if server is not None:
            server.close()
            _remove_socket(Path(argv[1]))


def _remove_socket(path: Path) -> None:
    """Remove the socket and its folder (made for it alone by ``Writer.share``)."""
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()
    except OSError:  # not empty: not ours to remove
        pass


if __name__ == "__main__":
    main(sys.argv[1:])
