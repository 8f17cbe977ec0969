"""Sending a spool file (``pipeline.tracking.spool``) to its tracking server, exactly once.

``Replay`` applies a file's records in order to a ``Session``. Its progress is the file's
``.sent`` count, which moves past a record only once the store holds everything up to it
(metric points wait in a buffer until ``log_batch`` sends them). When the server stops
answering, ``ServerDown`` is raised and the replay starts again from that count with a new
session: the records before it that set a session up (``OpenStore``, ``StartRun``) are applied
again, every other one is not. Every message is idempotent (a spooled ``StartRun`` finds the
run it made by its ``SPOOL_TAG``; metric points keep their own timestamps, and the store keeps
one of identical points; a model is logged once), so a record applied twice, by a replay
killed between applying it and counting it, changes nothing.

``send_file`` is the whole replay of a file no job holds any more (``make sync``, a sweep's
end): a run whose job died without ending it ends KILLED, as of the file's last write.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipeline.tracking import spool
from pipeline.tracking.messages import EndRun, LogSeries, Message, OpenStore, StartRun
from pipeline.tracking.run_status import NEVER_ENDED, ended_as
from pipeline.tracking.session import Session
from pipeline.tracking.store import NotLetIn, TrackingError, is_server, server_answers
from pipeline.tracking.writer import apply

PROBE_EVERY = 2.0  # seconds between health checks of a server that does not answer


class ServerDown(TrackingError):
    """The tracking server stopped answering; the replay waits and starts again."""


class Replay:
    """The records of one spool file (``path``), applied from its ``.sent`` count on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.error: str | None = None  # the first record the store refused, in one line
        self.run_id: str | None = None  # the run the file made, once its StartRun is applied
        self.ended = False  # its EndRun is applied
        self.points = 0  # metric points sent
        self.restart()

    def restart(self) -> None:
        """Start again from the ``.sent`` count, with a new session."""
        self.session, self.uri = Session(), None
        self.done = spool.sent(self.path)  # records the store holds
        self.applied = 0  # records gone through in this pass

    def step(self, message: Message) -> None:
        """Apply ``message``, the next record; ``ServerDown`` leaves it the next."""
        if isinstance(message, OpenStore):
            self.uri = message.uri
        if self.applied < self.done and not isinstance(message, (OpenStore, StartRun)):
            self.applied += 1  # the store has it
            return
        if isinstance(message, EndRun):
            message = replace(message, status=ended_as(message.status, self.error is not None))
        try:
            result = self._apply(message)
        except (ServerDown, NotLetIn):  # left the next record: nothing is lost
            raise
        except TrackingError as exc:  # refused by a server that answers: the run ends FAILED
            self.error, result = self.error or str(exc), None
        self.applied += 1
        self._count(message, result)

    def _apply(self, message: Message) -> Any:
        """``apply``, twice if the server answers after the first failure."""
        try:
            return apply(message, self.session)
        except TrackingError as exc:
            if self.uri is not None and is_server(self.uri) and not server_answers(self.uri):
                raise ServerDown(str(exc)) from None
            return apply(message, self.session)

    def _count(self, message: Message, result: Any) -> None:
        if isinstance(message, StartRun):
            self.run_id = result
        elif isinstance(message, EndRun):
            self.ended = True
        elif isinstance(message, LogSeries):
            self.points += len(message.steps)
        buffered = self.session.run is not None and self.session.run.pending
        if self.applied > self.done and not buffered:
            self.done = self.applied
            spool.mark_sent(self.path, self.done)


def wait_for(uri: str, deadline: float, stop: Callable[[], bool] = lambda: False) -> bool:
    """Whether the server ``uri`` answers before ``deadline`` (``time.monotonic()``), or
    before ``stop()`` is true."""
    while not server_answers(uri):
        if time.monotonic() >= deadline or stop():
            return False
        time.sleep(PROBE_EVERY)
    return True


def run_through(replay: Replay, records: Sequence[Message], deadline: float) -> bool:
    """Apply ``records`` from where ``replay`` is, waiting for the server up to ``deadline``
    whenever it is down; whether every record got through."""
    while replay.applied < len(records):
        try:
            replay.step(records[replay.applied])
        except ServerDown:
            if not wait_for(replay.uri, deadline):
                return False
            replay.restart()
    return True


@dataclass
class Sent:
    """What ``send_file`` did with one file."""

    path: Path
    run_id: str | None
    points: int
    status: str | None  # the run's end, if it was sent (KILLED: its job died first)
    error: str | None = None  # a record the store refused, or the damaged tail

    def line(self) -> str:
        """One line on what was sent."""
        what = f"run {self.run_id} ({self.status}, {self.points} metric points)"
        sent = f"sent {what}" if self.run_id else f"sent {self.path.name} (no run in it)"
        return f"{sent}; {self.path.name}: {self.error}" if self.error else sent


def send_file(path: Path, deadline: float) -> Sent | None:
    """Replay the spool file ``path`` whole; None if a running job holds it, or the server
    stays down past ``deadline`` (the file stays for the next try). A run never ended is
    ended KILLED (FAILED if the file is damaged) as of the file's last write; the file is
    then removed, or set aside (``spool/damaged/``) if its tail is cut or the store refused
    one of its records."""
    handle = spool.lock(path)
    if handle is None:
        return None
    with handle:
        contents = spool.read(path)
        records = list(contents.records)
        end = ended_as(NEVER_ENDED, bool(contents.damage))
        if not any(isinstance(r, EndRun) for r in records) and any(
            isinstance(r, StartRun) for r in records
        ):
            records.append(EndRun(end, int(path.stat().st_mtime * 1000)))
        replay = Replay(path)
        if not run_through(replay, records, deadline):
            return None
        status = next((r.status for r in reversed(records) if isinstance(r, EndRun)), None)
        if status:
            status = ended_as(status, bool(replay.error))
        kept = contents.damage or replay.error  # a file not sent whole is kept, set aside
        (spool.set_aside if kept else spool.remove)(path)
    return Sent(path, replay.run_id, replay.points, status, kept)
