"""Diagnostics for the backend: checks that return :class:`Result` rows, and the ``checks`` CLI.

Never imports ``backend``: it talks to any deployment over HTTP, WebSocket and /metrics.
"""

from __future__ import annotations

import importlib
from typing import Any

# Where each public name lives, loaded on first use (PEP 562): `import checks.thresholds` (the site
# build, the rule generator) then costs no httpx, rich or websockets import.
_HOMES = {
    "CHECKS": "checks.registry",
    "CheckError": "checks.errors",
    "Context": "checks.context",
    "Result": "checks.result",
    "Status": "checks.result",
    "Target": "checks.target",
    "Threshold": "checks.thresholds",
    "load": "checks.thresholds",
}

__all__ = [
    "CHECKS",
    "CheckError",
    "Context",
    "Result",
    "Status",
    "Target",
    "Threshold",
    "load",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'checks' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
