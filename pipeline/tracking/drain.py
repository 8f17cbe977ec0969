"""Sending every spool file a store is owed: ``make sync``, and a sweep's start and end.

``drain`` replays the files of a spool folder (``pipeline.tracking.replay.send_file``),
oldest first, waiting up to ``wait`` seconds for a tracking server that does not answer, with
one line when it starts waiting and one when the server is back. A file a running job still
writes is left alone; so is every file of a server that stays down: nothing is ever lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.tracking.replay import Sent, send_file, wait_for
from pipeline.tracking.spool import pending, store_of
from pipeline.tracking.store import NotLetIn, server_answers


@dataclass
class Drained:
    """What ``drain`` did: the files it sent, those it left, and the servers that stayed down."""

    sent: list[Sent] = field(default_factory=list)
    busy: list[Path] = field(default_factory=list)  # held by a running job
    down: dict[str, list[Path]] = field(default_factory=dict)  # server -> its files left
    refused: dict[str, str] = field(default_factory=dict)  # server -> why it let us not in

    @property
    def left(self) -> int:
        return len(self.busy) + sum(len(paths) for paths in self.down.values())


def drain(
    folder: Path, uri: str | None, wait: float, say: Callable[[str], None] = print
) -> Drained:
    """Send the spool files in ``folder`` of the store ``uri`` (None: of every store)."""
    done, deadline = Drained(), time.monotonic() + wait
    for path in pending(folder):
        store = store_of(path)
        if uri is not None and store not in (uri, None):
            continue
        if store in done.down or (store and not _answers(store, deadline, wait, say)):
            done.down.setdefault(store, []).append(path)
            continue
        try:
            result = send_file(path, deadline)
        except NotLetIn as refusal:  # the file stays: right credentials send it later
            done.down.setdefault(store, []).append(path)
            done.refused[store] = str(refusal)
            continue
        if result is None:  # a running job holds it, or its server went down meanwhile
            if store is None or server_answers(store):
                done.busy.append(path)
            else:
                done.down.setdefault(store, []).append(path)
        else:
            done.sent.append(result)
            say(result.line())
    return done


def _answers(uri: str, deadline: float, wait: float, say: Callable[[str], None]) -> bool:
    """Whether server ``uri`` answers, now or (one line before, one after) by ``deadline``."""
    if server_answers(uri):
        return True
    say(f"tracking server {uri} does not answer: waiting up to {wait:g} s for it")
    if not wait_for(uri, deadline):
        return False
    say(f"tracking server {uri} is back")
    return True
