"""How every command fails: one line on stderr, ``error: ...``, and an exit code of one table.

``ExitCode`` is that table (the README's "Exit codes" documents it); ``report`` is the one
way a command prints an error (``fail`` also exits); ``one_line`` turns any exception into one
line of text. This module imports nothing of the project, so every layer may use it.
"""

from __future__ import annotations

import sys
from enum import IntEnum
from typing import NoReturn


class ExitCode(IntEnum):
    """The exit codes of ``python -m pipeline`` and of every tool in ``pipeline.tools``."""

    OK = 0
    FAILED = 1  # a store, a server, MNIST or a registration failed; a rerun found a difference
    BAD_INPUT = 2  # a bad config value or argument, refused before anything runs
    SPOOLED = 75  # the tracking server stayed down: the runs wait in the spool for `make sync`
    INTERRUPTED = 130  # Ctrl-C: buffered metrics flushed, the run marked KILLED
    TERMINATED = 143  # SIGTERM: the same


def one_line(exc: BaseException) -> str:
    """``exc`` as one line of text (its type's name when it has no message)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def report(error: BaseException | str, code: ExitCode) -> ExitCode:
    """Print ``error: <error>`` (one line) on stderr; return ``code``, for a ``main`` that
    returns its exit status."""
    text = error if isinstance(error, str) else one_line(error)
    print(f"error: {text}", file=sys.stderr)
    return code


def fail(error: BaseException | str, code: ExitCode) -> NoReturn:
    """``report`` the error, then exit with ``code``."""
    sys.exit(int(report(error, code)))
