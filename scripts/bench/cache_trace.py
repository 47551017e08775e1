"""One recorded trace of counter reads and increments, replayed three ways.

* **live**: against the backend's read-through cache (``backend.read_through``), sized by
  ``BACKEND_READ_CACHE_ITEMS``; its hit ratio comes from the server's own counter
  ``backend_read_cache_requests_total``;
* **LRU**, simulated offline with the same size: what the policy promises, so the live figure must
  sit within 2 points of it (the cache does what its policy says);
* **Belady's MIN** (evict the entry whose next read is farthest; never admit one read later than
  everything held): the best any policy could do with that much memory, the upper bound.
* **W-TinyLFU** (the ``theine`` package), offline, for the frequency-aware alternative.

Every increment invalidates its key in all of them (a write makes the cached value stale), so a
key whose next access is a write is worth nothing to keep. Reads are the only lookups counted.
The first ``warmup`` share of the trace starts from an empty cache and is reported apart.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import random
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence

import cachetools
from theine import Cache as TinyLfu

__all__ = ["Ratios", "Trace", "belady", "lookup_costs", "lru", "record", "tinylfu"]

INFINITY = float("inf")


@dataclasses.dataclass(frozen=True)
class Trace:
    """``ops[i]`` is (is_write, key); keys are ints in ``range(keys)``, most popular first."""

    keys: int
    skew: float
    write_share: float
    seed: int
    warmup: float
    ops: tuple[tuple[bool, int], ...]

    @property
    def warmup_ops(self) -> int:
        return int(len(self.ops) * self.warmup)


@dataclasses.dataclass(frozen=True)
class Ratios:
    """Hits and reads, warm-up and steady state apart."""

    warm_hits: int
    warm_reads: int
    hits: int
    reads: int

    @property
    def warmup(self) -> float:
        return self.warm_hits / self.warm_reads if self.warm_reads else 0.0

    @property
    def steady(self) -> float:
        return self.hits / self.reads if self.reads else 0.0


def record(keys: int, ops: int, skew: float, write_share: float, seed: int = 5, warmup: float = 0.2) -> Trace:
    """Zipf(``skew``) over ``keys`` keys; each op a write with probability ``write_share``."""
    rng = random.Random(seed)
    cumulative = list(itertools.accumulate(1 / rank**skew for rank in range(1, keys + 1)))
    chosen = rng.choices(range(keys), cum_weights=cumulative, k=ops)
    return Trace(keys, skew, write_share, seed, warmup, tuple((rng.random() < write_share, key) for key in chosen))


def _split(hits: Iterable[tuple[int, bool]], warmup_ops: int) -> Ratios:
    """(op index, hit) of every read -> the two ratios."""
    counts = [0, 0, 0, 0]
    for index, hit in hits:
        steady = 2 if index >= warmup_ops else 0
        counts[steady] += hit
        counts[steady + 1] += 1
    return Ratios(*counts)


def lru(trace: Trace, size: int) -> Ratios:
    def reads() -> Iterable[tuple[int, bool]]:
        held: OrderedDict[int, None] = OrderedDict()
        for index, (write, key) in enumerate(trace.ops):
            if write:
                held.pop(key, None)
                continue
            hit = key in held
            if hit:
                held.move_to_end(key)
            else:
                held[key] = None
                if len(held) > size:
                    held.popitem(last=False)
            yield index, hit

    return _split(reads(), trace.warmup_ops)


def _next_reads(ops: Sequence[tuple[bool, int]]) -> list[float]:
    """For each read at i, the index of the same key's next read, or infinity if a write (which
    invalidates) or the end comes first."""
    following: list[float] = [INFINITY] * len(ops)
    upcoming: dict[int, float] = {}
    for index in range(len(ops) - 1, -1, -1):
        write, key = ops[index]
        if write:
            upcoming[key] = INFINITY
        else:
            following[index] = upcoming.get(key, INFINITY)
            upcoming[key] = index
    return following


def belady(trace: Trace, size: int) -> Ratios:
    following = _next_reads(trace.ops)

    def reads() -> Iterable[tuple[int, bool]]:
        held: dict[int, float] = {}  # key -> its next read
        farthest: list[tuple[float, int]] = []  # max-heap by next read, stale entries skipped
        for index, (write, key) in enumerate(trace.ops):
            if write:
                held.pop(key, None)
                continue
            hit = key in held
            upcoming = following[index]
            if not hit and len(held) >= size:
                while -farthest[0][0] != held.get(farthest[0][1]):
                    heapq.heappop(farthest)
                if -farthest[0][0] <= upcoming:
                    yield index, False  # bypass: everything held is read sooner than this key
                    continue
                del held[heapq.heappop(farthest)[1]]
            held[key] = upcoming
            heapq.heappush(farthest, (-upcoming, key))
            yield index, hit

    return _split(reads(), trace.warmup_ops)


def tinylfu(trace: Trace, size: int) -> Ratios:
    def reads() -> Iterable[tuple[int, bool]]:
        cache: TinyLfu[int, int] = TinyLfu(size)
        for index, (write, key) in enumerate(trace.ops):
            if write:
                cache.delete(key)
                continue
            _, hit = cache.get(key)
            if not hit:
                cache.set(key, key)
            yield index, hit

    return _split(reads(), trace.warmup_ops)


def lookup_costs(trace: Trace, size: int) -> dict[str, float]:
    """Seconds per operation of the two libraries on the trace, the same loop around each: what a
    policy costs the request that asks (cachetools' LRU, which the backend uses, and theine)."""
    lru_cache: cachetools.LRUCache[int, int] = cachetools.LRUCache(maxsize=size)
    tiny: TinyLfu[int, int] = TinyLfu(size)

    def with_lru() -> None:
        for write, key in trace.ops:
            if write:
                lru_cache.pop(key, None)
            elif lru_cache.get(key) is None:
                lru_cache[key] = key

    def with_tinylfu() -> None:
        for write, key in trace.ops:
            if write:
                tiny.delete(key)
            elif not tiny.get(key)[1]:
                tiny.set(key, key)

    costs = {}
    for name, run in (("lru", with_lru), ("tinylfu", with_tinylfu)):
        started = time.perf_counter()
        run()
        costs[name] = (time.perf_counter() - started) / len(trace.ops)
    return costs
