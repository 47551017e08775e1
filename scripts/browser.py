"""Debian's headless Chromium for the drills and tests, driven by Playwright, with every host but
loopback unresolvable: a page that tries to leave the machine fails to, and the caller sees it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["ARGS", "CHROMIUM", "BrowserMissing", "launch"]

CHROMIUM = Path("/usr/lib/chromium/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
]


class BrowserMissing(RuntimeError):
    """Chromium is not installed where Debian puts it."""


def launch(pw: Any, **kwargs: Any) -> Any:
    """The browser; :class:`BrowserMissing` saying how to get it when it is not installed."""
    if not CHROMIUM.exists():
        raise BrowserMissing(
            f"{CHROMIUM} not found: install Debian's chromium (scripts/install-system-tools.sh does, as root)"
        )
    return pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, **kwargs)
