"""MLflow tracking, seen from the training process.

MLflow's SQLite store costs ~0.3 ms of Python per metric point; a 10,000-point loss curve
would add seconds to a 2-second run. So every MLflow call of a run happens in a writer
process (``pipeline.tracking_writer``) that runs beside training on the other core: this
side only sends small JSON messages over a pipe, and never imports MLflow. One writer per
process serves its runs one after another (a joblib worker keeps it between sweep jobs).

If the training process dies, the writer sees its pipe close, flushes what it received and
marks the unfinished run KILLED, so the store stays consistent.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

ENV_URI = "MLFLOW_TRACKING_URI"


class TrackingError(RuntimeError):
    """The tracking store refused or could not be reached; the message is one line."""


def default_uri(outputs_dir: str | os.PathLike[str]) -> str:
    """``sqlite:///`` URI of the local store, by absolute path (a relative one would resolve
    against each job's working directory)."""
    return f"sqlite:///{(Path(outputs_dir).resolve() / 'mlflow.db').as_posix()}"


def resolve_uri(tracking_cfg: Any, outputs_dir: str | os.PathLike[str]) -> str:
    """``tracking.uri`` if set, else ``$MLFLOW_TRACKING_URI``, else the local SQLite store."""
    return tracking_cfg.uri or os.environ.get(ENV_URI) or default_uri(outputs_dir)


def artifact_location(uri: str, outputs_dir: str | os.PathLike[str]) -> str | None:
    """Where a new experiment keeps artifacts: beside a local SQLite store, else the server's
    choice (None)."""
    if uri.startswith("sqlite:"):
        return (Path(outputs_dir).resolve() / "mlartifacts").as_uri()
    return None


def check_server(uri: str, timeout: float = 5.0) -> None:
    """For a tracking server URI, fail fast (in one line) when it does not answer its health
    check; MLflow's own client would retry for minutes. Other URIs pass."""
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as answer:
            answer.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingError(f"tracking server {uri} does not answer ({reason})") from None


def check_store(uri: str) -> None:
    """Fail fast when the store cannot work: a server that does not answer, or a local
    SQLite file whose directory cannot be created or written."""
    check_server(uri)
    if uri.startswith("sqlite:///"):
        folder = Path(uri.removeprefix("sqlite:///")).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrackingError(
                f"cannot create the tracking store folder {folder}: {exc}"
            ) from None
        if not os.access(folder, os.W_OK):
            raise TrackingError(f"cannot write the tracking store folder {folder}")


class Writer:
    """The writer process: ``call`` waits for its answer, ``send`` does not.

    Lines go to the pipe through a feeder thread, so ``send`` never blocks training, not
    even while the writer is still importing MLflow and the pipe is full.
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._feeder: threading.Thread | None = None

    def _process(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "pipeline.tracking_writer"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                start_new_session=True,  # Ctrl-C reaches training, not the writer
            )
            self._lines = queue.SimpleQueue()
            self._feeder = threading.Thread(target=self._feed, args=(self._proc,), daemon=True)
            self._feeder.start()
        return self._proc

    def _feed(self, proc: subprocess.Popen) -> None:
        """Write queued lines to the writer's stdin until ``None``, then close it."""
        try:
            while (line := self._lines.get()) is not None:
                proc.stdin.write(line)
                proc.stdin.flush()
            proc.stdin.close()
        except (BrokenPipeError, ValueError):  # the writer died: ``call`` reports it
            pass

    def start(self) -> None:
        """Start the process now, so its imports overlap with other work."""
        self._process()

    def send(self, op: str, **fields: Any) -> None:
        self._process()
        self._lines.put(json.dumps({"op": op, **fields}) + "\n")

    def call(self, op: str, **fields: Any) -> Any:
        self.send(op, reply=True, **fields)
        proc = self._process()
        line = proc.stdout.readline()
        if not line:
            raise TrackingError(f"the tracking writer stopped (exit code {proc.wait()})")
        answer = json.loads(line)
        if not answer["ok"]:
            raise TrackingError(answer["error"])
        return answer.get("result")

    def close(self, timeout: float = 10.0) -> None:
        """Hand the writer everything queued and close its pipe. Every run ended through
        ``call("end")`` is already stored; the writer then exits by itself (marking a run
        never ended KILLED), so this process does not wait for MLflow's shutdown."""
        if self._proc is not None and self._feeder is not None:
            self._lines.put(None)
            self._feeder.join(timeout)
        self._proc, self._feeder = None, None


_WRITER = Writer()
atexit.register(_WRITER.close)


def writer() -> Writer:
    """This process's writer."""
    return _WRITER


def status_after(error: BaseException) -> str:
    """The status of a run stopped by ``error``: KILLED for Ctrl-C, SIGTERM and exits,
    FAILED for an error."""
    return "FAILED" if isinstance(error, Exception) else "KILLED"


class RunSink:
    """A ``MetricsSink`` (and more) for one MLflow run, through the writer.

    The run is named by ``key`` until the writer has created it, so nothing here waits for
    MLflow; ``end`` returns (and sets) the real ``run_id``.
    """

    def __init__(self, key: str, figures: bool = True) -> None:
        self.key, self.figures = key, figures
        self.run_id: str | None = None

    def log_series(self, key: str, steps: np.ndarray, values: np.ndarray) -> None:
        writer().send(
            "metrics", run=self.key, key=key, steps=steps.tolist(), values=values.tolist()
        )

    def log_metrics(self, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self.log_series(key, np.array([0]), np.array([value]))

    def set_tags(self, tags: dict[str, str]) -> None:
        writer().send("tags", run=self.key, tags=tags)

    def log_artifact(self, local_path: str | os.PathLike[str], artifact_path: str | None) -> None:
        writer().send("artifact", run=self.key, path=str(local_path), artifact_path=artifact_path)

    def log_figure(self, name: str, **arrays: np.ndarray | float) -> None:
        """Render ``pipeline.plots.<name>(**arrays)`` in the writer as ``figures/<name>.png``
        (nothing when figures are switched off)."""
        if not self.figures:
            return
        data = {k: np.asarray(v).tolist() for k, v in arrays.items()}
        writer().send("figure", run=self.key, name=name, arrays=data)

    def end(self, status: str) -> str:
        """Wait until everything sent for this run is stored, mark it FINISHED, FAILED or
        KILLED; returns the run id."""
        self.run_id = writer().call("end", run=self.key, status=status)
        return self.run_id
