"""Where a job's messages (``pipeline.tracking.messages``) are applied: in this process, or
in a writer process beside it.

Tracking a run costs its process MLflow's import (~2 s), opening the store and ~0.2 ms a
metric point. ``WriterProcess`` moves all of it into a child, ``python -m
pipeline.tracking.writer``, that runs on the other core while the job trains: the job only
writes JSON lines to a pipe (through a feeder thread: never blocked, not even while the
writer still imports MLflow) and waits only where it needs an answer (``call``). ``python -m
pipeline`` starts it before preflight unless the command asks for a sweep, and stops it
when the composed config turns out not to use it (``recorder.uses_writer``), so MLflow's
import overlaps preflight and Hydra's start-up. It saves about a quarter of ``make train
ARGS='experiment=book'`` (docs/performance.md). A sweep keeps every core training, where it
saves nothing, so sweep jobs use ``InProcess``.

If the job dies, the writer sees its pipe close, applies what it received and marks a run
never ended KILLED, so the store stays consistent. It ignores Ctrl-C (the job handles it).
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from typing import Any, TextIO

from pipeline.errors import one_line
from pipeline.tracking.messages import EndRun, Message, decode, encode
from pipeline.tracking.run_status import NEVER_ENDED, ended_as
from pipeline.tracking.session import Session
from pipeline.tracking.store import (
    NOT_LET_IN,
    TrackingError,
    import_mlflow,
    not_let_in,
    set_mlflow_environment,
)


def apply(message: Message, session: Session) -> Any:
    """``message.apply(session)``; any failure as a one-line ``TrackingError``."""
    try:
        return message.apply(session)
    except TrackingError:
        raise
    except Exception as exc:  # noqa: BLE001 - MLflow's, SQLAlchemy's, the file system's
        code = getattr(exc, "error_code", None) or HTTP_CODES.get(status_of(exc))
        if code in NOT_LET_IN and session.client is not None:
            raise not_let_in(session.client.tracking_uri, code, type(message).__name__) from None
        raise TrackingError(f"{type(message).__name__} failed: {one_line(exc)}") from None


HTTP_CODES = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}  # as MLflow's REST calls say


def status_of(error: Exception) -> int | None:
    """The HTTP status of a failed upload or download of an artifact (``requests``' error,
    which MLflow's artifact repository raises as it is), else None."""
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


class InProcess:
    """Applies each message at once, in this process."""

    def __init__(self) -> None:
        self.session = Session()

    def send(self, message: Message) -> None:
        apply(message, self.session)

    def call(self, message: Message) -> Any:
        return apply(message, self.session)

    def close(self) -> None:
        self.session.end_open_run(NEVER_ENDED)


class WriterProcess:
    """The writer child, started on first use: ``send`` does not wait, ``call`` does."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.feeder: threading.Thread | None = None
        self.given = False  # whether anything was sent to the running writer

    def start(self) -> None:
        """Start the writer now (if not running), so its imports overlap with other work."""
        if self.proc is not None and self.proc.poll() is None:
            return
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.tracking.writer"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,  # Ctrl-C reaches the job, not the writer
        )
        self.lines, self.given = queue.SimpleQueue(), False
        feed = (self.lines, self.proc.stdin)
        self.feeder = threading.Thread(target=_feed, args=feed, daemon=True)
        self.feeder.start()

    def send(self, message: Message, reply: bool = False) -> None:
        self.start()
        self.given = True
        self.lines.put(encode(message, reply=reply))

    def call(self, message: Message) -> Any:
        """Send ``message`` and wait for its result, or for the first error since the last
        answer (a ``send`` that failed), as a ``TrackingError``."""
        self.send(message, reply=True)
        line = self.proc.stdout.readline()
        if not line:
            raise TrackingError(f"the tracking writer stopped (exit code {self.proc.wait()})")
        answer = json.loads(line)
        if "error" in answer:
            raise TrackingError(answer["error"])
        return answer["result"]

    def close(self, timeout: float = 10.0) -> None:
        """Hand the writer what is queued and close its pipe; it then ends by itself (marking
        a run never ended KILLED), and this process does not wait for MLflow's shutdown. A
        writer given nothing (started ahead of a job that turned out not to use it) has
        nothing to write: it is stopped at once."""
        if self.feeder is None:
            return
        if not self.given:
            self.proc.kill()
            self.proc.wait()
        self.lines.put(None)
        self.feeder.join(timeout)
        self.feeder = None


def _feed(lines: queue.SimpleQueue, pipe: TextIO) -> None:
    """Write queued lines to the writer until ``None``, then close its stdin."""
    try:
        while (line := lines.get()) is not None:
            pipe.write(line + "\n")
            pipe.flush()
        pipe.close()
    except (BrokenPipeError, ValueError):  # the writer died: ``call`` says so
        pass


def serve(lines: TextIO, answers: TextIO) -> None:
    """The writer: apply each message line of ``lines``; answer those that ask on ``answers``.

    A failed message that nobody waits for is remembered and given as the next answer, and
    the run then ends FAILED, so an error never vanishes.
    """
    session, error = Session(), None
    try:
        for line in lines:
            message, extra = decode(line)
            reply = extra["reply"]
            if isinstance(message, EndRun):
                message = replace(message, status=ended_as(message.status, error is not None))
            try:
                result = apply(message, session)
            except TrackingError as exc:  # the job prints it: one line, once
                error = error or str(exc)
            if reply:
                answer = {"error": error} if error else {"result": result}
                answers.write(json.dumps(answer) + "\n")
                answers.flush()
                error = None
    finally:  # the job's pipe closed: a run it never ended was interrupted
        try:
            session.end_open_run(NEVER_ENDED)
        except Exception as exc:  # noqa: BLE001 - reported, the writer is ending anyway
            print(
                f"scratchnn tracking: marking a run KILLED failed: {one_line(exc)}", file=sys.stderr
            )


def main() -> None:
    atexit.register(gc.freeze)  # no last garbage collection at exit (see pipeline.__main__)
    set_mlflow_environment()
    import_mlflow()  # now: the job starts the writer before it needs it

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print must not reach the pipe
    serve(sys.stdin, answers)


if __name__ == "__main__":
    main()
