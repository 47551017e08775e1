"""The overload drill: three times the measured capacity, offered open loop, with admission control
and, in the same run, without it (``BACKEND_MAX_IN_FLIGHT=0``), so the difference is measured.

Each request is due at a fixed time (``i / rate``). The server runs on CPU 0 and the generator
(:mod:`scripts.load_client`, lean enough to offer the rate from one core) on CPU 1, so neither takes
the other's core; the yardstick is the capacity ``make bench`` measured the same way
(``api.capacity_pinned_rps``). Three latencies are kept: the server's (from sending to the answer,
what the targets judge), the schedule's lag (from due to sent: every connection still waiting on
an answer, or the generator's own limit), and their sum for a served request (from due to the
answer, what a client on the schedule waited), and the rate it really sent is reported beside the
one offered. The comparison with and without admission control is made on that sum: a server that
holds every connection makes the generator send less, which shortens the latency measured from
sending (coordinated omission) while the clients wait longer. A quarter of the requests are writes
(``POST /api/items``) whose acknowledged ids are read back afterwards: none may be lost. The
server's RSS is sampled throughout; after the load, a light probe stream measures how long until
latency is back to what it was before."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import threading
import time
from pathlib import Path

import httpx
import psutil
import uvloop

from scripts import live, results
from scripts.bench.stats import Latencies
from scripts.drill.outcome import Judged
from scripts.load_client import Connection, request_bytes
from scripts.pinning import pinned

__all__ = ["OverloadResult", "capacity", "run"]

CONNECTIONS = 400  # more clients than the admission limit: the server, not the generator, decides
FALLBACK_CAPACITY = 2000.0  # req/s, when no `make bench` has measured it on this machine


@dataclasses.dataclass
class OverloadResult(Judged):
    mode: str  # admission | no_admission
    offered_rps: float = 0.0
    sent_rps: float = 0.0
    lag_p99_seconds: float = 0.0  # how far behind its schedule it sent: every connection waiting, or its own limit
    admitted: int = 0
    refused: int = 0
    failed: int = 0  # neither an answer nor a refusal: timeouts, resets, 5xx other than the refusal
    admitted_p99_seconds: float = 0.0
    admitted_from_due_p99_seconds: float = 0.0  # the served request's wait counted from when it was due
    refused_p99_seconds: float = 0.0
    normal_p99_seconds: float = 0.0
    recovered_seconds: float | None = None
    rss_before_bytes: int = 0
    rss_max_bytes: int = 0
    writes_acked: int = 0
    writes_lost: int = 0
    alive: bool = True
    targets: dict[str, bool] = dataclasses.field(default_factory=dict)


def capacity() -> float:
    """The measured capacity of one server on its own core (``make bench``), the drill's yardstick."""
    baselines = results.load(results.DEFAULT_DIR / results.BASELINES)
    measured = baselines.metrics.get("api.capacity_pinned_rps") if baselines else None
    return measured.value if measured and measured.value > 0 else FALLBACK_CAPACITY


async def _offer(url: str, rate: float, seconds: float, result: OverloadResult) -> dict[int, str]:
    """The open-loop load; returns the acknowledged writes (id -> the marker written)."""
    total = int(rate * seconds)
    admitted, refused, lag, from_due = Latencies(), Latencies(), Latencies(), Latencies()
    acked: dict[int, str] = {}
    next_index = 0
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reads = [request_bytes("GET", f"/api/counters/overload-{k}", host) for k in range(10)]
    connections = await asyncio.gather(*(Connection.open(host, int(port)) for _ in range(CONNECTIONS)))
    started = time.perf_counter()

    async def worker(connection: Connection) -> None:
        nonlocal next_index
        # the run lasts ``seconds``: what the generator could not send by then is its limit, not a backlog
        while next_index < total and time.perf_counter() - started < seconds:
            i = next_index
            next_index += 1
            due = started + i / rate
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            sent = time.perf_counter()
            lag.record(sent - due)
            marker = f"overload-{i}"
            write = i % 4 == 0
            raw = request_bytes("POST", "/api/items", host, {"m": marker}) if write else reads[i % 10]
            try:
                status, body = await asyncio.wait_for(connection.request(raw), 30)
            except (TimeoutError, ConnectionError):
                result.failed += 1
                connection = await Connection.open(host, int(port))
                continue
            elapsed = time.perf_counter() - sent
            if status == 503 and b'"busy"' in body:
                refused.record(elapsed)
            elif status < 500:
                admitted.record(elapsed)
                from_due.record(time.perf_counter() - due)
                if write and status == 201:
                    acked[int(json.loads(body)["id"])] = marker
            else:
                result.failed += 1
        connection.close()

    await asyncio.gather(*(worker(c) for c in connections))
    result.sent_rps = next_index / (time.perf_counter() - started)
    result.admitted, result.refused = admitted.count, refused.count
    result.admitted_p99_seconds = admitted.percentile(99) if admitted.count else 0.0
    result.admitted_from_due_p99_seconds = from_due.percentile(99) if from_due.count else 0.0
    result.refused_p99_seconds = refused.percentile(99) if refused.count else 0.0
    result.lag_p99_seconds = lag.percentile(99)
    return acked


def _probe_p99(url: str, seconds: float, rate: float = 50.0) -> tuple[float, int]:
    """p99 of a light, steady stream of reads (what a client sees when nothing else is going on),
    and how many of them were not served (a refusal answers fast, but is no recovery)."""
    latencies, unserved = Latencies(), 0
    with httpx.Client(base_url=url, timeout=10) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            unserved += client.get("/api/counters/probe").status_code != 200
            latencies.record(time.perf_counter() - started)
            time.sleep(1 / rate)
    return latencies.percentile(99), unserved


def _recovery(url: str, normal_p99: float, deadline: float = 30.0) -> float | None:
    """Seconds after the load until a one-second window is all served, its p99 back under twice the
    normal one."""
    started = time.monotonic()
    while time.monotonic() - started < deadline:
        p99, unserved = _probe_p99(url, 1.0)
        if not unserved and p99 <= max(2 * normal_p99, 0.005):
            return round(time.monotonic() - started, 2)
    return None


def _one(tmp: Path, mode: str, rate: float, seconds: float) -> OverloadResult:
    result = OverloadResult(mode, offered_rps=rate)
    settings = {} if mode == "admission" else {"max_in_flight": 0, "shed_loop_lag": 0}
    (tmp / mode).mkdir(parents=True, exist_ok=True)
    with live.running(tmp / mode, "serve", **settings) as backend:
        server = psutil.Process(backend.server_pid())
        httpx.post(f"{backend.url}/api/counters/probe/increment", timeout=10).raise_for_status()
        result.normal_p99_seconds, _ = _probe_p99(backend.url, 2.0)
        result.rss_before_bytes = server.memory_info().rss
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.25):
                try:
                    result.rss_max_bytes = max(result.rss_max_bytes, server.memory_info().rss)
                except psutil.Error:
                    result.alive = False
                    return

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            with pinned({server.pid: {0}, os.getpid(): {1}}):
                acked = uvloop.run(_offer(backend.url, rate, seconds, result))
        finally:
            stop.set()
            sampler.join(5)
        result.alive = result.alive and server.is_running()
        result.recovered_seconds = _recovery(backend.url, result.normal_p99_seconds)
        result.writes_acked = len(acked)
        with httpx.Client(base_url=backend.url, timeout=10) as client:
            result.writes_lost = sum(
                client.get(f"/api/items/{i}").json().get("body", {}).get("m") != marker for i, marker in acked.items()
            )
    result.targets = {
        "the process stays up": result.alive,
        "memory bounded (RSS under twice its start)": result.rss_max_bytes < 2 * result.rss_before_bytes,
        "admitted requests: p99 under 100 ms": result.admitted_p99_seconds < 0.1,
        "refused requests answered within 10 ms (p99)": result.refused_p99_seconds < 0.01,
        "latency back to normal within 5 s of the load ending": (result.recovered_seconds or 99) <= 5,
        "0 acknowledged writes lost": result.writes_lost == 0,
    }
    return result


def run(tmp: Path, quick: bool = False) -> list[OverloadResult]:
    """With admission control, then without: each on a backend of its own, the same load."""
    rate, seconds = 3 * capacity(), 10.0 if quick else 60.0
    return [_one(tmp, mode, rate, seconds) for mode in ("admission", "no_admission")]
