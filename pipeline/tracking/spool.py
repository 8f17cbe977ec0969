"""The spool: a run's messages on disk, kept until a tracking server has them all.

A job that logs to a tracking server (``http(s)://``) writes every message
(``pipeline.tracking.messages``) first to a file of its own, ``<outputs_dir>/spool/<name>.jsonl``:
one JSON line each, handed to the operating system at once, so a SIGKILL of the job loses
none of them. ``pipeline.tracking.replay`` sends a file to the server in order; the number
of its first records the store surely holds is kept beside it, in ``<name>.sent``. A file the
server has whole is deleted; one whose tail is damaged moves to ``spool/damaged/``.

While a job writes its file it holds an exclusive ``flock`` on it, so nobody else replays a
file still growing; the lock goes when the job's process ends, however it ends.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pipeline.tracking.messages import Message, StartRun, decode, encode
from pipeline.tracking.tags import PARENT_TAG

SPOOL_DIR = "spool"  # under the outputs dir
RECORDS, SENT = ".jsonl", ".sent"  # a run's messages; how many of them the store holds
DAMAGED_DIR = "damaged"  # under the spool: files whose tail was cut (disk full, a crash)


def spool_dir(outputs_dir: str | os.PathLike[str]) -> Path:
    """``<outputs_dir>/spool``, by absolute path (jobs run in folders of their own)."""
    return Path(outputs_dir).resolve() / SPOOL_DIR


def pending(folder: Path) -> list[Path]:
    """The spool files in ``folder``, oldest first (their names begin with the time)."""
    return sorted(folder.glob(f"*{RECORDS}")) if folder.is_dir() else []


def lock(path: Path) -> IO[bytes] | None:
    """``path`` opened for appending with an exclusive lock on it; None if a running job
    holds the lock (it is still writing the file)."""
    handle = open(path, "ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


class SpoolFile:
    """The spool file of one job's run, appended (and locked) by that job."""

    def __init__(self, path: Path, handle: IO[bytes]) -> None:
        self.path, self.handle = path, handle

    @classmethod
    def create(cls, folder: Path) -> SpoolFile:
        """A new, locked file ``<time>-<pid>-<random>.jsonl`` in ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{secrets.token_hex(4)}"
        path = folder / f"{name}{RECORDS}"
        return cls(path, lock(path))

    @property
    def name(self) -> str:
        return self.path.stem

    def append(self, message: Message) -> None:
        """``message`` as the file's next line, written through to the operating system."""
        self.handle.write((encode(message) + "\n").encode())
        self.handle.flush()

    def close(self) -> None:
        """Write the file to disk and release it (``replay`` may then take it)."""
        if not self.handle.closed:
            os.fsync(self.handle.fileno())
            self.handle.close()


@dataclass
class Contents:
    """A spool file read back: its whole records and, if its tail is cut, what is wrong."""

    records: list[Message]
    damage: str | None = None


def read(path: Path) -> Contents:
    """The records of ``path``; reading stops at the first line that is not a whole record
    (cut mid-line by a full disk or a crash), which ``damage`` describes in one line."""
    data = path.read_bytes()
    records: list[Message] = []
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        try:
            if end < 0:
                raise ValueError("no end of line")
            records.append(decode(data[start:end].decode())[0])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            cut = f"{len(data) - start} bytes from record {len(records) + 1} on"
            return Contents(records, f"damaged tail: {cut} ({exc}) not sent")
        start = end + 1
    return Contents(records)


def store_of(path: Path) -> str | None:
    """The store ``path``'s records go to (its first record opens it); None if it has none."""
    with open(path, "rb") as handle:
        first = handle.readline()
    try:
        return getattr(decode(first.decode())[0], "uri", None)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def parent_of(path: Path) -> str | None:
    """The sweep parent run of ``path``'s run (its ``StartRun``'s ``PARENT_TAG``), if any."""
    starts = [r for r in read(path).records if isinstance(r, StartRun)]
    return starts[0].tags.get(PARENT_TAG) if starts else None


def sent(path: Path) -> int:
    """How many of ``path``'s first records the store holds (0 if none yet)."""
    cursor = path.with_suffix(SENT)
    return int(cursor.read_text()) if cursor.is_file() else 0


def mark_sent(path: Path, count: int) -> None:
    """Record that the store holds ``path``'s first ``count`` records (atomically)."""
    cursor, temporary = path.with_suffix(SENT), path.with_suffix(".sent-new")
    temporary.write_text(str(count))
    os.replace(temporary, cursor)


def remove(path: Path) -> None:
    """The spool file ``path`` and its count: the store has every record."""
    path.with_suffix(SENT).unlink(missing_ok=True)
    path.unlink(missing_ok=True)


def set_aside(path: Path) -> Path:
    """Move a damaged file (and its count) to ``spool/damaged/``; returns its new path."""
    folder = path.parent / DAMAGED_DIR
    folder.mkdir(exist_ok=True)
    path.with_suffix(SENT).unlink(missing_ok=True)
    return path.rename(folder / path.name)
