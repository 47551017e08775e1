"""The fault drills: a steady state, a fault from :mod:`scripts.faults`, the steady state again.

Each drill starts its own supervised backend, keeps a writer, a publisher and a fleet of
WebSocket clients busy (:func:`scripts.drill.traffic.traffic`), makes its fault, and measures: time
to detect (TTD), time to recover (TTR), acknowledged writes lost or duplicated, broadcasts lost
inside the replay window, and the errors clients saw. ``quick=True`` shortens every phase for the
test suite. The drills own measurements, never faults.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from scripts import live
from scripts.drill.accounting import DRILL_SETTINGS, account, first_sample, settle
from scripts.drill.fleet import FLEET_DRILLS
from scripts.drill.outcome import DrillResult
from scripts.drill.traffic import Traffic, traffic
from scripts.faults import FAULTS, Proxy, Target

__all__ = [
    "DRILLS",
    "DRILL_SETTINGS",
    "backend_crash",
    "cache_disk_failure",
    "database_disconnection",
    "memory_exhaustion",
    "network_partition",
    "websocket_drops",
]

MiB = 1024 * 1024


def _start(tmp: Path, **settings: Any) -> live.Live:
    return live.start(tmp, "supervise", **{**DRILL_SETTINGS, **settings})


@contextlib.contextmanager
def _backend(tmp: Path, proxied: bool = False, **settings: Any) -> Iterator[Target]:
    """A drill backend (behind the drill's TCP proxy when ``proxied``); both stopped after."""
    backend = _start(tmp, **settings)
    proxy = Proxy(backend.port) if proxied else None
    try:
        if proxy:
            proxy.start()
        yield Target(backend, proxy)
    finally:
        if proxy:
            proxy.close()
        backend.stop()


def backend_crash(tmp: Path, quick: bool) -> DrillResult:
    result = DrillResult(
        "backend_crash",
        "Backend crash under load",
        "SIGKILL of the server process (real)",
        "/ready refused; the supervisor restarts the server",
    )
    with _backend(tmp) as target:
        with traffic(target.backend) as parts:
            killed = time.monotonic()
            with FAULTS["server-killed"](target):
                result.ttd_seconds = first_sample(parts, killed, lambda s, f: s != 200, 10)
                # recovery counts from the kill to the first good answer after the outage was seen:
                # a probe answered by the dying server in the kill's first milliseconds is not one
                down = killed + (result.ttd_seconds or 0.0)
                acked_before = len(parts.publisher.acked)  # the dying server may have acked some of these
                back = first_sample(parts, down, lambda s, f: s == 200, 15)
                result.ttr_seconds = None if back is None else (result.ttd_seconds or 0.0) + back

                def resumed() -> bool:
                    after = parts.publisher.acked[acked_before:]
                    return bool(after) and parts.fleet.all_have(after[0])

                if live.seconds_until(resumed, 15) is not None:
                    result.figures["ws_resumed_seconds"] = round(time.monotonic() - killed, 3)
                    if result.ttr_seconds is not None:
                        result.figures["ws_resumed_after_serving_seconds"] = round(
                            result.figures["ws_resumed_seconds"] - result.ttr_seconds, 3
                        )
                time.sleep(1 if quick else 3)  # traffic after the recovery, part of the measured run
                settle(parts, result)
        account(result, parts)
    result.targets.update(
        {
            # a new server takes about 1 s to import and open its files on these machines
            "serving again < 3 s": result.ttr_seconds is not None and result.ttr_seconds < 3,
            # the clients' reconnect backoff caps at 2 s: once the server serves again, each has
            # tried again within that, plus the handshake and the replay
            "WebSocket clients resumed < 2.5 s after serving again": result.figures.get(
                "ws_resumed_after_serving_seconds", 99.0
            )
            < 2.5,
            "0 broadcasts lost in the replay window": result.ws_messages_lost == 0,
        }
    )
    return result


def database_disconnection(tmp: Path, quick: bool) -> DrillResult:
    result = DrillResult(
        "database_disconnection",
        "Database unavailable (locked by another process)",
        "another process holds SQLite's write lock (real)",
        "/ready names the database",
    )
    # clients wait longer than the busy timeout (5 s), so they see the backend's own answer
    with (
        _backend(tmp) as target,
        traffic(target.backend, write_timeout=10) as parts,
        httpx.Client(base_url=target.backend.url, timeout=5) as client,
    ):
        pid = target.backend.server_pid()
        cache_failures = 0
        started = time.monotonic()
        with FAULTS["db-write-lock"](target):
            result.ttd_seconds = first_sample(parts, started, lambda s, f: "database" in f, 10)
            hold_until = time.monotonic() + (7 if quick else 12)  # past the 5 s busy timeout
            while time.monotonic() < hold_until:
                put = client.put("/api/cache/drill", json={"at": time.time()})
                cache_failures += put.status_code != 200 or client.get("/api/cache/drill").status_code != 200
                time.sleep(0.1)
        released = time.monotonic()
        result.ttr_seconds = first_sample(parts, released, lambda s, f: s == 200, 15)
        settle(parts, result)
        same_pid = target.backend.server_pid() == pid
        account(result, parts)
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
    return result


def cache_disk_failure(tmp: Path, quick: bool) -> DrillResult:
    result = DrillResult(
        "cache_disk_failure",
        "Cache disk full",
        "the cache directory's filesystem fills up (a 4 MiB tmpfs, real ENOSPC)",
        "/ready names the cache; backend_cache_disk_degraded = 1",
    )
    full = FAULTS["cache-disk-full"]
    data = tmp / "data"
    with full.prepared(data, size="4m"), _backend(tmp, data_dir=data) as target:
        with traffic(target.backend) as parts, httpx.Client(base_url=target.backend.url, timeout=5) as client:
            failures, tiers = 0, set()
            started = time.monotonic()
            with full(target, size="4m") as lift:
                result.ttd_seconds = first_sample(parts, started, lambda s, f: "cache" in f, 10)
                degraded_metric = target.backend.metric("backend_cache_disk_degraded")
                until = time.monotonic() + (2 if quick else 5)
                while time.monotonic() < until:
                    put = client.put("/api/cache/drill", json="x" * 50_000)
                    tiers.add(put.json().get("stored_in") if put.status_code == 200 else None)
                    failures += put.status_code != 200 or client.get("/api/cache/drill").status_code != 200
                    time.sleep(0.05)
                lift()
                healed = time.monotonic()
                result.ttr_seconds = first_sample(parts, healed, lambda s, f: s == 200, 15)
                resumed = client.put("/api/cache/drill", json=1).json().get("stored_in")
                settle(parts, result)
        account(result, parts)
    result.targets.update(
        {
            "no client-visible cache error": failures == 0,
            "served from memory only while failing": tiers == {"memory"},
            "alert condition visible in metrics": degraded_metric == 1,
            "disk tier resumed by itself": resumed == "memory+disk",
        }
    )
    return result


def _ws_phase(parts: Traffic, cut: Callable[[], Any], clients: int) -> tuple[float | None, float | None, float]:
    """Cut every socket; return (seconds until the registry emptied, until all were back, reconnect spread)."""
    before = len(parts.fleet.reconnects)
    started = time.monotonic()
    cut()
    gone = live.seconds_until(lambda: not any(parts.fleet.connected), 10)
    back = live.seconds_until(
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


def _held(fault: str, target: Target, seconds: float) -> Callable[[], None]:
    """Make ``fault`` for ``seconds``, then lift it."""

    def make() -> None:
        with FAULTS[fault](target):
            time.sleep(seconds)

    return make


def websocket_drops(tmp: Path, quick: bool) -> DrillResult:
    result = DrillResult(
        "websocket_drops",
        "Every WebSocket cut at once",
        "TCP-level RST of every connection through the drill's proxy (real), then a "
        "server-side close of all sockets (fault route)",
        "clients see the close; registry empties",
    )
    clients = 20 if quick else 50
    with _backend(tmp, proxied=True) as target:
        proxy = target.need_proxy("websocket_drops")
        with traffic(target.backend, proxy.url, fleet_size=clients) as parts:
            tcp = _ws_phase(parts, _held("connections-reset", target, 0.1), clients)
            server = _ws_phase(parts, _held("sockets-dropped", target, 0), clients)
            settle(parts, result)
        account(result, parts)
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
    with _backend(tmp, memory_watermark_bytes=300 * MiB) as target, traffic(target.backend) as parts:
        backend = target.backend
        pid = backend.server_pid()
        started = time.monotonic()
        with FAULTS["memory-pressure"](target, megabytes=400) as lift:
            result.ttd_seconds = first_sample(parts, started, lambda s, f: "memory" in f, 10)
            shed = httpx.post(f"{backend.url}/api/counters/drill/increment", timeout=5)
            time.sleep(1 if quick else 3)  # the pressure held, as the drill's scenario says
            lift()
            released = time.monotonic()
        result.ttr_seconds = first_sample(parts, released, lambda s, f: s == 200, 15)
        settle(parts, result)
        alive = backend.server_pid() == pid and backend.metric("backend_supervisor_restarts_total") == 0
        account(result, parts)
    result.targets.update(
        {
            "sheds with 503 + Retry-After": shed.status_code == 503 and "retry-after" in shed.headers,
            "no OOM kill (same server process)": alive,
            "service back when pressure ends": result.ttr_seconds is not None,
        }
    )
    return result


def network_partition(tmp: Path, quick: bool) -> DrillResult:
    result = DrillResult(
        "network_partition",
        "Network partition between clients and backend",
        "the drill's TCP proxy blackholes answers (requests still arrive), then resets, then heals "
        "(real TCP behaviour)",
        "client timeouts (HTTP 2 s, WebSocket ping 1 s)",
    )
    with _backend(tmp, proxied=True) as target:
        proxy = target.need_proxy("network_partition")
        with traffic(target.backend, proxy.url) as parts:
            started = time.monotonic()
            with FAULTS["partition"](target):
                live.seconds_until(lambda: parts.writer.first_error_at is not None, 15)
                first_error = parts.writer.first_error_at
                result.ttd_seconds = None if first_error is None else first_error - started
                time.sleep(2 if quick else 5)  # the partition lasts, as the drill's scenario says
                _held("connections-reset", target, 1 if quick else 3)()  # then the path resets, then heals
            healed = time.monotonic()
            result.ttr_seconds = live.seconds_until(
                lambda: (parts.writer.last_ok_at or 0) > healed and all(parts.fleet.connected), 20
            )
            settle(parts, result)
        account(result, parts)
    result.figures["writes_stored_but_unacknowledged_then_retried"] = parts.writer.replayed
    result.targets.update(
        {
            "clients detect within their timeout (2 s + 0.5 s)": result.ttd_seconds is not None
            and result.ttd_seconds < 2.5,
            "recovery after heal": result.ttr_seconds is not None,
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
    **FLEET_DRILLS,
}
