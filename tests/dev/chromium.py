"""Headless Chromium (Debian's ``chromium``, ``make chromium``): where it is, and the flags
with which no connection leaves this machine (updates, sync and Google's hosts turned off).
"""

from __future__ import annotations

import os
import shutil

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
