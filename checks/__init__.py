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
    "Block": "checks.console",
    "CheckError": "checks.errors",
    "Context": "checks.context",
    "Outcome": "checks.console",
    "Result": "checks.result",
    "Safety": "checks.console",
    "Status": "checks.result",
    "Step": "checks.console",
    "Target": "checks.target",
    "Threshold": "checks.thresholds",
    "load": "checks.thresholds",
    "parse": "checks.console",
    "parse_file": "checks.console",
    "run_step": "checks.console",
}

__all__ = [
    "CHECKS",
    "Block",
    "CheckError",
    "Context",
    "Outcome",
    "Result",
    "Safety",
    "Status",
    "Step",
    "Target",
    "Threshold",
    "load",
    "parse",
    "parse_file",
    "run_step",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'checks' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
