"""The servers a tool starts for a while (``mlflow ui`` for a screenshot, a headless browser):
a free port of the loopback, a wait for an answer, a stop of the whole process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request

from pipeline import loopback


def free_port() -> int:
    """A TCP port of the loopback that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind((loopback.HOST, 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    """Whether ``url`` answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def gone_within(group: int, seconds: float) -> bool:
    """Whether process group ``group`` has no process left within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def stop_group(process: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGTERM the process group ``process`` leads, SIGKILL what is left after ``grace`` s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        process.poll()  # reap the leader, so that a dead one does not count
        if gone_within(process.pid, grace):
            break
    process.wait(timeout=10)
