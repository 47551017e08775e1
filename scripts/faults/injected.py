"""Faults made inside the server through its drill routes (``/_faults``, enabled only with
``BACKEND_FAULTS_TOKEN``): what cannot be made from outside without a second program to break."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx

from scripts.faults.base import Lift, Target, nothing_to_lift

__all__ = ["bus_reader_stalled", "error_spike", "injected_latency", "memory_pressure", "sockets_dropped"]


@contextlib.contextmanager
def _route(target: Target, name: str, on: dict[str, Any], off: dict[str, Any]) -> Iterator[Lift]:
    """Set the drill route ``name`` to ``on``; lifting sets ``off`` (quietly when the page already
    restarted the server: a new process has nothing to lift)."""
    backend = target.backend
    backend.fault(name, **on)

    def lift() -> None:
        with contextlib.suppress(httpx.HTTPError):
            backend.fault(name, **off)

    try:
        yield lift
    finally:
        lift()


def memory_pressure(target: Target, megabytes: int = 160) -> contextlib.AbstractContextManager[Lift]:
    """The server holds ``megabytes`` more memory (a leak, an unbounded cache): past its watermark
    it sheds new work. A restart (the page's mitigation) frees it."""
    return _route(target, "memory", {"megabytes": megabytes}, {"megabytes": 0})


def injected_latency(target: Target, seconds: float = 1.5) -> contextlib.AbstractContextManager[Lift]:
    """Every API request takes ``seconds`` longer (a slow dependency)."""
    return _route(target, "latency", {"seconds": seconds}, {"seconds": 0})


def error_spike(target: Target, ratio: float = 0.5) -> contextlib.AbstractContextManager[Lift]:
    """A share ``ratio`` of the API requests answer 500 (a bad deploy)."""
    return _route(target, "errors", {"ratio": ratio}, {"ratio": 0})


def bus_reader_stalled(target: Target) -> contextlib.AbstractContextManager[Lift]:
    """The instance's reader of the message bus stops reading (stuck on something it waits for):
    its clients get nothing new while the other instances' get everything. A restart (the page's
    mitigation) starts a reader that catches up from the stream."""
    return _route(target, "bus", {"reader_stalled": True}, {"reader_stalled": False})


@contextlib.contextmanager
def sockets_dropped(target: Target) -> Iterator[Lift]:
    """The server closes every WebSocket at once (a deploy cutting them), one time."""
    target.backend.fault("ws-drop")
    yield nothing_to_lift
