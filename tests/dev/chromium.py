"""Headless Chromium (Debian's ``chromium``, ``make chromium``), driven over its DevTools pipe:
open a page, wait until it shows a text, run JavaScript in it, take a screenshot. No
connection leaves this machine: the flags turn off updates, sync and Google's hosts.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import time
from typing import Any

from tests.services import stop_group

BROWSERS = ("chromium", "chromium-browser")  # Debian's package, other distributions' name
# Headless, and no connection beyond the page's own server (updates, sync, Google's hosts).
HEADLESS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--mute-audio",
)  # fmt: skip


def find_chromium() -> str | None:
    """The path of the headless browser, or None when none is installed."""
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def chromium_flags(profile: str | os.PathLike[str], width: int, height: int) -> list[str]:
    """The flags of a headless Chromium with the empty profile folder ``profile``."""
    return [*HEADLESS, f"--user-data-dir={profile}", f"--window-size={width},{height}"]


class Browser:
    """Headless Chromium driven over its DevTools pipe: commands in on its fd 3, answers out
    on its fd 4, each a JSON message ended by a NUL byte."""

    def __init__(self, program: str, profile: str, width: int, height: int):
        to_browser, self._commands = os.pipe()
        self._answers, from_browser = os.pipe()

        def wire() -> None:  # in the child: its fds 3 and 4 become the pipe's ends
            read, write = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser, from_browser))
            os.dup2(read, 3)
            os.dup2(write, 4)
            os.close(read)
            os.close(write)

        command = [program, *chromium_flags(profile, width, height), "--remote-debugging-pipe"]
        self.process = subprocess.Popen(
            [*command, "about:blank"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, close_fds=False, preexec_fn=wire, start_new_session=True,
        )  # fmt: skip
        os.close(to_browser)
        os.close(from_browser)
        self._next, self._buffer, self.session = 0, b"", None
        self.size = (width, height)

    def send(self, method: str, params: dict[str, Any] | None = None, timeout=30.0) -> dict:
        """Run DevTools command ``method``; its result (events on the way are skipped)."""
        self._next += 1
        message = {"id": self._next, "method": method, "params": params or {}}
        if self.session:
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" not in self._buffer:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"Chromium did not answer {method}")
                chunk = os.read(self._answers, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium closed its pipe at {method}")
                self._buffer += chunk
            raw, _, self._buffer = self._buffer.partition(b"\0")
            answer = json.loads(raw)
            if answer.get("id") == self._next:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error'].get('message')}")
                return answer.get("result", {})

    def open_page(self) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        width, height = self.size
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        self.send("Emulation.setDeviceMetricsOverride", metrics)

    def evaluate(self, expression: str) -> Any:
        found = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return found.get("result", {}).get("value")

    def go(self, url: str, text: str, timeout: float) -> None:
        """Open ``url`` and wait until the page shows ``text``."""
        self.send("Page.navigate", {"url": url})
        wanted = f"!!document.body && document.body.innerText.includes({json.dumps(text)})"
        deadline = time.monotonic() + timeout
        while not self.evaluate(wanted):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not show {text!r} within {timeout:.0f} s")
            time.sleep(0.5)

    def screenshot(self) -> bytes:
        return base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"])

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (RuntimeError, OSError):
            pass
        stop_group(self.process, timeout=5)
        os.close(self._commands)
        os.close(self._answers)
