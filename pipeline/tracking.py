"""MLflow tracking, seen from the training process.

MLflow's SQLite store costs ~0.3 ms of Python per metric point; a 10,000-point loss curve
would add seconds to a 2-second run. So every MLflow call of a run happens in a writer
process (``pipeline.tracking_writer``) that runs beside training on the other core: this
side only sends small JSON messages over a pipe, and never imports MLflow. One writer per
process serves its runs one after another. A sweep's launching process starts its writer
with ``share()``: the jobs on this machine (joblib workers, Ray or submitit processes)
connect to it over a Unix socket instead of each importing MLflow in a writer of their own.

If the training process dies, the writer sees its pipe (or socket) close, flushes what it
received and marks the unfinished run KILLED, so the store stays consistent.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from pipeline.switches import off

ENV_URI = "MLFLOW_TRACKING_URI"
ENV_WRITER_SOCKET = "SCRATCHNN_WRITER_SOCKET"  # the sweep launcher's writer, for its jobs


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

    Lines go to the writer through a feeder thread, so ``send`` never blocks training, not
    even while the writer is still importing MLflow and the pipe is full. The writer is this
    process's own child, or, in a sweep job whose launcher started one with ``share()``,
    the launcher's, reached through the Unix socket named in ``$SCRATCHNN_WRITER_SOCKET``.
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._socket: socket.socket | None = None
        self._socket_path: str | None = None  # the launcher's writer this one is connected to
        self._answers: TextIO | None = None
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._feeder: threading.Thread | None = None

    def _connected(self) -> bool:
        if self._socket is not None:
            return self._socket_path == os.environ.get(ENV_WRITER_SOCKET)
        return self._proc is not None and self._proc.poll() is None

    def _connect(self, listen: str | None = None) -> None:
        """Reach the launcher's writer if there is one (and this is not it), else start one."""
        self.close()
        shared = os.environ.get(ENV_WRITER_SOCKET)
        if shared and listen is None and (connection := _dial(shared)) is not None:
            self._socket, self._socket_path = connection, shared
            self._answers, target = connection.makefile("r"), connection.makefile("w")
        else:
            command = [sys.executable, "-m", "pipeline.tracking_writer"]
            self._proc = subprocess.Popen(
                command + (["--listen", listen] if listen else []),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                start_new_session=True,  # Ctrl-C reaches training, not the writer
            )
            self._answers, target = self._proc.stdout, self._proc.stdin
        self._lines = queue.SimpleQueue()
        self._feeder = threading.Thread(
            target=_feed, args=(self._lines, target, self._socket), daemon=True
        )
        self._feeder.start()

    def start(self) -> None:
        """Start (or reach) the writer now, so its imports overlap with other work."""
        if not self._connected():
            self._connect()

    def share(self) -> None:
        """Start this process's writer so that it also serves the sweep jobs of other
        processes on this machine: they find its socket in ``$SCRATCHNN_WRITER_SOCKET``."""
        folder = tempfile.mkdtemp(prefix="scratchnn-writer-")  # only this user may enter
        path = os.path.join(folder, "socket")
        self._connect(listen=path)
        os.environ[ENV_WRITER_SOCKET] = path

    def send(self, op: str, **fields: Any) -> None:
        self.start()
        self._lines.put(json.dumps({"op": op, **fields}) + "\n")

    def call(self, op: str, **fields: Any) -> Any:
        self.send(op, reply=True, **fields)
        line = self._answers.readline()
        if not line:
            code = f"exit code {self._proc.wait()}" if self._proc else "connection closed"
            raise TrackingError(f"the tracking writer stopped ({code})")
        answer = json.loads(line)
        if not answer["ok"]:
            raise TrackingError(answer["error"])
        return answer.get("result")

    def close(self, timeout: float = 10.0) -> None:
        """Hand the writer everything queued and close the line to it. Every run ended
        through ``call("end")`` is already stored; a writer of its own then exits by itself
        (marking a run never ended KILLED), so this process does not wait for MLflow's
        shutdown."""
        if self._feeder is not None:
            self._lines.put(None)
            self._feeder.join(timeout)
        if self._socket is not None:
            self._answers.close()
            self._socket.close()
        self._proc, self._socket, self._socket_path, self._feeder = None, None, None, None


def _dial(path: str) -> socket.socket | None:
    """A connection to the writer listening at ``path``; None if there is none (e.g. a job
    on another machine, or a launcher that has ended)."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
    except OSError:
        connection.close()
        return None
    return connection


def _feed(lines: queue.SimpleQueue, target: TextIO, connection: socket.socket | None) -> None:
    """Write queued lines to the writer until ``None``, then close the line to it."""
    try:
        while (line := lines.get()) is not None:
            target.write(line)
            target.flush()
        target.close()
        if connection is not None:
            connection.shutdown(socket.SHUT_WR)  # the writer sees the end of this job's lines
    except (BrokenPipeError, ConnectionError, ValueError):  # the writer died: ``call`` says so
        pass


class InlineWriter:
    """The plain version (``SCRATCHNN_OFF=writer``): every operation runs in this process."""

    def __init__(self) -> None:
        self._store = None

    def start(self) -> None:
        pass

    def share(self) -> None:
        pass

    def send(self, op: str, **fields: Any) -> None:
        self.call(op, **fields)

    def call(self, op: str, **fields: Any) -> Any:
        from pipeline.tracking_writer import Store

        if self._store is None:
            self._store = Store()
        try:
            return getattr(self._store, op)(**fields)
        except TrackingError:
            raise
        except Exception as exc:  # as the writer process reports it
            raise TrackingError(f"{op} failed: {type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        if self._store is not None and self._store.client is not None:
            self._store.abandon()


_WRITER = InlineWriter() if off("writer") else Writer()
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
