"""The benchmark suites, each against a live supervised backend it is handed.

Every suite returns figures as ``{key: (value, unit, samples)}``. Sizes come from the caller, so
``make bench-quick`` and the test smoke run use the same code at smaller sizes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import random
import time
from typing import Any

import aiohttp
import httpx
import psutil
import uvloop
from websockets.asyncio.client import connect

from scripts import live
from scripts.bench.stats import Latencies
from scripts.bench.wrk import broadcast_rate, cpu_seconds
from scripts.faults import FAULTS, Target
from scripts.pinning import pinned

__all__ = [
    "Details",
    "Figures",
    "OpenLoopRun",
    "api_capacity",
    "api_open_loop",
    "broadcast_delays",
    "broadcast_figures",
    "capacity_search",
    "cache_zipf",
    "connect_cycles",
    "open_loop",
    "restarts",
    "websocket",
    "ws_echo",
]

Figures = dict[str, tuple[float, str, int]]
Details = dict[str, Any]  # what a figure cannot hold: a chart's points, tracemalloc's top lines


def _request_mix(i: int, rng: random.Random, ids: list[int]) -> tuple[str, str, Any]:
    """The mixed scenario: 40 % cached reads, 10 % cache writes, 20 % increments, 15 % item writes, 15 % reads."""
    roll = rng.random()
    if roll < 0.40:
        return "GET", f"/api/cache/k{rng.randrange(1000)}", None
    if roll < 0.50:
        return "PUT", f"/api/cache/k{rng.randrange(1000)}", {"v": i}
    if roll < 0.70:
        return "POST", f"/api/counters/c{rng.randrange(10)}/increment", None
    if roll < 0.85:
        return "POST", "/api/items", {"i": i}
    return "GET", f"/api/items/{rng.choice(ids)}", None


@dataclasses.dataclass
class OpenLoopRun:
    latencies: Latencies
    errors: int
    total: int
    achieved: float  # requests per second the generator managed
    cpu_seconds: float  # the server's CPU time during the load (0 when no process was given)
    elapsed: float


async def _open_loop(
    urls: list[str], rate: float, seconds: float, connections: int, servers: list[psutil.Process] | None = None
) -> OpenLoopRun:
    """Open loop: request i is due at ``i / rate``; latency counts from when it was due.

    ``connections`` workers, one keep-alive connection each, take due requests in order. When all
    are busy, due requests wait in the queue and that wait is part of their latency, so a slow
    server cannot hide its queueing (no coordinated omission). The client is aiohttp on uvloop
    with no task per request: httpx tops out near 700 req/s on one of these cores, aiohttp does not.
    With several ``urls`` (instances of one fleet), worker k keeps to ``urls[k % len(urls)]``, as a
    balancer spreads connections; each instance's own cache is seeded, the shared database once.
    ``servers``: the processes whose CPU time the run reports.
    """
    rng = random.Random(7)
    total = int(rate * seconds)
    latencies, errors = Latencies(), 0
    for url in urls:
        async with aiohttp.ClientSession(url) as seed:
            for k in range(1000):
                async with seed.put(f"/api/cache/k{k}", json={"v": k}):
                    pass
    ids = []
    async with aiohttp.ClientSession(urls[0]) as seed:
        for n in range(100):
            async with seed.post("/api/items", json={"seed": n}) as response:
                ids.append((await response.json())["id"])
    plan = [_request_mix(i, rng, ids) for i in range(total)]
    next_index = 0
    servers = servers or []
    cpu = sum(cpu_seconds(server) for server in servers)
    started = time.perf_counter()

    async def worker(url: str) -> None:
        nonlocal next_index, errors
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(url, connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as client:
            while next_index < total:
                i = next_index
                next_index += 1
                due = started + i / rate
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                method, path, body = plan[i]
                try:
                    async with client.request(method, path, json=body) as response:
                        await response.read()
                        errors += response.status >= 500
                except (TimeoutError, aiohttp.ClientError):
                    errors += 1
                latencies.record(time.perf_counter() - due)

    await asyncio.gather(*(worker(urls[k % len(urls)]) for k in range(connections)))
    elapsed = time.perf_counter() - started
    used = sum(cpu_seconds(server) for server in servers) - cpu
    return OpenLoopRun(latencies, errors, total, total / elapsed, used, elapsed)


def open_loop(urls: list[str], rate: float, seconds: float, server_pids: list[int]) -> OpenLoopRun:
    """The mixed scenario at ``rate`` over ``urls``, 64 connections, with the CPU of ``server_pids``."""
    return uvloop.run(_open_loop(urls, rate, seconds, 64, [psutil.Process(pid) for pid in server_pids]))


def api_open_loop(backend: live.Live, rate: float, seconds: float) -> Figures:
    """The mixed scenario at ``rate``; with the server's CPU per 1,000 requests and its share of a core."""
    run = open_loop([backend.url], rate, seconds, [backend.server_pid()])
    s = run.latencies.summary()
    n, total = run.latencies.count, run.total
    return {
        "api.mixed.p50_seconds": (s["p50"], "seconds", n),
        "api.mixed.p95_seconds": (s["p95"], "seconds", n),
        "api.mixed.p99_seconds": (s["p99"], "seconds", n),
        "api.mixed.max_seconds": (s["max"], "seconds", n),
        "api.mixed.error_ratio": (run.errors / total, "ratio", total),
        "api.mixed.achieved_rps": (run.achieved, "per_second", total),
        "api.cpu.mixed_seconds_per_kreq": (run.cpu_seconds / total * 1000, "seconds", total),
        "api.cpu.mixed_core_share": (run.cpu_seconds / run.elapsed, "ratio", total),
    }


def api_capacity(
    backend: live.Live, rates: list[float], seconds: float, p99_limit: float, details: Details, pin: bool = False
) -> Figures:
    """The highest offered rate (open loop, mixed scenario) at which p99 stays under ``p99_limit``
    (see :func:`capacity_search`). With ``pin``, the server (all its threads) runs on CPU 0 and this
    generator on CPU 1, so neither takes the other's core: the fair figure; without, both share both.
    """
    name = "api.capacity_pinned" if pin else "api.capacity"
    best, best_p99, steps = capacity_search(
        [backend.url], [backend.server_pid()] if pin else [], rates, seconds, p99_limit, name
    )
    details[f"{name}.steps"] = steps
    return {f"{name}_rps": (best, "per_second", len(steps)), f"{name}.p99_seconds": (best_p99, "seconds", len(steps))}


def capacity_search(
    urls: list[str], pinned_pids: list[int], rates: list[float], seconds: float, p99_limit: float, name: str
) -> tuple[float, float, list[list[float]]]:
    """Rates are tried in order; the search stops at the first that fails: p99 at or over the limit,
    any error, or the servers falling more than 5 % behind the offered rate. Returns the best rate,
    its p99, and every step (rate, p99, achieved, errors) for the chart. ``pinned_pids`` (every
    thread) share CPU 0 and this generator has CPU 1; none given: all share both."""
    placement = {pid: {0} for pid in pinned_pids} | ({os.getpid(): {1}} if pinned_pids else {})
    best, best_p99, steps = 0.0, 0.0, []
    with pinned(placement):
        for rate in rates:
            run = uvloop.run(_open_loop(urls, rate, seconds, connections=64))
            p99 = run.latencies.percentile(99)
            steps.append([rate, p99, run.achieved, run.errors])
            print(
                f"  {name} step {rate:>6.0f}/s: p99 {p99 * 1000:7.1f} ms, achieved {run.achieved:7.0f}/s, "
                f"{run.errors} errors",
                flush=True,
            )
            if p99 >= p99_limit or run.errors or run.achieved < 0.95 * rate:
                break
            best, best_p99 = rate, p99
    return best, best_p99, steps


def _connect(ws_url: str) -> Any:
    return connect(ws_url, compression=None, proxy=None, open_timeout=30, ping_interval=None)


async def _echo(ws_url: str, rate: float, seconds: float, connections: int) -> tuple[Latencies, float]:
    """Open loop over ``connections`` sockets: message i is due at ``i / rate``, RTT counts from then."""
    sockets = await asyncio.gather(*(_connect(ws_url) for _ in range(connections)))
    for sock in sockets:
        await sock.recv()  # the hello frame
    total = int(rate * seconds)
    latencies = Latencies()
    started = time.perf_counter() + 0.05

    async def send(k: int, sock: Any) -> None:
        for i in range(k, total, connections):
            wait = started + i / rate - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            await sock.send(json.dumps({"type": "echo", "data": i}))

    async def receive(k: int, sock: Any) -> None:
        for _ in range(k, total, connections):
            reply = json.loads(await sock.recv())
            if reply.get("type") != "echo":
                raise RuntimeError(f"expected an echo reply, got {reply}")
            latencies.record(time.perf_counter() - (started + reply["data"] / rate))

    await asyncio.wait_for(
        asyncio.gather(*(send(k, s) for k, s in enumerate(sockets)), *(receive(k, s) for k, s in enumerate(sockets))),
        seconds + 60,
    )
    achieved = total / (time.perf_counter() - started)
    await asyncio.gather(*(sock.close() for sock in sockets))
    return latencies, achieved


def ws_echo(backend: live.Live, rate: float, seconds: float, connections: int) -> Figures:
    latencies, achieved = uvloop.run(_echo(backend.ws_url, rate, seconds, connections))
    s, n = latencies.summary(), latencies.count
    return {
        "ws.echo.p50_seconds": (s["p50"], "seconds", n),
        "ws.echo.p99_seconds": (s["p99"], "seconds", n),
        "ws.echo.max_seconds": (s["max"], "seconds", n),
        "ws.echo.achieved_per_second": (achieved, "per_second", n),
    }


async def connect_cycles(ws_url: str, cycles: int, concurrency: int = 50) -> float:
    """Open a socket, read its hello, close it; ``cycles`` times, ``concurrency`` at once. Returns cycles/s."""
    semaphore = asyncio.Semaphore(concurrency)

    async def cycle() -> None:
        async with semaphore, _connect(ws_url) as sock:
            await sock.recv()

    started = time.perf_counter()
    await asyncio.gather(*(cycle() for _ in range(cycles)))
    return cycles / (time.perf_counter() - started)


async def broadcast_delays(
    ws_urls: list[str], http_urls: list[str], fanout: int, broadcasts: int, servers: list[psutil.Process]
) -> tuple[Latencies, float]:
    """``fanout`` clients, client k on ``ws_urls[k % len]``; ``broadcasts`` sent one after another,
    each when the last one has reached every client, broadcast b to ``http_urls[b % len]``. Returns
    each broadcast's delay from its POST to its arrival at the last client, and the CPU time
    ``servers`` used over the broadcasts."""
    clients = await asyncio.gather(*(_connect(ws_urls[k % len(ws_urls)]) for k in range(fanout)))
    for sock in clients:
        await sock.recv()
    arrivals: dict[int, int] = {}
    complete: dict[int, asyncio.Event] = {}
    last_arrival: dict[int, float] = {}

    async def reader(sock: Any) -> None:
        """One long-lived reader per client: counts arrivals per sequence number, notes the last one."""
        async for raw in sock:
            seq = json.loads(raw)["seq"]
            arrivals[seq] = arrivals.get(seq, 0) + 1
            if arrivals[seq] == fanout:
                last_arrival[seq] = time.perf_counter()
                complete.setdefault(seq, asyncio.Event()).set()

    readers = [asyncio.create_task(reader(sock)) for sock in clients]
    delays = Latencies()
    cpu = sum(cpu_seconds(server) for server in servers)
    publishers = [httpx.AsyncClient(base_url=url, timeout=30) for url in http_urls]
    try:
        for b in range(broadcasts):
            sent = time.perf_counter()
            answer = await publishers[b % len(publishers)].post("/api/broadcast", json={"message": {"bench": b}})
            seq = answer.raise_for_status().json()["seq"]
            await asyncio.wait_for(complete.setdefault(seq, asyncio.Event()).wait(), 30)
            delays.record(last_arrival[seq] - sent)
    finally:
        used = sum(cpu_seconds(server) for server in servers) - cpu
        await asyncio.gather(*(publisher.aclose() for publisher in publishers))
        await asyncio.gather(*(sock.close() for sock in clients))
        await asyncio.gather(*readers, return_exceptions=True)
    return delays, used


def broadcast_figures(prefix: str, fanout: int, delays: Latencies, cpu: float) -> Figures:
    """The delay percentiles of :func:`broadcast_delays`, and the servers' CPU per broadcast."""
    s, n = delays.summary(), delays.count
    return {
        f"{prefix}.broadcast_{fanout}.p50_seconds": (s["p50"], "seconds", n),
        f"{prefix}.broadcast_{fanout}.p99_seconds": (s["p99"], "seconds", n),
        f"{prefix}.broadcast_{fanout}.max_seconds": (s["max"], "seconds", n),
        f"{prefix}.broadcast_{fanout}.cpu_seconds": (cpu / n, "seconds", n),
    }


async def _ws_suite(backend: live.Live, hold: list[int], fanout: int, broadcasts: int, cycles: int) -> Figures:
    figures: Figures = {}
    server = psutil.Process(backend.server_pid())
    ws_url = backend.ws_url
    for n in hold:
        before = server.memory_info().rss
        sockets = await asyncio.gather(*(_connect(ws_url) for _ in range(n)))
        for sock in sockets:
            await sock.recv()
        per_connection = (server.memory_info().rss - before) / n
        figures[f"ws.hold_{n}.rss_per_connection_bytes"] = (per_connection, "bytes", n)
        await asyncio.gather(*(sock.close() for sock in sockets))
    figures["ws.rss_per_connection_bytes"] = figures[f"ws.hold_{max(hold)}.rss_per_connection_bytes"]

    delays, cpu = await broadcast_delays([ws_url], [backend.url], fanout, broadcasts, [server])
    figures.update(broadcast_figures("ws", fanout, delays, cpu))
    figures["ws.cycles_per_second"] = (await connect_cycles(ws_url, cycles), "per_second", cycles)
    return figures


def websocket(
    backend: live.Live, hold: list[int], fanout: int, broadcasts: int, cycles: int, rate_seconds: float
) -> Figures:
    figures = uvloop.run(_ws_suite(backend, hold, fanout, broadcasts, cycles))
    rate, sent = broadcast_rate(backend.url, rate_seconds)
    figures["ws.broadcasts_per_second"] = (rate, "per_second", sent)
    live.wait_for(lambda: backend.metric("backend_ws_connections_active") == 0, 30, "the registry back to zero")
    figures["ws.registry_after_cycles"] = (backend.metric("backend_ws_connections_active"), "count", cycles)
    return figures


def cache_zipf(backend: live.Live, keys: int, lookups: int) -> Figures:
    """Zipf(1.1) reads over ``keys`` keys, the memory tier holding 10 % of them (set by the caller)."""
    rng = random.Random(11)
    weights = [1 / (rank**1.1) for rank in range(1, keys + 1)]
    by_tier: dict[str, Latencies] = {"memory": Latencies(), "disk": Latencies(), "miss": Latencies()}
    with httpx.Client(base_url=backend.url, timeout=30) as client:
        for k in range(keys):
            client.put(f"/api/cache/z{k}", json=k)
        before_hits = backend.metric("backend_cache_requests_total", result="hit")
        before_lookups = backend.metric("backend_cache_requests_total", tier="memory")
        for k in rng.choices(range(keys), weights, k=lookups):
            started = time.perf_counter()
            response = client.get(f"/api/cache/z{k}")
            tier = response.json().get("tier", "miss") if response.status_code == 200 else "miss"
            by_tier[tier].record(time.perf_counter() - started)
        for k in range(min(lookups // 10, 200)):
            started = time.perf_counter()
            client.get(f"/api/cache/absent{k}")
            by_tier["miss"].record(time.perf_counter() - started)
    hits = backend.metric("backend_cache_requests_total", result="hit") - before_hits
    total = backend.metric("backend_cache_requests_total", tier="memory") - before_lookups - min(lookups // 10, 200)
    memory_hits = by_tier["memory"].count
    figures: Figures = {
        "cache.zipf.hit_ratio": (hits / total, "ratio", lookups),  # memory or disk answered
        "cache.zipf.memory_hit_ratio": (memory_hits / lookups, "ratio", lookups),
    }
    for tier, lat in by_tier.items():
        if lat.count:
            figures[f"cache.{tier}.p50_seconds"] = (lat.percentile(50), "seconds", lat.count)
    return figures


def restarts(backend: live.Live, cycles: int) -> Figures:
    """SIGKILL the server ``cycles`` times through the supervisor; time until /ready answers again."""
    times = Latencies()
    supervisor = psutil.Process(backend.proc.pid)
    for _ in range(cycles):
        pid = backend.server_pid()
        killed = time.perf_counter()
        with FAULTS["server-killed"](Target(backend)):
            pass  # one-shot; the supervisor's restart is what is timed
        live.wait_for(
            lambda: httpx.get(f"{backend.url}/ready", timeout=1).status_code == 200 and backend.server_pid() != pid,  # noqa: B023 - called within this iteration
            15,
            "the restarted server",
            interval=0.005,
        )
        times.record(time.perf_counter() - killed)
    children = supervisor.children(recursive=True)
    listeners = [
        c
        for c in psutil.net_connections("tcp")
        if c.status == "LISTEN" and getattr(c.laddr, "port", None) == backend.port
    ]
    s = times.summary()
    return {
        "process.restart.p50_seconds": (s["p50"], "seconds", cycles),
        "process.restart.p99_seconds": (s["p99"], "seconds", cycles),
        "process.restart.children_after": (len(children), "count", cycles),
        "process.restart.listeners_after": (len(listeners), "count", cycles),
    }
