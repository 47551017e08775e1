"""Faults made by clients: more work, more connections or worse clients than the backend is for."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import math
import os
import random
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from websockets.asyncio.client import connect as connect_async
from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

from scripts import live
from scripts.background import Halting, repeating
from scripts.faults.base import Lift, Target
from scripts.faults.injected import latency_everywhere

__all__ = [
    "clients_growing",
    "idle_connections",
    "memory_from_load",
    "miss_storm",
    "near_capacity",
    "overload",
    "returning_clients",
    "slow_consumer_storm",
    "ws_drop_storm",
]


def _ws(backend: live.Reachable, open_timeout: float = 5, ping_interval: float | None = 20) -> ClientConnection:
    return connect(
        backend.ws_url,
        compression=None,
        proxy=None,
        close_timeout=0.2,
        open_timeout=open_timeout,
        ping_interval=ping_interval,
    )


@contextlib.contextmanager
def _asked_while_slow(
    target: Target, clients: int, ask: Callable[[httpx.Client], Callable[[], float]], seconds: float, megabytes: int = 0
) -> Iterator[Lift]:
    """``clients`` threads asking where clients come in (nginx in front of several instances, or the
    one instance), each cycle ``ask(http)``, while every instance's requests take ``seconds`` longer
    and hold ``megabytes`` meanwhile (their dependency: :func:`latency_everywhere`)."""
    with (
        latency_everywhere(target, seconds, megabytes) as unslow,
        httpx.Client(
            base_url=target.way_in or target.backend.url, timeout=10, limits=httpx.Limits(max_connections=clients)
        ) as http,
        repeating(ask(http), workers=clients) as stop,
    ):

        def lift() -> None:
            stop()
            unslow()

        yield lift


def overload(target: Target, clients: int = 32, slowed: float = 0.2) -> contextlib.AbstractContextManager[Lift]:
    """More work than the instances serve: each request costs ``slowed`` s on every instance (their
    dependency) while ``clients`` keep asking, each retrying 0.2 s after a refusal. Admission control
    refuses the excess; an instance added takes its share, and is as slow."""

    def asking(http: httpx.Client) -> Callable[[], float]:
        return lambda: 0.2 if http.get("/api/counters/overload").status_code == 503 else 0.0

    return _asked_while_slow(target, clients, asking, slowed)


def _reached(target: Target) -> list[live.Reachable]:
    """The instances the clients reach: every one on the bus that answers, through nginx
    (``target.way_in``), or the one backend."""
    if not target.way_in:
        return [target.backend]
    answering = []
    for member in target.members():
        with contextlib.suppress(httpx.HTTPError):  # a stopped instance's report outlives it
            member.metric("backend_memory_watermark_bytes")
            answering.append(member)
    return answering


def memory_from_load(
    target: Target, share: float = 0.86, clients_each: int = 30, seconds: float = 1.0
) -> contextlib.AbstractContextManager[Lift]:
    """Growth from load: memory held by the requests in progress, so RSS follows the load. A slow
    dependency (``seconds`` a request, on every instance, new ones too) answers with large buffers;
    ``clients_each`` clients per instance reached each keep one request in progress, through nginx
    or at the one backend. The buffer is sized from the instances' RSS and watermark before the load,
    so that each sits near ``share`` of its watermark: past the MemoryHigh line (0.8), short of
    shedding (1.0). The traffic's own requests come on top: at 0.9 on the rehearsal host's fleet,
    its first instance held 34 at times and reached 0.97. An instance added takes a quarter of the
    requests, and each instance's share of the load memory falls by as much (0.91 to 0.94 of the
    watermark on three instances became 0.71 on four)."""
    reached = _reached(target)
    rss = max(m.metric("process_resident_memory_bytes") for m in reached)
    watermark = min(m.metric("backend_memory_watermark_bytes") for m in reached)
    megabytes = max(1, int((share * watermark - rss) / clients_each / 2**20))
    arrived = itertools.count()
    client = threading.local()

    def asking(http: httpx.Client) -> Callable[[], float]:
        http.post("/api/counters/memory-from-load/increment")

        def ask() -> float:
            if not hasattr(client, "arrived"):  # one after another: a buffer made for each at once
                client.arrived = True  # held the loop long enough to be refused as late
                return next(arrived) * 0.05
            return 0.0 if http.get("/api/counters/memory-from-load").status_code == 200 else 0.5

        return ask

    return _asked_while_slow(target, clients_each * len(reached), asking, seconds, megabytes)


@contextlib.contextmanager
def idle_connections(target: Target, per_cycle: int = 20) -> Iterator[Lift]:
    """Clients that open connections and never send a request (a slowloris, a broken pool)."""
    backend = target.backend

    def cycle() -> None:
        held = [socket.create_connection((backend.host, backend.port), timeout=5) for _ in range(per_cycle)]
        for sock in held:
            sock.recv(200)  # the server's 408 once its header timeout passes
            sock.close()

    with repeating(cycle, 0.1) as lift:
        yield lift


@contextlib.contextmanager
def miss_storm(target: Target) -> Iterator[Lift]:
    """Clients ask for keys the cache never holds (a deploy changed the key format): every lookup misses."""
    keys = itertools.count()
    with httpx.Client(base_url=target.backend.url, timeout=5) as client:

        def ask() -> None:
            client.get(f"/api/cache/new-format-{next(keys)}")

        with repeating(ask, 0.01) as lift:
            yield lift


def _storm(
    target: Target, cut: Callable[[list[Any]], None], clients: int = 5
) -> contextlib.AbstractContextManager[Lift]:
    """Clients keep reconnecting while ``cut`` ends their sockets, as in a real disconnect storm."""

    def cycle() -> None:
        with contextlib.ExitStack() as stack:
            cut([stack.enter_context(_ws(target.backend)) for _ in range(clients)])

    return repeating(cycle, 0.2)


def _drop_all(backend: live.Reachable) -> Callable[[list[Any]], None]:
    def cut(sockets: list[Any]) -> None:
        backend.fault("ws-drop")
        for sock in sockets:
            with contextlib.suppress(TimeoutError, WebSocketException):
                sock.recv(timeout=1)

    return cut


def _stalled_client(backend: live.Reachable) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads a byte, with a small
    receive buffer: the server's writes back up at once (a client library would read ahead)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect((backend.host, backend.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws HTTP/1.1\r\nHost: {backend.host}:{backend.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:  # the 101 answer only; what follows stays unread
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        answer += chunk
    return sock


def _never_read(backend: live.Reachable) -> Callable[[list[Any]], None]:
    def cut(sockets: list[Any]) -> None:  # flood broadcasts at clients that never read: 1008 slow consumer
        stalled = [_stalled_client(backend) for _ in sockets]
        dropped = backend.metric("backend_ws_slow_consumers_dropped_total")
        try:
            with httpx.Client(base_url=backend.url, timeout=5) as client:
                for n in range(120):  # until the socket buffers (a few MiB) and then the send queues are full
                    client.post("/api/broadcast", json={"message": {"flood": n, "pad": "x" * 250_000}})
                    if backend.metric("backend_ws_slow_consumers_dropped_total") >= dropped + len(stalled):
                        break
        finally:
            for sock in stalled:
                sock.close()

    return cut


def ws_drop_storm(target: Target) -> contextlib.AbstractContextManager[Lift]:
    """The server cuts every socket again and again (a proxy or deploy dropping them)."""
    return _storm(target, _drop_all(target.backend))


def slow_consumer_storm(target: Target, clients: int = 10) -> contextlib.AbstractContextManager[Lift]:
    """Clients that stop reading while broadcasts keep coming: each is dropped as a slow consumer.
    ``clients`` stall together in each round: every broadcast fills all their buffers at once, so
    ten drop in about the time five did (five made 0.4 drops/s beside three other game days on two
    cores, under the 0.5/s the alert asks for)."""
    return _storm(target, _never_read(target.backend), clients)


@contextlib.contextmanager
def returning_clients(backend: live.Reachable, clients: int) -> Iterator[Lift]:
    """``clients`` idle WebSocket clients that come back when they lose their socket, as real ones do:
    every 0.2 s the dropped are replaced, one connection attempt each, until the block ends or the
    yielded lift lets them go. They send no pings: a server out of descriptors may be too slow to
    answer one, and they stay put. Let go, they close their sockets at once (1000): left idle on the
    recovered server, sixty client threads of one busy test process answered its pings late, and it
    rightly counted them as a storm of 1011s (CI, twice)."""
    held: list[ClientConnection] = []

    with contextlib.ExitStack() as stack:

        def top_up() -> None:
            held[:] = [c for c in held if c.close_code is None]
            for _ in range(clients - len(held)):
                sock = stack.enter_context(_ws(backend, open_timeout=2, ping_interval=None))
                held.append(sock)
                sock.recv(timeout=2)  # the hello: registered

        with repeating(top_up, 0.2) as stop:

            def let_go() -> None:
                stop()  # joins the top-up thread: no socket is added after this
                stack.close()

            yield let_go


@contextlib.contextmanager
def near_capacity(target: Target, share: float = 0.93) -> Iterator[Lift]:
    """Idle clients take ``share`` of the hub's places (1.0: the next client is refused with 1013)."""
    backend = target.backend
    capacity = int(backend.metric("backend_ws_connections_capacity"))
    wanted = math.ceil(round(capacity * share, 6)) - int(backend.metric("backend_ws_connections_active"))
    with contextlib.ExitStack() as stack:
        for _ in range(wanted):
            sock = stack.enter_context(_ws(backend))
            sock.recv(timeout=5)  # the hello: registered
        yield stack.close


class _ComingAndGoing(Halting):
    """``size`` clients on one asyncio loop, each holding its socket ``hold`` seconds, closing it
    normally (1000) and connecting again; halted, each closes its socket normally. One thread each
    answered the server's pings late (21 sockets closed 1011 in a laboratory game day of 38)."""

    def __init__(self, url: str, size: int, hold: tuple[float, float]) -> None:
        super().__init__()
        self.url, self.size, self.hold = url, size, hold

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        leaving = asyncio.Event()
        clients = [asyncio.create_task(self._client(leaving)) for _ in range(self.size)]
        while not self.halt.is_set():
            await asyncio.sleep(0.05)
        leaving.set()
        await asyncio.wait(clients, timeout=10)

    async def _client(self, leaving: asyncio.Event) -> None:
        while not leaving.is_set():
            pause = 0.5  # after a refusal or a failed connection
            try:
                async with connect_async(self.url, compression=None, proxy=None, open_timeout=5, close_timeout=1) as ws:
                    await ws.recv()  # the hello: registered
                    pause = random.uniform(*self.hold)  # then it stays, until it goes or is let go
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(leaving.wait(), pause)
                    pause = 0.0
            except (TimeoutError, OSError, WebSocketException):
                pass
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(leaving.wait(), pause)


@contextlib.contextmanager
def clients_growing(target: Target, share: float = 1.1, hold: tuple[float, float] = (4.0, 12.0)) -> Iterator[Lift]:
    """Real growth: clients that come and go, as phones on the move do (each holds its socket for
    ``hold`` seconds, closes it and connects again), ``share`` times as many as the places of the
    instances they reach: every instance on the bus, through nginx (``target.way_in``), or the one
    backend. More than there are places: one that finds none is refused (1013) and tries again half
    a second later, taking the place the next one to go leaves. With 94 % of them, a busy machine
    had fewer than 90 % in use at times; with all of them, one instance of three held 36 of 40.
    Each reconnection goes where nginx sends it, so an instance added takes them until it holds as
    many as the others: adding one ends this fault, where it cannot move an idle crowd."""
    reached = _reached(target)
    places = sum(m.metric("backend_ws_connections_capacity") for m in reached)
    used = sum(m.metric("backend_ws_connections_active") for m in reached)
    url = f"{target.way_in.replace('http', 'ws', 1)}/ws" if target.way_in else target.backend.ws_url
    crowd = _ComingAndGoing(url, math.ceil(round(places * share, 6)) - int(used), hold)
    crowd.start()
    try:
        yield crowd.stop
    finally:
        crowd.stop()
