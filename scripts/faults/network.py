"""Faults of the path between the clients and the backend, made by the loopback :class:`Proxy`
the clients go through (this kernel has no ``tc netem``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from scripts.faults.base import Lift, Target

__all__ = ["connections_reset", "partition"]


@contextlib.contextmanager
def partition(target: Target) -> Iterator[Lift]:
    """The path drops the server's answers (requests still arrive, new connections hang): the
    backend is healthy on its host, its clients see timeouts and half-open sockets."""
    proxy = target.need_proxy("partition")
    proxy.set_mode("blackhole")
    try:
        yield lambda: proxy.set_mode("pass")
    finally:
        proxy.set_mode("pass")


@contextlib.contextmanager
def connections_reset(target: Target) -> Iterator[Lift]:
    """Every connection through the path cut with a TCP RST, and every new one too, until lifted
    (a load balancer restarting, a firewall flushing its state)."""
    proxy = target.need_proxy("connections-reset")
    proxy.set_mode("reset")
    try:
        yield lambda: proxy.set_mode("pass")
    finally:
        proxy.set_mode("pass")
