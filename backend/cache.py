"""The two-tier cache: a memory LRU (cachetools) in front of a disk tier (diskcache).

Writes go to both tiers; reads try memory, then disk, promoting disk hits. All disk work runs on
one worker thread: the event loop never waits on the disk, and writes reach the disk in the order
the API accepted them.

When the disk fails (full, I/O error, directory gone or replaced under the open cache) the cache
keeps serving from memory, counts each error and reports itself degraded. A directory that vanished
is not recreated by the server: that is the operator's step, with the right owner and mode. A
monitor re-tests the directory every probe interval; once it works again the disk tier is reopened
and every key that changed during the outage is removed from it, so a stale disk copy can never come
back."""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import errno
import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import cachetools
import diskcache

from backend.error_log import ErrorLog
from backend.metrics import Metrics

__all__ = ["DiskTier", "DiskTierError", "TieredCache"]

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_DIRTY_KEYS = 10_000
PROBE_BYTES = 4096


class DiskTierError(Exception):
    """A disk-tier operation failed; the message says how."""


def _identity(directory: Path) -> tuple[int, int] | None:
    """The directory's (device, inode), or None when it is gone."""
    try:
        st = os.stat(directory)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class DiskTier:
    """Blocking adapter over diskcache; every method runs on the caller's (worker) thread."""

    def __init__(self, directory: Path, size_limit: int) -> None:
        self.directory = directory
        self.size_limit = size_limit
        self.fault_failing = False
        self._cache: diskcache.Cache | None = None
        self._identity: tuple[int, int] | None = None  # (device, inode) of the directory the cache opened

    def _guard(self, fn: Callable[[diskcache.Cache], T]) -> T:
        if self.fault_failing:
            raise DiskTierError("injected I/O error (drill fault)")
        try:
            if self._cache is None:
                self._cache = diskcache.Cache(str(self.directory), size_limit=self.size_limit)
                self._identity = _identity(self.directory)
            return fn(self._cache)
        except (OSError, sqlite3.Error, diskcache.Timeout) as exc:
            raise DiskTierError(f"{type(exc).__name__}: {exc}") from exc

    def get(self, key: str) -> bytes | None:
        value: bytes | None = self._guard(lambda c: c.get(key))
        return value

    def set(self, key: str, value: bytes) -> None:
        self._guard(lambda c: c.set(key, value))

    def delete(self, key: str) -> None:
        self._guard(lambda c: c.delete(key))

    def probe(self, dirty: builtins.set[str] | None) -> None:
        """Prove the directory takes a real write; on a recovery, reopen and purge ``dirty`` keys."""
        if self.fault_failing:
            raise DiskTierError("injected I/O error (drill fault)")
        if dirty is None and self._identity is not None and _identity(self.directory) != self._identity:
            # writes would go on into the open, deleted files and be lost (`rm -rf` of the directory)
            raise DiskTierError(f"{self.directory} was deleted or replaced while the cache had it open")
        probe = self.directory / ".probe"
        try:
            if self._identity is None:  # the first probe, at start: create it
                self.directory.mkdir(parents=True, exist_ok=True)
                self._identity = _identity(self.directory)
            elif not self.directory.is_dir():
                # recreating it here would hide an operator's mistake and pick an owner and mode for them
                raise DiskTierError(
                    f"{self.directory} is missing; recreate it as the service user "
                    f"(runbooks/cache-disk-failure) and the disk tier comes back by itself"
                )
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                if os.write(fd, b"\0" * PROBE_BYTES) != PROBE_BYTES:
                    raise OSError(errno.ENOSPC, "short write")
                os.fsync(fd)
            finally:
                os.close(fd)
                probe.unlink(missing_ok=True)
        except OSError as exc:
            raise DiskTierError(f"{self.directory} not writable: {exc.strerror or exc}") from exc
        if dirty is None:
            return
        self._identity = _identity(self.directory)  # recovered: this directory is the cache's from now on
        self.close()  # the old handle may point at a deleted file
        if len(dirty) >= MAX_DIRTY_KEYS:
            self._guard(lambda c: c.clear())
        else:
            for key in dirty:
                self.delete(key)

    def close(self) -> None:
        if self._cache is not None:
            try:
                self._cache.close()
            except (OSError, sqlite3.Error):
                log.warning("closing the failed disk tier raised", exc_info=True)
            self._cache = None


class TieredCache:
    """Memory over disk, with the degradation rules in the module docstring."""

    def __init__(self, disk: DiskTier, memory_items: int, metrics: Metrics, errors: ErrorLog | None = None) -> None:
        self.disk = disk
        self.errors = errors or ErrorLog(10.0)
        self.memory: cachetools.LRUCache[str, bytes] = cachetools.LRUCache(maxsize=memory_items)
        self.metrics = metrics
        # every (tier, result) child up front: labels() on each read was a lock and a key build
        self._lookups = {
            (tier, result): metrics.cache_requests.labels(tier, result)
            for tier, result in (
                ("memory", "hit"),
                ("memory", "miss"),
                ("disk", "hit"),
                ("disk", "miss"),
                ("disk", "error"),
            )
        }
        self.degraded_reason: str | None = None
        self._dirty: set[str] = set()
        self._generation = 0
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="cache-disk")

    @property
    def degraded(self) -> bool:
        return self.degraded_reason is not None

    async def _disk(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _disk_failed(self, exc: DiskTierError, key: str | None) -> None:
        self.metrics.cache_disk_errors.inc()
        if key is not None:
            self._mark_dirty(key)
        self.errors.record("cache", "disk", f"disk tier failed, serving from memory only: {exc}")
        self.degraded_reason = str(exc)
        self.metrics.cache_disk_degraded.set(1)

    async def get(self, key: str) -> tuple[bytes, str] | None:
        """Return (value, tier that answered) or None on a miss."""
        value = self.memory.get(key)
        if value is not None:
            self._lookups["memory", "hit"].inc()
            return value, "memory"
        self._lookups["memory", "miss"].inc()
        if self.degraded:
            return None
        generation = self._generation
        try:
            value = await self._disk(self.disk.get, key)
        except DiskTierError as exc:
            self._lookups["disk", "error"].inc()
            self._disk_failed(exc, key)
            return None
        if value is None:
            self._lookups["disk", "miss"].inc()
            return None
        self._lookups["disk", "hit"].inc()
        if generation == self._generation:  # no write raced the read: safe to promote
            self.memory[key] = value
        return value, "disk"

    async def set(self, key: str, value: bytes) -> str:
        """Store in both tiers; returns the tiers that hold it ("memory+disk" or "memory")."""
        self._generation += 1
        self.memory[key] = value
        if self.degraded:
            self._mark_dirty(key)
            return "memory"
        try:
            await self._disk(self.disk.set, key, value)
        except DiskTierError as exc:
            self._disk_failed(exc, key)
            return "memory"
        return "memory+disk"

    async def delete(self, key: str) -> bool:
        """Remove from both tiers; returns whether memory held it."""
        self._generation += 1
        existed = self.memory.pop(key, None) is not None
        if self.degraded:
            self._mark_dirty(key)
            return existed
        try:
            await self._disk(self.disk.delete, key)
        except DiskTierError as exc:
            self._disk_failed(exc, key)
        return existed

    def _mark_dirty(self, key: str) -> None:
        """Remember a key changed while the disk was failing; at the cap the disk is cleared instead."""
        if len(self._dirty) < MAX_DIRTY_KEYS:
            self._dirty.add(key)

    async def probe(self) -> None:
        """Test the disk now: degrade on failure, recover (purging changed keys) on success."""
        dirty = set(self._dirty) if self.degraded else None
        try:
            await self._disk(self.disk.probe, dirty)
        except DiskTierError as exc:
            self._disk_failed(exc, None)
            return
        if self.degraded:
            log.warning("cache disk tier works again after: %s", self.degraded_reason)
            self._dirty.clear()
            self.degraded_reason = None
            self.metrics.cache_disk_degraded.set(0)

    async def monitor(self, interval: float) -> None:
        """Probe every ``interval`` seconds until cancelled (finds a vanished directory too)."""
        while True:
            await self.probe()
            await asyncio.sleep(interval)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.disk.close()
