"""The drills' headless Chromium (scripts/browser.py) for tests: a missing browser fails the test
loudly, saying how to get it; CI must not skip a browser test."""

from __future__ import annotations

from typing import Any

import pytest

from scripts import browser

__all__ = ["launch"]


def launch(pw: Any, **kwargs: Any) -> Any:
    try:
        return browser.launch(pw, **kwargs)
    except browser.BrowserMissing as exc:
        pytest.fail(f"{exc}; `make test` installs it as root. The browser tests cannot run without it.")
