"""Faults a configuration push makes: the process is healthy, what it was told is wrong."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

from scripts import live
from scripts.faults.base import Lift, Target
from scripts.faults.load import returning_clients

__all__ = ["capacity_too_low", "open_file_limit_too_low", "upgrade_dropped"]


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


@contextlib.contextmanager
def capacity_too_low(target: Target, capacity: int = 3) -> Iterator[Lift]:
    """A configuration push sets the WebSocket capacity (``BACKEND_WS_MAX_CONNECTIONS``) below the
    clients it serves, and the service restarts: every client past it is refused with 1013, again
    at each reconnect. Lifting it pushes the capacity it had before, and restarts again."""
    backend = target.backend
    before = int(backend.metric("backend_ws_connections_capacity"))
    backend.reconfigure(ws_max_connections=capacity)
    try:
        yield lambda: backend.reconfigure(ws_max_connections=before)
    finally:
        if int(backend.metric("backend_ws_connections_capacity")) == capacity:  # still as pushed
            backend.reconfigure(ws_max_connections=before)


@contextlib.contextmanager
def open_file_limit_too_low(target: Target, limit: int = 64, clients: int = 60) -> Iterator[Lift]:
    """A configuration push adds a unit drop-in with ``LimitNOFILE=limit`` and the service restarts.
    Its WebSocket clients come back, one descriptor each, and the server runs out (EMFILE): from then
    on it closes every new connection unanswered, ``/health`` and the scrape included, and its own
    file opens fail. Lifting it removes the drop-in and restarts; the clients are let go."""
    backend = target.backend
    backend.limit_open_files(limit)
    try:
        with returning_clients(backend, clients) as let_go:

            def lift() -> None:
                backend.limit_open_files(None)
                let_go()

            yield lift
    finally:
        backend.limit_open_files(None)  # nothing to do when the lift (or the page's own step) removed it
