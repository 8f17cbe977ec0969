"""The channel of a job that logs to a tracking server: its spool, sent by a thread.

``send`` appends the message to the job's spool file (``pipeline.tracking.spool``) and
returns: the training loop never waits on the server. A thread of the job's process replays
the file to the server as it grows (``pipeline.tracking.replay``), waiting through any
outage. When the job ends (``finish``), it waits until the server has everything, printing one
line when it starts waiting for a server that does not answer and one when it is back:

- a single run waits up to ``tracking.outage_wait`` seconds, then raises ``StillDown`` (exit
  code 75, one line naming the spool and ``make sync``);
- a sweep job, or a run stopped by Ctrl-C or SIGTERM, does not wait for a server that is
  down: it leaves its file to the sweep's end (or ``make sync``) and its process goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipeline.tracking.messages import EndRun, FindRuns, Message, StartRun
from pipeline.tracking.replay import PROBE_EVERY, Replay, ServerDown, wait_for
from pipeline.tracking.run_status import KILLED
from pipeline.tracking.spool import SpoolFile, remove, set_aside
from pipeline.tracking.store import NotLetIn, TrackingError, server_answers
from pipeline.tracking.tags import SPOOL_TAG
from pipeline.tracking.writer import apply

log = logging.getLogger(__name__)
# urllib3 warns at each retry of a server that is down; the spool says it once, in one line
logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
SYNC = "`make sync` (python -m pipeline.tools.sync)"  # the command that sends spooled runs


class StillDown(TrackingError):
    """The tracking server stayed down past ``tracking.outage_wait``; the spool keeps the run."""


class Spooled:
    """One job's channel to the tracking server ``uri``: its spool file in ``folder`` and the
    thread that sends it. ``hand_off``: at its end the job leaves a file the server does not
    take to someone else (a sweep job) instead of waiting ``outage_wait`` seconds for it."""

    def __init__(self, folder: Path, uri: str, outage_wait: float, hand_off: bool) -> None:
        self.file = SpoolFile.create(folder)
        self.uri, self.outage_wait, self.hand_off = uri, outage_wait, hand_off
        self.records: list[Message] = []
        self.replay = Replay(self.file.path)
        self.changed = threading.Condition()
        self.down_since: float | None = None  # when the server stopped answering
        self.stopping = False
        self.refused: str | None = None  # the server refused the credentials: kept for sync
        self.thread = threading.Thread(target=self._send_records, daemon=True)
        self.thread.start()

    def send(self, message: Message) -> None:
        if isinstance(message, StartRun):  # what makes replaying it find the run it made
            message = replace(message, tags={**message.tags, SPOOL_TAG: self.file.name})
        with self.changed:
            self.file.append(message)
            self.records.append(message)
            self.changed.notify_all()

    def call(self, message: Message) -> Any:
        """``FindRuns``: its answer, [] while the server is down (the job then runs, as
        there is nothing to find out); ``EndRun``: sent, then ``finish``; the run's id."""
        if isinstance(message, FindRuns):
            if not self._wait(lambda: self._sent_all() or self._down()) or self._down():
                return []
            try:
                return apply(message, self.replay.session)  # the thread is idle: all is sent
            except TrackingError:
                if server_answers(self.uri):
                    raise
                return []
        self.send(message)
        killed = isinstance(message, EndRun) and message.status == KILLED
        self.finish(wait=not (self.hand_off or killed))
        return self.replay.run_id

    def finish(self, wait: bool = True) -> None:
        """Wait until the server has every record, through an outage up to ``outage_wait``
        seconds if ``wait`` (else not at all), then close the spool: removed once sent, else
        left for ``make sync``. Raises the first error the store gave, or ``StillDown``."""
        began: float | None = None  # when this end began to wait for a server that is down

        def give_up() -> bool:
            nonlocal began
            if not self._down():
                return False
            if began is None:
                began = time.monotonic()
                if wait:
                    log.warning("tracking server %s does not answer: waiting up to %g s "
                                "(tracking.outage_wait) for it; the run is safe in %s",
                                self.uri, self.outage_wait, self.file.path)  # fmt: skip
            return not wait or time.monotonic() - began >= self.outage_wait

        sent = self._wait(self._sent_all, give_up)
        if sent and began is not None:
            log.warning("tracking server %s is back: the run is sent", self.uri)
        self._close(sent)
        if self.replay.error:
            raise TrackingError(self.replay.error)
        if self.refused and wait:
            raise StillDown(f"{self.refused}: the run waits in {self.file.path}; {SYNC} sends it")
        if self.refused:
            log.warning("%s: the run waits in %s for %s", self.refused, self.file.path, SYNC)
            return
        if not sent and wait:
            raise StillDown(
                f"tracking server {self.uri} did not answer for {self.outage_wait:g} s "
                f"(tracking.outage_wait): the run waits in {self.file.path}; {SYNC} sends "
                "it once the server is back"
            )
        if not sent:
            log.warning("tracking server %s does not answer: the run waits in %s for the "
                        "sweep's end or %s", self.uri, self.file.path, SYNC)  # fmt: skip

    def close(self) -> None:
        self.finish(wait=False)

    def _sent_all(self) -> bool:
        return self.replay.applied >= len(self.records)

    def _down(self) -> bool:
        return self.down_since is not None

    def _wait(self, done, give_up=lambda: False) -> bool:
        """Wait until ``done()``; False if ``give_up()`` first (or the thread is gone)."""
        with self.changed:
            while not done():
                if give_up() or not self.thread.is_alive():
                    return False
                self.changed.wait(PROBE_EVERY)
        return True

    def _close(self, sent: bool) -> None:
        """Stop the thread, release the file; remove it if the server has it all."""
        with self.changed:
            self.stopping = True
            self.changed.notify_all()
        self.thread.join(timeout=30.0)
        self.file.close()
        if sent and not self.thread.is_alive():  # a file the store refused part of is kept
            (set_aside if self.replay.error else remove)(self.file.path)

    def _send_records(self) -> None:
        """The thread: apply each record as it comes; through an outage, wait and resend."""
        while True:
            with self.changed:
                while self.replay.applied >= len(self.records) and not self.stopping:
                    self.changed.wait()
                if self.stopping:
                    return
                message = self.records[self.replay.applied]
            try:
                self.replay.step(message)
            except NotLetIn as refusal:  # no retry helps: the spool keeps it for `make sync`
                self.refused = str(refusal)
                return
            except ServerDown:
                self._mark_down(time.monotonic())
                if not wait_for(self.uri, float("inf"), stop=lambda: self.stopping):
                    return
                self.replay.restart()
                self._mark_down(None)
            with self.changed:
                self.changed.notify_all()

    def _mark_down(self, since: float | None) -> None:
        with self.changed:
            self.down_since = since
            self.changed.notify_all()
