"""Faults a configuration push makes: the process is healthy, what it was told is wrong."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

from scripts import live
from scripts.faults.base import Lift, Target

__all__ = ["upgrade_dropped"]


@contextlib.contextmanager
def upgrade_dropped(target: Target) -> Iterator[Lift]:
    """A deploy: the proxy's new config stops passing the Upgrade header, and the server restarts
    (SIGTERM: it drains every socket with 1001, its supervisor starts a new one). HTTP still works;
    every WebSocket reconnect is refused (426)."""
    proxy = target.need_proxy("upgrade-dropped")
    backend = target.backend
    proxy.set_mode("no-upgrade")
    pid = backend.server_pid()
    os.kill(pid, signal.SIGTERM)
    live.wait_for(lambda: backend.server_pid() != pid, 20, "the supervisor to start a new server")
    try:
        yield lambda: proxy.set_mode("pass")
    finally:
        proxy.set_mode("pass")
