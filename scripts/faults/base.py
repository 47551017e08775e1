"""The shape every fault has: one signature, one name, one place that makes it.

A fault is a context manager ``make(target, **params)``: entering makes the fault for real on the
target's machine (a signal, a full filesystem, a held lock, a cut connection, a flood of clients),
leaving undoes whatever is still in place, so a failing drill or game day never leaves it behind.
It yields a :data:`Lift`: calling it ends the fault's cause early, as the production step a page
cannot run here would (a rollback, a failover); for a one-shot fault it does nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import redis

from checks.probes.fleet import READERS
from scripts import live

__all__ = ["ClientPath", "Fault", "FaultUnavailable", "Lift", "MessageBus", "Target", "nothing_to_lift"]

Lift = Callable[[], None]


class FaultUnavailable(RuntimeError):
    """This machine cannot make the fault (not root, no mount); the message says what is needed."""


def nothing_to_lift() -> None:
    """The lift of a one-shot fault (a kill, a deletion): its cause is already over."""


class ClientPath(Protocol):
    """The way the clients reach the backend, which a network or proxy fault changes: the loopback
    :class:`~scripts.faults.proxy.Proxy` the harness starts, or the rehearsal host's own nginx.
    Modes: ``pass``, ``blackhole`` (answers dropped), ``reset``, ``no-upgrade`` (see the Proxy)."""

    @property
    def url(self) -> str:
        """Where the clients send their requests (``ws://`` for the sockets)."""
        ...

    def set_mode(self, mode: str) -> None: ...


class MessageBus(Protocol):
    """The Redis that several instances share (:class:`~scripts.redis_server.RedisServer`)."""

    @property
    def url(self) -> str:
        """``redis://``: where the instances read it, and report on it."""
        ...

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None: ...

    def start(self) -> object: ...


@dataclasses.dataclass
class Target:
    """What a fault acts on: a backend, the path its clients go through, the bus (if any), and where
    the clients of several instances come in (nginx in front of them; none: the backend itself)."""

    backend: live.Reachable
    proxy: ClientPath | None = None
    bus: MessageBus | None = None
    way_in: str | None = None

    def need_proxy(self, fault: str) -> ClientPath:
        if self.proxy is None:
            raise FaultUnavailable(f"the fault {fault} acts on the clients' path: start the backend behind a Proxy")
        return self.proxy

    def members(self) -> list[live.Reachable]:
        """Every instance that reports on the bus (those running, and for ten minutes those that
        stopped), sharing the backend's data directory; the backend alone when there is no bus."""
        if self.bus is None:
            return [self.backend]
        with redis.Redis.from_url(self.bus.url, socket_timeout=2) as bus:
            found = sorted(key.decode().removeprefix(READERS) for key in bus.scan_iter(match=f"{READERS}*"))
        addresses = (a.rpartition(":") for a in found)  # host:port, as each instance names itself
        return [live.Reachable(host, int(port), self.backend.data_dir) for host, _, port in addresses]

    def need_bus(self, fault: str) -> MessageBus:
        if self.bus is None:
            raise FaultUnavailable(f"the fault {fault} acts on the message bus: start instances that share one")
        return self.bus


@dataclasses.dataclass(frozen=True)
class Fault:
    """One fault: its name (kebab-case), what it breaks (group), what it does in a sentence, the
    context manager that makes it, what must exist before the backend starts (a small filesystem,
    given the data directory and the fault's params), and what it needs of the backend's path."""

    name: str
    group: str  # process, disk, database, network, load, configuration, injected
    what: str
    make: Callable[..., contextlib.AbstractContextManager[Lift]]
    prepare: Callable[..., contextlib.AbstractContextManager[None]] | None = None
    needs_proxy: bool = False
    drill_routes: bool = False  # made through the backend's /_faults routes (they need its token)
    needs_bus: bool = False  # acts on the message bus: the backend must read one (BACKEND_BUS_URL)

    def __call__(self, target: Target, **params: Any) -> contextlib.AbstractContextManager[Lift]:
        return self.make(target, **params)

    def prepared(self, data_dir: Path, **params: Any) -> contextlib.AbstractContextManager[None]:
        """What the backend must start on for this fault (nothing for most)."""
        return self.prepare(data_dir, **params) if self.prepare else contextlib.nullcontext()
