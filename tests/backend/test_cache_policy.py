"""Unit tests of the two-tier cache over a real diskcache directory."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from backend.cache import DiskTier, TieredCache
from backend.metrics import Metrics

pytestmark = [pytest.mark.cache_io_off_loop, pytest.mark.one_cache]


def make(tmp_path: Path, memory_items: int = 2) -> TieredCache:
    return TieredCache(DiskTier(tmp_path / "cache", 10 * 1024 * 1024), memory_items, Metrics())


def test_memory_miss_falls_through_to_disk_and_promotes(tmp_path: Path) -> None:
    """Assert an evicted key comes back from disk, then from memory."""

    async def scenario() -> list[str]:
        cache = make(tmp_path)
        for key in ("a", "b", "c"):  # memory holds 2: "a" is evicted
            await cache.set(key, key.encode())
        tiers = [(await cache.get("a"))[1], (await cache.get("a"))[1]]
        assert await cache.get("missing") is None
        cache.close()
        return tiers

    assert asyncio.run(scenario()) == ["disk", "memory"]


def test_disk_failure_degrades_to_memory_and_purges_changed_keys_on_recovery(tmp_path: Path) -> None:
    """Assert writes survive in memory while the disk fails, and a key deleted meanwhile never resurrects."""

    async def scenario() -> None:
        cache = make(tmp_path, memory_items=10)
        await cache.set("old", b"1")
        cache.disk.fault_failing = True
        assert await cache.set("new", b"2") == "memory"
        assert cache.degraded and cache.metrics.cache_disk_errors._value.get() == 1
        assert await cache.delete("old") is True
        assert await cache.get("new") == (b"2", "memory")
        await cache.probe()
        assert cache.degraded  # still failing
        cache.disk.fault_failing = False
        await cache.probe()
        assert not cache.degraded
        cache.memory.clear()
        assert await cache.get("old") is None, "deleted during the outage, must not come back from disk"
        assert await cache.set("new", b"3") == "memory+disk"
        cache.close()

    asyncio.run(scenario())


def test_vanished_directory_is_detected_by_probe(tmp_path: Path) -> None:
    """Assert a cache directory replaced by a file degrades the cache and recovers once it is back."""

    async def scenario() -> None:
        cache = make(tmp_path)
        await cache.set("k", b"v")
        directory = cache.disk.directory
        for child in directory.iterdir():
            child.unlink()
        directory.rmdir()
        directory.write_text("not a directory")
        await cache.probe()
        assert cache.degraded and "deleted or replaced" in (cache.degraded_reason or "")
        directory.unlink()
        await cache.probe()
        assert cache.degraded and "missing; recreate it" in (cache.degraded_reason or "")
        directory.mkdir()
        await cache.probe()
        assert not cache.degraded
        assert await cache.set("k2", b"v2") == "memory+disk"
        assert (directory / "cache.db").exists()
        cache.close()

    asyncio.run(scenario())
