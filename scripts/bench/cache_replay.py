"""The read-through counter cache measured live: a recorded trace replayed against the backend,
beside the same trace through LRU, Belady and W-TinyLFU offline (:mod:`scripts.bench.cache_trace`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aiohttp
import uvloop

from scripts import live
from scripts.bench import cache_trace
from scripts.bench.suites import Details, Figures

__all__ = ["read_cache"]


async def _replay(url: str, ops: Sequence[tuple[bool, int]], connections: int = 4) -> int:
    """Send the trace's ops in order over ``connections`` keep-alive connections; returns errors."""
    next_index, errors = 0, 0

    async def worker() -> None:
        nonlocal next_index, errors
        async with aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=1)) as client:
            while next_index < len(ops):
                write, key = ops[next_index]
                next_index += 1
                method, path = (
                    ("POST", f"/api/counters/t{key}/increment") if write else ("GET", f"/api/counters/t{key}")
                )
                async with client.request(method, path) as response:
                    await response.read()
                    errors += response.status != 200

    await asyncio.gather(*(worker() for _ in range(connections)))
    return errors


def _read_cache_counts(backend: live.Live) -> tuple[float, float]:
    return (
        backend.metric("backend_read_cache_requests_total", result="hit"),
        backend.metric("backend_read_cache_requests_total", result="miss"),
    )


def read_cache(backend: live.Live, trace: cache_trace.Trace, size: int, sweep: list[int], details: Details) -> Figures:
    """The recorded trace against the live read-through cache of ``size`` entries (the caller starts
    the backend with it), beside LRU, Belady and W-TinyLFU offline at the same size; the offline
    policies also over ``sweep`` sizes for the chart. Every key is created first (increments,
    which leave the cache empty), so the replay starts cold and every read finds its counter."""

    async def seed() -> None:
        async with aiohttp.ClientSession(backend.url) as client:
            for start in range(0, trace.keys, 64):
                responses = await asyncio.gather(
                    *(client.post(f"/api/counters/t{k}/increment") for k in range(start, min(start + 64, trace.keys)))
                )
                for response in responses:
                    response.raise_for_status()
                    response.release()

    uvloop.run(seed())
    counts = [_read_cache_counts(backend)]
    errors = 0
    for part in (trace.ops[: trace.warmup_ops], trace.ops[trace.warmup_ops :]):
        errors += uvloop.run(_replay(backend.url, part))
        counts.append(_read_cache_counts(backend))
    if errors:
        raise RuntimeError(f"{errors} of {len(trace.ops)} replayed requests did not answer 200")
    (h0, m0), (h1, m1), (h2, m2) = counts
    live_warm, live_steady = (h1 - h0) / ((h1 - h0) + (m1 - m0)), (h2 - h1) / ((h2 - h1) + (m2 - m1))
    policies = {"lru": cache_trace.lru, "belady": cache_trace.belady, "tinylfu": cache_trace.tinylfu}
    at_size = {name: simulate(trace, size) for name, simulate in policies.items()}
    details["cache.trace.sweep"] = [[n, *(simulate(trace, n).steady for simulate in policies.values())] for n in sweep]
    reads = sum(not write for write, _ in trace.ops)
    figures: Figures = {
        "cache.trace.size": (size, "count", len(trace.ops)),
        "cache.trace.keys": (trace.keys, "count", len(trace.ops)),
        "cache.trace.live_warmup_hit_ratio": (live_warm, "ratio", trace.warmup_ops),
        "cache.trace.live_hit_ratio": (live_steady, "ratio", reads),
        "cache.trace.live_minus_lru": (abs(live_steady - at_size["lru"].steady), "ratio", reads),
        "cache.trace.lru_warmup_hit_ratio": (at_size["lru"].warmup, "ratio", trace.warmup_ops),
    }
    for name, ratios in at_size.items():
        figures[f"cache.trace.{name}_hit_ratio"] = (ratios.steady, "ratio", reads)
    for name, cost in cache_trace.lookup_costs(trace, size).items():
        figures[f"cache.trace.{name}_lookup_seconds"] = (cost, "seconds", len(trace.ops))
    return figures
