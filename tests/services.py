"""Servers the slow tests start for real (tracking servers, PostgreSQL, Ray, model servers).

Each runs in a process group of its own, started on 127.0.0.1 at a free port, and
``stop_group`` ends that whole group, so a test leaves nothing running, also when it fails.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline import loopback
from pipeline.loopback import is_loopback


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


def start_logged(command: list[str], log: Path, **options) -> subprocess.Popen:
    """``command`` in a new process group (session), its output (both streams) into ``log``."""
    with open(log, "w") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **options
        )


def alive(group: int) -> list[int]:
    """The pids of process group ``group`` that are not dead (zombies are)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def wait_until(
    ready: Callable[[], bool], process: subprocess.Popen, log: Path, timeout: float, what: str
) -> float:
    """Seconds until ``ready()``; fails the test with ``log``'s tail if ``process`` exits or
    ``timeout`` seconds pass first."""
    start = time.monotonic()
    while not ready():
        if process.poll() is not None or time.monotonic() - start > timeout:
            pytest.fail(f"{what} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)
    return time.monotonic() - start


def gone_within(process: subprocess.Popen, seconds: float) -> bool:
    """Whether every process of the group ``process`` leads has ended within ``seconds``."""
    deadline = time.monotonic() + seconds
    while alive(process.pid):
        process.poll()  # reap the leader
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def stop_group(process: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM the process group ``process`` leads, SIGKILL what is left after ``timeout`` s;
    fails the test if any process of the group is still alive after that."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        if gone_within(process, wait):
            break
    process.wait(timeout=5)
    assert alive(process.pid) == [], f"left running: {alive(process.pid)}"


def listening_sockets() -> set[tuple[str, int]]:
    """(address, port) of every TCP socket on this machine in the LISTEN state, IPv4 and IPv6
    (from /proc/net/tcp and tcp6: hex addresses in the kernel's byte order)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            if state != "0A":  # TCP_LISTEN
                continue
            address, port = local.split(":")
            raw = bytes.fromhex(address)
            words = [raw[i : i + 4][::-1] for i in range(0, width // 2, 4)]  # host-order words
            packed = b"".join(words)
            found.add((str(ipaddress.ip_address(packed)), int(port, 16)))
    return found


def non_loopback_listeners(before: set[tuple[str, int]]) -> set[tuple[str, int]]:
    """The listening sockets opened since ``before`` that bind anything but loopback (an
    IPv4-mapped loopback address counts as loopback)."""
    opened = listening_sockets() - before
    return {s for s in opened if not is_loopback(s[0])}


def search_status(url: str, user: str | None = None, password: str | None = None) -> int:
    """The HTTP status a tracking server at ``url`` answers a search of experiments with, as
    ``user`` (None: anonymously)."""
    request = urllib.request.Request(f"{url}/api/2.0/mlflow/experiments/search?max_results=1")
    if user:
        token = b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
