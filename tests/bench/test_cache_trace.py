"""The cache trace's simulations (scripts/bench/cache_trace.py), and the backend's read-through cache
held to the LRU simulation it is compared with in `make bench`."""

from __future__ import annotations

import asyncio
import random

import pytest
from prometheus_client import CollectorRegistry, Counter

from backend.read_through import ReadThrough
from scripts.bench.cache_trace import Ratios, Trace, belady, lru, record, tinylfu


def _trace(ops: list[tuple[bool, int]], warmup: float = 0.0) -> Trace:
    return Trace(keys=max(k for _, k in ops) + 1, skew=0, write_share=0, seed=0, warmup=warmup, ops=tuple(ops))


def _reads(*keys: int) -> list[tuple[bool, int]]:
    return [(False, k) for k in keys]


def test_lru_and_belady_on_a_trace_worked_by_hand() -> None:
    """Size 2, reads 1 2 3 1 2 3 1: LRU always evicts what comes next (0 hits); MIN keeps 1 and
    bypasses the keys read later than everything it holds: hits at the 4th, 5th or 6th and the 7th."""
    trace = _trace(_reads(1, 2, 3, 1, 2, 3, 1))
    assert lru(trace, 2) == Ratios(0, 0, 0, 7)
    assert belady(trace, 2).hits == 3


def test_a_write_invalidates_in_every_policy() -> None:
    trace = _trace([(False, 1), (False, 1), (True, 1), (False, 1), (False, 1)])
    for policy in (lru, belady, tinylfu):
        assert policy(trace, 4).hits == 2, policy.__name__  # the read after the write misses


def test_warmup_is_reported_apart() -> None:
    trace = _trace(_reads(1, 1, 1, 1, 2, 2, 2, 2, 2, 2), warmup=0.4)
    assert lru(trace, 1) == Ratios(warm_hits=3, warm_reads=4, hits=5, reads=6)


@pytest.mark.parametrize("seed", range(5))
def test_belady_is_an_upper_bound(seed: int) -> None:
    trace = record(keys=300, ops=5000, skew=random.Random(seed).uniform(0.6, 1.3), write_share=0.05, seed=seed)
    for size in (10, 50, 150):
        best = belady(trace, size)
        assert best.hits + best.warm_hits >= lru(trace, size).hits + lru(trace, size).warm_hits
        assert best.hits + best.warm_hits >= tinylfu(trace, size).hits + tinylfu(trace, size).warm_hits


def test_the_backend_cache_does_what_the_lru_simulation_says() -> None:
    """The backend's ReadThrough, fed the trace in order (a read loads from a dict standing in for
    SQLite, an increment invalidates), hits exactly where the simulation does."""
    trace = record(keys=2000, ops=20_000, skew=1.1, write_share=0.02, seed=3)
    registry = CollectorRegistry()
    requests = Counter("reads", "reads", ["result"], registry=registry)
    cache: ReadThrough[int, int] = ReadThrough(300, requests)
    values = dict.fromkeys(range(trace.keys), 1)

    async def load(key: int) -> int:
        return values[key]

    async def replay() -> None:
        for write, key in trace.ops:
            if write:
                values[key] += 1
                cache.invalidate(key)
            else:
                assert await cache.get(key, lambda key=key: load(key)) == values[key]

    asyncio.run(replay())
    simulated = lru(trace, 300)
    hits = simulated.hits + simulated.warm_hits
    assert registry.get_sample_value("reads_total", {"result": "hit"}) == hits
    assert registry.get_sample_value("reads_total", {"result": "miss"}) == simulated.reads + simulated.warm_reads - hits
