"""Debian's headless Chromium, driven by Playwright, with every host but loopback unresolvable: a
page that tries to leave the machine fails to, and the test sees the request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

__all__ = ["ARGS", "CHROMIUM", "launch"]

CHROMIUM = Path("/usr/lib/chromium/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
        "--disable-background-networking", "--disable-component-update", "--disable-quic",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1"]


def launch(pw: Any, **kwargs: Any) -> Any:
    """The browser, or a failing test that says how to get it (CI must not skip a browser test)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: the browser tests need Debian's chromium. "
                    "`make test` installs it as root (scripts/install-system-tools.sh); install it and rerun.")
    return pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, **kwargs)
