"""Faults of the path between the clients and the backend, made by the loopback :class:`Proxy`
the clients go through (this kernel has no ``tc netem``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from scripts.faults.base import Lift, Target

__all__ = ["connections_reset", "partition"]


@contextlib.contextmanager
def _path_in_mode(target: Target, fault: str, mode: str) -> Iterator[Lift]:
    """The clients' path in ``mode`` until lifted or the fault ends (then it passes again)."""
    proxy = target.need_proxy(fault)
    proxy.set_mode(mode)
    try:
        yield lambda: proxy.set_mode("pass")
    finally:
        proxy.set_mode("pass")


def partition(target: Target) -> contextlib.AbstractContextManager[Lift]:
    """The path drops the server's answers (requests still arrive, new connections hang): the
    backend is healthy on its host, its clients see timeouts and half-open sockets."""
    return _path_in_mode(target, "partition", "blackhole")


def connections_reset(target: Target) -> contextlib.AbstractContextManager[Lift]:
    """Every connection through the path cut with a TCP RST, and every new one too, until lifted
    (a load balancer restarting, a firewall flushing its state)."""
    return _path_in_mode(target, "connections-reset", "reset")
