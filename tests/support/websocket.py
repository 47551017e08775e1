"""Real WebSocket clients (python-websockets) for the hub's tests."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from scripts.live import Live

__all__ = ["close_code", "recv_json", "ws"]


def ws(backend: Live, query: str = "", **kwargs: Any) -> ClientConnection:
    kwargs.setdefault("max_size", 8 * 1024 * 1024)
    return connect(backend.ws_url + query, compression=None, proxy=None, open_timeout=5, **kwargs)


def recv_json(conn: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    return dict(json.loads(conn.recv(timeout=timeout)))


def close_code(conn: ClientConnection, timeout: float = 10.0) -> tuple[int, str]:
    """Read until the server closes; return its close code and reason."""
    with pytest.raises(ConnectionClosed) as info:
        while True:
            conn.recv(timeout=timeout)
    assert info.value.rcvd is not None, "the server sent no close frame"
    return info.value.rcvd.code, info.value.rcvd.reason
