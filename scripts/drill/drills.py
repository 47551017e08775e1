"""The six fault drills: a steady state, a real fault where one can be made here, the steady state again.

Each drill starts its own supervised backend, keeps a writer, a publisher and a fleet of
WebSocket clients busy, injects its fault, and measures: time to detect (TTD), time to recover
(TTR), acknowledged writes lost or duplicated, broadcasts lost inside the replay window, and the
errors clients saw. ``quick=True`` shortens every phase for the test suite.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from scripts import live
from scripts.drill.faults import tmpfs, write_lock_holder
from scripts.drill.proxy import Proxy
from scripts.drill.traffic import Fleet, Prober, Publisher, Writer

__all__ = [
    "DRILLS",
    "DrillResult",
    "Judged",
    "Traffic",
    "backend_crash",
    "cache_disk_failure",
    "database_disconnection",
    "memory_exhaustion",
    "network_partition",
    "traffic",
    "websocket_drops",
]

MiB = 1024 * 1024


class Judged:
    """A drill's outcome judged by its ``targets`` (target in words -> met): it passes when it has
    targets and met every one. Shared by the fault drills, the client scenarios and the overload drill."""

    targets: dict[str, bool]

    @property
    def passed(self) -> bool:
        return bool(self.targets) and all(self.targets.values())

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "passed": self.passed}  # type: ignore[call-overload]


@dataclasses.dataclass
class DrillResult(Judged):
    """What one drill measured, and which targets it met."""

    name: str
    scenario: str
    fault: str
    detection: str
    ttd_seconds: float | None = None
    ttr_seconds: float | None = None
    writes_acked: int = 0
    writes_lost: int = 0
    writes_duplicated: int = 0
    ws_messages_lost: int = 0
    client_errors: dict[str, int] = dataclasses.field(default_factory=dict)
    targets: dict[str, bool] = dataclasses.field(default_factory=dict)
    figures: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Traffic:
    """The moving parts of a steady state."""

    backend: live.Live
    prober: Prober
    writer: Writer
    publisher: Publisher
    fleet: Fleet

    def errors(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for part in (self.writer, self.publisher, self.fleet):
            for kind, count in part.errors.items():
                total[kind] = total.get(kind, 0) + count
        return total


def _wait(condition: Callable[[], Any], timeout: float) -> float | None:
    """Seconds until ``condition()`` is truthy, or None after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with contextlib.suppress(httpx.HTTPError, OSError):
            if condition():
                return time.monotonic() - started
        time.sleep(0.02)
    return None


@contextlib.contextmanager
def traffic(
    backend: live.Live, client_url: str | None = None, fleet_size: int = 20, write_timeout: float = 2.0
) -> Iterator[Traffic]:
    """Start probing, writing, publishing and listening; wait for the steady state; stop all after."""
    url = client_url or backend.url
    parts = Traffic(
        backend,
        Prober(backend.url),
        Writer(url, write_timeout),
        Publisher(url),
        Fleet(url.replace("http://", "ws://") + "/ws", fleet_size),
    )
    for part in (parts.prober, parts.fleet, parts.writer, parts.publisher):
        part.start()
    try:
        steady = _wait(
            lambda: (
                len(parts.writer.acked) >= 5
                and all(parts.fleet.connected)
                and parts.publisher.acked
                and parts.fleet.all_have(parts.publisher.acked[-1])
            ),
            30,
        )
        if steady is None:
            raise RuntimeError(f"no steady state before the fault; backend log:\n{backend.log()[-2000:]}")
        yield parts
    finally:
        for part in (parts.publisher, parts.writer, parts.fleet, parts.prober):
            part.stop()


def _settle(parts: Traffic, timeout: float = 15) -> int:
    """After recovery: wait until every client has the newest broadcast; return broadcasts lost."""
    before = len(parts.publisher.acked)
    _wait(lambda: len(parts.publisher.acked) > before + 3, timeout)
    newest = parts.publisher.acked[-1]
    _wait(lambda: parts.fleet.all_have(newest), timeout)
    return parts.fleet.lost(parts.publisher.acked)


def _account(result: DrillResult, parts: Traffic) -> None:
    """Fill in what the writer lost or duplicated, read back through the API and from the file."""
    acked = dict(parts.writer.acked)
    result.writes_acked = len(acked)
    with httpx.Client(base_url=parts.backend.url, timeout=10) as client:
        result.writes_lost = sum(
            1
            for seq, item in acked.items()
            if client.get(f"/api/items/{item}").json().get("body", {}).get("seq") != seq
        )
    with contextlib.closing(
        sqlite3.connect(f"file:{parts.backend.data_dir / 'backend.sqlite3'}?mode=ro", uri=True)
    ) as db:
        result.writes_duplicated = db.execute(
            "SELECT count(*) FROM (SELECT json_extract(body, '$.seq') s FROM items "
            "WHERE json_extract(body, '$.drill') = ? GROUP BY s HAVING count(*) > 1)",
            (parts.writer.run_id,),
        ).fetchone()[0]
        result.targets["PRAGMA integrity_check ok"] = db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    result.client_errors = parts.errors()
    result.targets["0 acknowledged writes lost"] = result.writes_lost == 0
    result.targets["0 duplicate writes"] = result.writes_duplicated == 0


@contextlib.contextmanager
def _proxied(tmp: Path) -> Iterator[tuple[live.Live, Proxy]]:
    """A drill backend behind the drill's TCP proxy; both stopped after, the backend even if the proxy fails."""
    with live.running(tmp, "supervise", **BASE_SETTINGS) as backend:
        proxy = Proxy(int(backend.url.rsplit(":", 1)[1]))
        proxy.start()
        try:
            yield backend, proxy
        finally:
            proxy.close()


BASE_SETTINGS: dict[str, object] = {
    "cache_probe_interval": 0.2,
    "memory_check_interval": 0.1,
    "ws_ping_interval": 1,
    "ws_ping_timeout": 2,
    "log_level": "warning",
}


def _start(tmp: Path, **settings: object) -> live.Live:
    return live.start(tmp, "supervise", **{**BASE_SETTINGS, **settings})


def backend_crash(tmp: Path, quick: bool) -> DrillResult:
    result = DrillResult(
        "backend_crash",
        "Backend crash under load",
        "SIGKILL of the server process (real)",
        "/ready refused; the supervisor restarts the server",
    )
    backend = _start(tmp)
    try:
        with traffic(backend) as parts:
            pid = backend.server_pid()
            last_before = parts.publisher.acked[-1]
            killed = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            _wait(lambda: parts.prober.first(killed, lambda s, f: s != 200) is not None, 10)
            result.ttd_seconds = parts.prober.first(killed, lambda s, f: s != 200)
            _wait(lambda: parts.prober.first(killed, lambda s, f: s == 200) is not None, 15)
            result.ttr_seconds = parts.prober.first(killed, lambda s, f: s == 200)

            def resumed() -> bool:
                after = [s for s in parts.publisher.acked if s > last_before]
                return bool(after) and parts.fleet.all_have(after[0])

            if _wait(resumed, 15) is not None:
                result.figures["ws_resumed_seconds"] = round(time.monotonic() - killed, 3)
            time.sleep(1 if quick else 3)
            result.ws_messages_lost = _settle(parts)
        _account(result, parts)
        result.targets.update(
            {
                "serving again < 2 s": result.ttr_seconds is not None and result.ttr_seconds < 2,
                "WebSocket clients resumed < 3 s": result.figures.get("ws_resumed_seconds", 99.0) < 3,
                "0 broadcasts lost in the replay window": result.ws_messages_lost == 0,
            }
        )
    finally:
        backend.stop()
    return result


def database_disconnection(tmp: Path, quick: bool) -> DrillResult:
    result = DrillResult(
        "database_disconnection",
        "Database unavailable (locked by another process)",
        "another process holds SQLite's write lock (real)",
        "/ready names the database",
    )
    backend = _start(tmp)
    try:
        # clients wait longer than the busy timeout (5 s), so they see the backend's own answer
        with traffic(backend, write_timeout=10) as parts, httpx.Client(base_url=backend.url, timeout=5) as client:
            pid = backend.server_pid()
            cache_failures = 0
            started = time.monotonic()
            with write_lock_holder(backend.data_dir / "backend.sqlite3"):
                _wait(lambda: parts.prober.first(started, lambda s, f: "database" in f) is not None, 10)
                result.ttd_seconds = parts.prober.first(started, lambda s, f: "database" in f)
                hold_until = time.monotonic() + (7 if quick else 12)  # past the 5 s busy timeout
                while time.monotonic() < hold_until:
                    put = client.put("/api/cache/drill", json={"at": time.time()})
                    cache_failures += put.status_code != 200 or client.get("/api/cache/drill").status_code != 200
                    time.sleep(0.1)
            released = time.monotonic()
            _wait(lambda: parts.prober.first(released, lambda s, f: s == 200) is not None, 15)
            result.ttr_seconds = parts.prober.first(released, lambda s, f: s == 200)
            result.ws_messages_lost = _settle(parts)
            same_pid = backend.server_pid() == pid
        _account(result, parts)
        kinds = set(parts.writer.errors)
        result.figures["slowest_failed_write_seconds"] = round(parts.writer.slowest_error, 3)
        result.targets.update(
            {
                "/ready names the database < 2 s": result.ttd_seconds is not None and result.ttd_seconds < 2,
                "database routes answer 503, never 500": bool(kinds) and all(k.startswith("HTTP 503") for k in kinds),
                "no hang: each failed write answered within the busy timeout + 1 s": parts.writer.slowest_error < 6,
                "cache kept working": cache_failures == 0,
                "WebSocket kept working": parts.publisher.errors.total() == 0 and result.ws_messages_lost == 0,
                "recovered without a restart": same_pid,
            }
        )
    finally:
        backend.stop()
    return result


def cache_disk_failure(tmp: Path, quick: bool) -> DrillResult:
    result = DrillResult(
        "cache_disk_failure",
        "Cache disk full",
        "the cache directory's filesystem fills up (a 4 MiB tmpfs, real ENOSPC)",
        "/ready names the cache; backend_cache_disk_degraded = 1",
    )
    data = tmp / "data"
    with tmpfs(data / "cache", "4m"):
        backend = _start(tmp, data_dir=data)
        try:
            with traffic(backend) as parts, httpx.Client(base_url=backend.url, timeout=5) as client:
                failures, tiers = 0, set()
                started = time.monotonic()
                filler = data / "cache" / "filler"
                with open(filler, "wb") as handle, contextlib.suppress(OSError):
                    while True:
                        handle.write(b"\0" * 65536)
                        handle.flush()
                _wait(lambda: parts.prober.first(started, lambda s, f: "cache" in f) is not None, 10)
                result.ttd_seconds = parts.prober.first(started, lambda s, f: "cache" in f)
                degraded_metric = backend.metric("backend_cache_disk_degraded")
                until = time.monotonic() + (2 if quick else 5)
                while time.monotonic() < until:
                    put = client.put("/api/cache/drill", json="x" * 50_000)
                    tiers.add(put.json().get("stored_in") if put.status_code == 200 else None)
                    failures += put.status_code != 200 or client.get("/api/cache/drill").status_code != 200
                    time.sleep(0.05)
                filler.unlink()
                healed = time.monotonic()
                _wait(lambda: parts.prober.first(healed, lambda s, f: s == 200) is not None, 15)
                result.ttr_seconds = parts.prober.first(healed, lambda s, f: s == 200)
                resumed = client.put("/api/cache/drill", json=1).json().get("stored_in")
                result.ws_messages_lost = _settle(parts)
            _account(result, parts)
            result.targets.update(
                {
                    "no client-visible cache error": failures == 0,
                    "served from memory only while failing": tiers == {"memory"},
                    "alert condition visible in metrics": degraded_metric == 1,
                    "disk tier resumed by itself": resumed == "memory+disk",
                }
            )
        finally:
            backend.stop()
    return result


def _ws_phase(parts: Traffic, cut: Callable[[], None], clients: int) -> tuple[float | None, float | None, float]:
    """Cut every socket; return (seconds until the registry emptied, until all were back, reconnect spread)."""
    before = len(parts.fleet.reconnects)
    started = time.monotonic()
    cut()
    gone = _wait(lambda: not any(parts.fleet.connected), 10)
    back = _wait(
        lambda: (
            all(parts.fleet.connected)
            and len(parts.fleet.reconnects) - before >= clients
            and parts.backend.metric("backend_ws_connections_active") == clients
        ),
        20,
    )
    times = sorted(parts.fleet.reconnects[before:])
    spread = (times[-1] - times[0]) if len(times) > 1 else 0.0
    return gone, None if back is None else (time.monotonic() - started), spread


def websocket_drops(tmp: Path, quick: bool) -> DrillResult:
    result = DrillResult(
        "websocket_drops",
        "Every WebSocket cut at once",
        "TCP-level RST of every connection through the drill's proxy (real), then a "
        "server-side close of all sockets (fault route)",
        "clients see the close; registry empties",
    )
    clients = 20 if quick else 50
    with _proxied(tmp) as (backend, proxy):
        with traffic(backend, proxy.url, fleet_size=clients) as parts:

            def tcp_cut() -> None:
                proxy.set_mode("reset")
                time.sleep(0.1)
                proxy.set_mode("pass")

            tcp = _ws_phase(parts, tcp_cut, clients)
            server = _ws_phase(parts, lambda: backend.fault("ws-drop"), clients)
            result.ws_messages_lost = _settle(parts)
        _account(result, parts)
        result.ttd_seconds = max((p[0] for p in (tcp, server) if p[0] is not None), default=None)
        result.ttr_seconds = None if tcp[1] is None or server[1] is None else max(tcp[1], server[1])
        result.figures.update(
            {
                "tcp_reconnect_spread_seconds": round(tcp[2], 3),
                "server_reconnect_spread_seconds": round(server[2], 3),
                "clients": clients,
            }
        )
        result.targets.update(
            {
                "all clients reconnected, registry back to the client count": result.ttr_seconds is not None,
                "jittered reconnects (spread >= 50 ms, no thundering herd)": min(tcp[2], server[2]) >= 0.05,
                "0 broadcasts lost in the replay window": result.ws_messages_lost == 0,
            }
        )
    return result


def memory_exhaustion(tmp: Path, quick: bool) -> DrillResult:
    result = DrillResult(
        "memory_exhaustion",
        "Memory beyond the watermark",
        "the server holds 400 MiB past a 300 MiB watermark (fault route: a real allocation)",
        "/ready names memory; API answers 503 + Retry-After",
    )
    backend = _start(tmp, memory_watermark_bytes=300 * MiB)
    try:
        with traffic(backend) as parts:
            pid = backend.server_pid()
            started = time.monotonic()
            backend.fault("memory", megabytes=400)
            _wait(lambda: parts.prober.first(started, lambda s, f: "memory" in f) is not None, 10)
            result.ttd_seconds = parts.prober.first(started, lambda s, f: "memory" in f)
            shed = httpx.post(f"{backend.url}/api/counters/drill/increment", timeout=5)
            time.sleep(1 if quick else 3)
            backend.fault("memory", megabytes=0)
            released = time.monotonic()
            _wait(lambda: parts.prober.first(released, lambda s, f: s == 200) is not None, 15)
            result.ttr_seconds = parts.prober.first(released, lambda s, f: s == 200)
            result.ws_messages_lost = _settle(parts)
            alive = backend.server_pid() == pid and backend.metric("backend_supervisor_restarts_total") == 0
        _account(result, parts)
        result.targets.update(
            {
                "sheds with 503 + Retry-After": shed.status_code == 503 and "retry-after" in shed.headers,
                "no OOM kill (same server process)": alive,
                "service back when pressure ends": result.ttr_seconds is not None,
            }
        )
    finally:
        backend.stop()
    return result


def network_partition(tmp: Path, quick: bool) -> DrillResult:
    result = DrillResult(
        "network_partition",
        "Network partition between clients and backend",
        "the drill's TCP proxy blackholes answers (requests still arrive), then resets, "
        "then heals (real TCP behaviour)",
        "client timeouts (HTTP 2 s, WebSocket ping 1 s)",
    )
    with _proxied(tmp) as (backend, proxy):
        with traffic(backend, proxy.url) as parts:
            started = time.monotonic()
            proxy.set_mode("blackhole")
            _wait(lambda: parts.writer.first_error_at is not None, 15)
            result.ttd_seconds = None if parts.writer.first_error_at is None else parts.writer.first_error_at - started
            time.sleep(2 if quick else 5)
            proxy.set_mode("reset")
            time.sleep(1 if quick else 3)
            proxy.set_mode("pass")
            healed = time.monotonic()
            back = _wait(lambda: (parts.writer.last_ok_at or 0) > healed and all(parts.fleet.connected), 20)
            result.ttr_seconds = back
            result.ws_messages_lost = _settle(parts)
        _account(result, parts)
        result.figures["writes_stored_but_unacknowledged_then_retried"] = parts.writer.replayed
        result.targets.update(
            {
                "clients detect within their timeout (2 s + 0.5 s)": result.ttd_seconds is not None
                and result.ttd_seconds < 2.5,
                "recovery after heal": back is not None,
                "0 broadcasts lost in the replay window": result.ws_messages_lost == 0,
            }
        )
    return result


DRILLS: dict[str, Callable[[Path, bool], DrillResult]] = {
    "backend_crash": backend_crash,
    "database_disconnection": database_disconnection,
    "cache_disk_failure": cache_disk_failure,
    "websocket_drops": websocket_drops,
    "memory_exhaustion": memory_exhaustion,
    "network_partition": network_partition,
}
