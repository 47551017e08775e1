"""Faults made inside the server through its drill routes (``/_faults``, enabled only with
``BACKEND_FAULTS_TOKEN``): what cannot be made from outside without a second program to break."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import redis

from scripts import live
from scripts.background import repeating
from scripts.faults.base import Lift, Target, nothing_to_lift

__all__ = [
    "bus_reader_stalled",
    "error_spike",
    "injected_latency",
    "latency_everywhere",
    "memory_pressure",
    "sockets_dropped",
]


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


def injected_latency(
    target: Target, seconds: float = 1.5, request_megabytes: int = 0
) -> contextlib.AbstractContextManager[Lift]:
    """Every API request takes ``seconds`` longer (a slow dependency), holding a buffer of
    ``request_megabytes`` meanwhile (its large answer)."""
    on = {"seconds": seconds, "request_megabytes": request_megabytes}
    return _route(target, "latency", on, {"seconds": 0, "request_megabytes": 0})


@contextlib.contextmanager
def latency_everywhere(target: Target, seconds: float, request_megabytes: int = 0) -> Iterator[Lift]:
    """:func:`injected_latency` on the backend and, when it reads a bus, on every instance that
    reports there, those that start during the fault too (looked for every 0.5 s): a slow dependency
    is every instance's, the one added to cope with it as well."""
    if target.bus is None:
        with injected_latency(target, seconds, request_megabytes) as lift:
            yield lift
        return
    slowed: dict[tuple[str, int], live.Reachable] = {}

    def slow_new() -> None:
        try:
            found = target.members()
        except redis.RedisError:
            return  # the bus is the fault's only way to find them: the next look
        for member in (m for m in found if (m.host, m.port) not in slowed):
            with contextlib.suppress(httpx.HTTPError):  # stopped, or not serving yet: the next look
                member.fault("latency", seconds=seconds, request_megabytes=request_megabytes)
                slowed[member.host, member.port] = member

    slow_new()
    with repeating(slow_new, 0.5) as stop:

        def lift() -> None:
            stop()
            for member in slowed.values():
                with contextlib.suppress(httpx.HTTPError):
                    member.fault("latency", seconds=0, request_megabytes=0)

        try:
            yield lift
        finally:
            lift()


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
