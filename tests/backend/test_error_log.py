"""The error log: the newest error per component, and a journal that a storm cannot flood."""

from __future__ import annotations

import logging
import time

import httpx
import pytest
from websockets.sync.client import connect

from backend.error_log import ErrorLog


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_sixty_second_storm_writes_one_line_per_interval_per_error_class(caplog: pytest.LogCaptureFixture) -> None:
    """Assert 100 errors a second of two classes for 60 s write 2 lines per 10 s, each saying how many it held back."""
    clock = Clock()
    errors = ErrorLog(10.0, clock)
    caplog.set_level(logging.ERROR, logger="backend.errors")
    for _ in range(6000):
        errors.record("database", "readonly", "attempt to write a readonly database")
        errors.record("websocket", "capacity", "connection refused with 1013")
        clock.now += 0.01
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 12, lines
    assert sum("database readonly" in line for line in lines) == 6
    assert "999 more like it in the last 10 s" in lines[-1], lines[-1]
    newest = errors.as_json()
    assert newest["database"]["count"] == 6000 and newest["database"]["kind"] == "readonly"
    assert newest["websocket"]["error"] == "connection refused with 1013"


def test_a_new_class_of_error_is_logged_at_once(caplog: pytest.LogCaptureFixture) -> None:
    """Assert a second kind of error in the same component is not held back by the first kind's interval."""
    clock = Clock()
    errors = ErrorLog(10.0, clock)
    caplog.set_level(logging.ERROR, logger="backend.errors")
    errors.record("database", "locked", "database locked for more than 5 s")
    clock.now += 1
    errors.record("database", "readonly", "database is read-only")
    assert [r.getMessage() for r in caplog.records] == [
        "database locked: database locked for more than 5 s",
        "database readonly: database is read-only",
    ]
    assert errors.as_json()["database"] == {
        "kind": "readonly",
        "error": "database is read-only",
        "seconds_ago": 0.0,
        "at": "1970-01-12T13:46:41Z",
        "count": 2,
    }


def test_a_storm_of_refusals_in_a_real_server_writes_a_few_lines_and_shows_the_newest(start_backend) -> None:
    """Assert 150 WebSocket connections refused at capacity within seconds log at most one line per
    second of the storm (the interval here), the held-back ones counted, and /ready shows the newest."""
    backend = start_backend(ws_max_connections=1, error_log_interval=1.0)
    started = time.monotonic()
    with connect(backend.ws_url, compression=None, proxy=None) as holder:
        holder.recv(timeout=5)
        for _ in range(150):
            with (
                connect(backend.ws_url, compression=None, proxy=None) as refused,
                pytest.raises(Exception, match="1013"),
            ):
                refused.recv(timeout=5)
    seconds = time.monotonic() - started
    lines = [line for line in backend.log().splitlines() if "websocket capacity:" in line]
    assert 1 <= len(lines) <= seconds + 2, (seconds, lines)
    assert len(lines) == 1 or "more like it" in lines[-1], lines
    last = httpx.get(f"{backend.url}/ready", timeout=5).json()["last_errors"]["websocket"]
    assert last["kind"] == "capacity" and last["count"] == 150 and "1013" in last["error"]
