"""The faults the runbooks are proven under, each made for real on a game day's own backend.

A scenario names the runbook ``checks doctor`` must send the reader to first, the backend settings
its game day runs with, and a context manager that makes the fault and undoes whatever the
runbook's mitigation did not (so a failing game day never leaves a fault behind). The fault code
lives here and in :mod:`scripts.drill.faults`, never in ``checks``: the on-call CLI breaks nothing.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import itertools
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

from scripts import live
from scripts.drill.faults import tmpfs, write_lock_holder
from scripts.drill.proxy import Proxy

__all__ = [
    "SCENARIOS",
    "Scenario",
    "cache_dir_deleted",
    "cache_disk_full",
    "crash_loop",
    "data_disk_almost_full",
    "error_spike",
    "hung_server",
    "idle_connections",
    "injected_latency",
    "memory_pressure",
    "miss_storm",
    "near_capacity",
    "overload",
    "partition",
    "slow_consumer_storm",
    "supervisor_gone",
    "upgrade_dropped",
    "write_lock",
    "ws_drop_storm",
    "database_lost",
    "restart_service",
]

Lift = Callable[[], None]  # ends the fault's cause early: what a skipped production step would do
Fault = Callable[[live.Live], contextlib.AbstractContextManager[Lift | None]]


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One real fault and the page that must handle it."""

    name: str
    runbook: str
    what: str
    fault: Fault
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    # rows allowed to stay not ok after a successful mitigation, and why (a window still holds the fault)
    lingering: dict[str, str] = dataclasses.field(default_factory=dict)
    # what must exist before the backend starts, given its data directory (a small filesystem)
    prepare: Callable[[Path], contextlib.AbstractContextManager[None]] | None = None
    # what a mitigation step that cannot run here (a rollback, a failover; skipped with its reason)
    # does: the harness ends the fault's cause in its place (systemctl steps it stops and starts itself)
    stand_in_does: str = ""
    # variables the page's commands need beyond BACKEND_* (where the backup is), given the backend
    env: Callable[[live.Live], dict[str, str]] | None = None
    via_proxy: bool = False  # clients reach the backend through a TCP proxy the fault controls


def _signal_quietly(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


@contextlib.contextmanager
def hung_server(backend: live.Live) -> Iterator[None]:
    """SIGSTOP of the server: it accepts connections and answers nothing (a blocked event loop)."""
    pid = backend.server_pid()
    live.wait_for(lambda: f"server pid {pid} ready after" in backend.log(), 10, "the supervisor to see it ready")
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        _signal_quietly(pid, signal.SIGCONT)


@contextlib.contextmanager
def supervisor_gone(backend: live.Live) -> Iterator[None]:
    """SIGKILL of the supervisor: its server dies with it (parent-death signal); nothing listens."""
    backend.proc.kill()
    backend.proc.wait(10)
    yield


@contextlib.contextmanager
def crash_loop(backend: live.Live) -> Iterator[None]:
    """The server killed three times in a row (an OOM killer, a crashing dependency)."""
    for _ in range(3):
        pid = backend.server_pid()
        os.kill(pid, signal.SIGKILL)
        live.wait_for(lambda old=pid: backend.ready() and backend.server_pid() != old, 15, "the restarted server")
    yield


@contextlib.contextmanager
def write_lock(backend: live.Live) -> Iterator[None]:
    """Another process holds SQLite's write lock (a stuck backup or shell)."""
    with write_lock_holder(backend.data_dir / "backend.sqlite3"):
        yield


def _backup_of(backend: live.Live) -> Path:
    return backend.data_dir.parent / "backups" / "backend.sqlite3"


@contextlib.contextmanager
def database_lost(backend: live.Live) -> Iterator[None]:
    """The database file deleted under the running server (an operator's `rm`, a bad cleanup job),
    after the nightly online backup was taken (the deployment guide's `.backup`)."""
    import sqlite3

    backup = _backup_of(backend)
    backup.parent.mkdir(exist_ok=True)
    with (
        contextlib.closing(sqlite3.connect(backend.data_dir / "backend.sqlite3")) as live_db,
        contextlib.closing(sqlite3.connect(backup)) as copy,
    ):
        live_db.backup(copy)
    for suffix in ("", "-wal", "-shm"):
        (backend.data_dir / f"backend.sqlite3{suffix}").unlink(missing_ok=True)
    yield


@contextlib.contextmanager
def cache_disk_full(backend: live.Live) -> Iterator[None]:
    """The cache's own filesystem (a 2 MiB tmpfs mounted before start) filled by another writer."""
    filler = backend.data_dir / "cache" / "filler.bin"
    with contextlib.suppress(OSError), open(filler, "wb") as out:
        out.write(b"\0" * (4 * 2**20))  # more than fits: ENOSPC
    try:
        yield
    finally:
        filler.unlink(missing_ok=True)


STRAY_EXPORT = "exports/db-export-2026-11-27.sql"


@contextlib.contextmanager
def data_disk_almost_full(backend: live.Live) -> Iterator[None]:
    """Someone's database export left on the data volume (a 64 MiB tmpfs mounted before start) until
    8 % is free: the backend still works, and the next big write will not. The margin leaves room for
    the traffic's own writes (SQLite's WAL grows to a few MiB before a checkpoint)."""
    import shutil

    stray = backend.data_dir / STRAY_EXPORT
    stray.parent.mkdir(exist_ok=True)
    usage = shutil.disk_usage(backend.data_dir)
    with open(stray, "wb") as out:
        out.write(b"-- export\n" * int((usage.free - 0.08 * usage.total) / 10))
    try:
        yield
    finally:
        stray.unlink(missing_ok=True)


def _archive(backend: live.Live) -> dict[str, str]:
    """Where the page moves what does not belong on the data volume: another filesystem."""
    archive = backend.data_dir.parent / "archive"
    archive.mkdir(exist_ok=True)
    return {"ARCHIVE_DIR": str(archive)}


@contextlib.contextmanager
def cache_dir_deleted(backend: live.Live) -> Iterator[None]:
    """``rm -rf`` of the cache directory under the running server."""
    import shutil

    shutil.rmtree(backend.data_dir / "cache")
    try:
        yield
    finally:
        (backend.data_dir / "cache").mkdir(exist_ok=True)


@contextlib.contextmanager
def memory_pressure(backend: live.Live) -> Iterator[None]:
    """The server holds memory past its watermark (a leak, an unbounded cache): it sheds new work."""
    backend.fault("memory", megabytes=160)
    yield


@contextlib.contextmanager
def _repeating(cycle: Callable[[], None], pause: float) -> Iterator[Lift]:
    """Run ``cycle`` again and again on a thread until lifted (or the fault ends); a cycle that meets
    a restarting or shedding server is simply the next one's problem."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError, WebSocketException, httpx.HTTPError):
                cycle()
            stop.wait(pause)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()

    def lift() -> None:
        stop.set()
        thread.join(30)

    try:
        yield lift
    finally:
        lift()


def _storm(
    backend: live.Live, cut: Callable[[list[Any]], None], clients: int = 5
) -> contextlib.AbstractContextManager[Lift]:
    """Clients keep reconnecting while ``cut`` ends their sockets, as in a real disconnect storm."""

    def cycle() -> None:
        with contextlib.ExitStack() as stack:
            cut(
                [
                    stack.enter_context(
                        connect(backend.ws_url, compression=None, proxy=None, close_timeout=0.2, open_timeout=5)
                    )
                    for _ in range(clients)
                ]
            )

    return _repeating(cycle, 0.2)


def _drop_all(backend: live.Live) -> Callable[[list[Any]], None]:
    def cut(sockets: list[Any]) -> None:
        backend.fault("ws-drop")
        for sock in sockets:
            with contextlib.suppress(TimeoutError, WebSocketException):
                sock.recv(timeout=1)

    return cut


def _stalled_client(backend: live.Live) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads a byte, with a small
    receive buffer: the server's writes back up at once (a client library would read ahead)."""
    host, port = backend.url.removeprefix("http://").rsplit(":", 1)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:  # the 101 answer only; what follows stays unread
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        answer += chunk
    return sock


def _never_read(backend: live.Live) -> Callable[[list[Any]], None]:
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


@contextlib.contextmanager
def ws_drop_storm(backend: live.Live) -> Iterator[Lift]:
    """The server cuts every socket again and again (a proxy or deploy dropping them)."""
    with _storm(backend, _drop_all(backend)) as lift:
        yield lift


@contextlib.contextmanager
def slow_consumer_storm(backend: live.Live) -> Iterator[Lift]:
    """Clients that stop reading while broadcasts keep coming: each is dropped as a slow consumer."""
    with _storm(backend, _never_read(backend)) as lift:
        yield lift


@contextlib.contextmanager
def injected_latency(backend: live.Live) -> Iterator[Lift]:
    """Every API request takes 1.5 s longer (a slow dependency)."""
    backend.fault("latency", seconds=1.5)
    yield lambda: backend.fault("latency", seconds=0)


@contextlib.contextmanager
def overload(backend: live.Live) -> Iterator[Lift]:
    """More work than the instance serves: its dependency slowed (0.2 s a request) while 32 clients
    keep asking, each retrying 0.2 s after a refusal. Admission control refuses the excess at once."""
    backend.fault("latency", seconds=0.2)
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=backend.url, timeout=10) as http:
            while not stop.is_set():
                with contextlib.suppress(httpx.HTTPError):
                    if http.get("/api/counters/overload").status_code == 503:
                        stop.wait(0.2)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(32)]
    for thread in threads:
        thread.start()

    def lift() -> None:
        stop.set()
        for thread in threads:
            thread.join(15)
        with contextlib.suppress(httpx.HTTPError):
            backend.fault("latency", seconds=0)

    try:
        yield lift
    finally:
        lift()


@contextlib.contextmanager
def idle_connections(backend: live.Live) -> Iterator[Lift]:
    """Clients that open connections and never send a request (a slowloris, a broken pool)."""
    host, port = backend.url.removeprefix("http://").rsplit(":", 1)

    def cycle() -> None:
        held = [socket.create_connection((host, int(port)), timeout=5) for _ in range(20)]
        for sock in held:
            sock.recv(200)  # the server's 408 once its header timeout passes
            sock.close()

    with _repeating(cycle, 0.1) as lift:
        yield lift


@contextlib.contextmanager
def error_spike(backend: live.Live) -> Iterator[Lift]:
    """Half the API requests answer 500 (a bad deploy)."""
    backend.fault("errors", ratio=0.5)
    yield lambda: backend.fault("errors", ratio=0)


@contextlib.contextmanager
def miss_storm(backend: live.Live) -> Iterator[Lift]:
    """Clients ask for keys the cache never holds (a deploy changed the key format): every lookup misses."""
    keys = itertools.count()
    with (
        httpx.Client(base_url=backend.url, timeout=5) as client,
        _repeating(lambda: client.get(f"/api/cache/new-format-{next(keys)}"), 0.01) as lift,
    ):
        yield lift


@contextlib.contextmanager
def partition(backend: live.Live, proxy: Proxy) -> Iterator[Lift]:
    """The path between the clients and the server drops the server's answers (requests still arrive):
    the backend is healthy on its host, its clients see timeouts and half-open sockets."""
    proxy.set_mode("blackhole")
    try:
        yield lambda: proxy.set_mode("pass")
    finally:
        proxy.set_mode("pass")


@contextlib.contextmanager
def upgrade_dropped(backend: live.Live, proxy: Proxy) -> Iterator[Lift]:
    """A deploy: the proxy's new config stops passing the Upgrade header, and the server restarts
    (SIGTERM: it drains every socket with 1001, its supervisor starts a new one). HTTP still works;
    every WebSocket reconnect is refused (426)."""
    proxy.set_mode("no-upgrade")
    pid = backend.server_pid()
    os.kill(pid, signal.SIGTERM)
    live.wait_for(lambda: backend.server_pid() != pid, 20, "the supervisor to start a new server")
    try:
        yield lambda: proxy.set_mode("pass")
    finally:
        proxy.set_mode("pass")


@contextlib.contextmanager
def near_capacity(backend: live.Live) -> Iterator[Lift]:
    """Idle clients fill the hub to 93 % of its places."""
    capacity = int(backend.metric("backend_ws_connections_capacity"))
    wanted = -(-capacity * 93 // 100) - int(backend.metric("backend_ws_connections_active"))
    with contextlib.ExitStack() as stack:
        for _ in range(wanted):
            sock = stack.enter_context(connect(backend.ws_url, compression=None, proxy=None, close_timeout=0.2))
            sock.recv(timeout=5)  # the hello: registered
        yield stack.close


def restart_service(backend: live.Live) -> live.Live:
    """`systemctl start backend`: a new supervisor on the same port and data directory."""
    port = int(backend.url.rsplit(":", 1)[1])
    settings = {
        k.removeprefix("BACKEND_").lower(): v
        for k, v in backend.env.items()
        if k.startswith("BACKEND_")
        and k not in ("BACKEND_PORT", "BACKEND_DATA_DIR", "BACKEND_HOST", "BACKEND_FAULTS_TOKEN")
    }
    return live.start(backend.log_path.parent, "supervise", port=port, data_dir=backend.data_dir, **settings)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "hung-server",
            "backend-down",
            "server alive but silent (SIGSTOP)",
            hung_server,
            {"supervisor_health_failures": 1000},  # the watchdog is slower than the reader here
            lingering={"latency.p95": "requests that waited out the hang, over the alert's 1-minute window"},
        ),
        Scenario("supervisor-gone", "backend-down", "supervisor killed; its server died with it", supervisor_gone),
        Scenario(
            "crash-loop",
            "backend-crash-looping",
            "server killed three times in a row",
            crash_loop,
            lingering={"process.restarts": "counts restarts over the alert's 10-minute window"},
        ),
        Scenario(
            "db-write-lock",
            "database-unavailable",
            "another process holds SQLite's write lock",
            write_lock,
            lingering={
                "errors.ratio": "the writes refused during the lock, over the alert's 1-minute window",
                "db.errors": "the same refusals, over the alert's 1-minute window",
                "latency.p95": "writes waited out the busy timeout, over the alert's 1-minute window",
            },
        ),
        Scenario(
            "database-lost",
            "database-unavailable",
            "the database file deleted; last night's backup exists",
            database_lost,
            env=lambda backend: {"BACKEND_BACKUP": str(_backup_of(backend))},
            lingering={
                "errors.ratio": "the writes refused while the file was gone, over the alert's 1-minute window",
                "db.errors": "the same refusals, over the alert's 1-minute window",
            },
        ),
        Scenario(
            "cache-disk-full",
            "cache-disk-failure",
            "the cache's own filesystem is full",
            cache_disk_full,
            prepare=lambda data: tmpfs(data / "cache", "2m"),
        ),
        Scenario("cache-dir-deleted", "cache-disk-failure", "rm -rf of the cache directory", cache_dir_deleted),
        Scenario(
            "idle-connections",
            "connections-timed-out",
            "clients open connections and send nothing",
            idle_connections,
            {"http_header_timeout": 1.0},
            stand_in_does="the clients are blocked at the firewall (load lifted)",
            lingering={"http.refused": "the refused connections, over the alert's 1-minute window"},
        ),
        Scenario(
            "overload",
            "overloaded",
            "32 clients keep asking a slowed instance for more than it serves",
            overload,
            {"max_in_flight": 16},
            stand_in_does="capacity is added / the clients are throttled at the proxy (load lifted)",
            lingering={
                "http.shed": "the refusals, over the alert's 1-minute window",
                "errors.ratio": "the 503 refusals, over the alert's 1-minute window",
                "latency.p95": "the slowed requests, over the alert's window",
            },
        ),
        Scenario(
            "upgrade-dropped",
            "clients-not-reconnecting",
            "the proxy stops passing Upgrade; sockets dropped",
            upgrade_dropped,
            via_proxy=True,
            stand_in_does="the proxy's config is rolled back (Upgrade passes again)",
            lingering={"ws.handshakes": "the refused handshakes, over the alert's 1-minute window"},
        ),
        Scenario(
            "data-disk-almost-full",
            "data-disk-almost-full",
            "a stray export fills the data volume to 92 %",
            data_disk_almost_full,
            prepare=lambda data: tmpfs(data, "64m"),
            env=_archive,
        ),
        Scenario(
            "memory-pressure",
            "memory-high",
            "RSS past the watermark: new work is shed",
            memory_pressure,
            {"memory_watermark_bytes": 150 * 2**20},
            lingering={"errors.ratio": "the requests shed with 503, over the alert's 1-minute window"},
        ),
        Scenario(
            "ws-drop-storm",
            "websocket-disconnect-storm",
            "every socket cut by the server, again and again",
            ws_drop_storm,
            lingering={"ws.disconnects": "counts closes over the alert's 1-minute window"},
            stand_in_does="the component cutting the sockets is stopped (storm lifted)",
        ),
        Scenario(
            "slow-consumer-storm",
            "websocket-disconnect-storm",
            "clients stop reading under a broadcast flood",
            # the flood blocks the loop for seconds at a time; the watchdog is not what this proves
            slow_consumer_storm,
            {"ws_send_queue": 4, "max_body_bytes": 2**20, "ws_replay_buffer": 50},
            lingering={
                "ws.disconnects": "counts closes over the alert's 1-minute window",
                "ws.slow_consumers": "counts drops over the alert's 1-minute window",
            },
            stand_in_does="the flooding publisher is slowed down (storm lifted)",
        ),
        Scenario(
            "injected-latency",
            "api-latency-high",
            "every API request 1.5 s slower",
            injected_latency,
            lingering={
                "latency.p95": "p95 over the alert's 1-minute window",
                "ws.broadcast_rtt": "the probe's broadcast is an API request",
            },
            stand_in_does="the slow dependency is failed over (latency fault lifted)",
        ),
        Scenario(
            "error-spike",
            "api-error-rate-high",
            "half the API requests answer 500",
            error_spike,
            lingering={"errors.ratio": "5xx share over the alert's 1-minute window"},
            stand_in_does="the bad deploy is rolled back (error fault lifted)",
        ),
        Scenario(
            "miss-storm",
            "cache-hit-rate-low",
            "every lookup asks for a key the cache never held",
            miss_storm,
            lingering={"cache.hit_ratio": "hit ratio over the alert's 5-minute window"},
            stand_in_does="the client asking for new-format keys is rolled back (storm lifted)",
        ),
        Scenario(
            "partition",
            "network-partition",
            "the network drops the server's answers to its clients",
            partition,
            via_proxy=True,
            lingering={"ws.disconnects": "counts the cut sockets over the alert's 1-minute window"},
            stand_in_does="traffic is failed over to a healthy path (the proxy passes again)",
        ),
        Scenario(
            "near-capacity",
            "websocket-connections-near-capacity",
            "idle clients hold 93 % of the places",
            near_capacity,
            {"ws_max_connections": 40},
            stand_in_does="capacity is raised or idle clients are cut (the idle clients leave)",
        ),
    )
}
