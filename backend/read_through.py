"""A bounded read-through cache in front of SQLite for counter reads; an increment invalidates.

Why it exists: it is the cache whose hit ratio can fail. Its size (``BACKEND_READ_CACHE_ITEMS``)
is smaller than the key space a busy service reads, so what it answers depends on the workload and
the policy, and ``make bench`` replays one recorded trace against it and against an offline LRU
simulation and Belady's optimum of the same size (the baselines page shows the three).

The policy is plain LRU (cachetools): a frequency-aware policy (W-TinyLFU) was tried on the same
trace; the baselines page gives its figure and why LRU stayed.

Consistency: an increment invalidates the entry after its commit and before it is answered, so a
client that saw its increment acknowledged never reads an older value from here. A read that missed
fills the entry only if no invalidation happened while it was loading (a global generation count),
so a slow load cannot put back a value a write already replaced. A value stays readable from here
while the database is failing: a read of a hot counter still answers during a database outage, and
the first miss gets the 503.

Several instances sharing one database (``BACKEND_BUS_URL`` set) turn it off: an increment on one
instance cannot invalidate another's entry, and a counter read there would go stale for as long as
the entry lived.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

import cachetools
from prometheus_client import Counter

__all__ = ["ReadThrough"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ReadThrough(Generic[K, V]):
    """``get(key, load)`` answers from memory or calls ``load`` and keeps what it returned."""

    def __init__(self, size: int, requests: Counter) -> None:
        self.size = size
        self._entries: cachetools.LRUCache[K, V] = cachetools.LRUCache(maxsize=size)
        self._generation = 0
        self._hit, self._miss = requests.labels("hit"), requests.labels("miss")

    async def get(self, key: K, load: Callable[[], Awaitable[V | None]]) -> V | None:
        if not self.size:  # off: another instance may write the counter, and only SQLite knows
            return await load()
        try:
            value = self._entries[key]  # a hit moves the key to the most recently used end
        except KeyError:
            pass
        else:
            self._hit.inc()
            return value
        self._miss.inc()
        generation = self._generation
        loaded = await load()
        if loaded is not None and generation == self._generation:
            self._entries[key] = loaded
        return loaded

    def invalidate(self, key: K) -> None:
        self._generation += 1
        self._entries.pop(key, None)
