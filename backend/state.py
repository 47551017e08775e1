"""The state of one server process: :class:`Backend` is everything a request may touch.

Apart from the composition root (:mod:`backend.app`) so that the adapters (routes, gateway,
WebSocket, faults) can depend on the state type without depending on the code that wires them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from prometheus_client import generate_latest
from starlette.websockets import WebSocket

from backend.broadcasts import Broadcasts, BusBroadcasts, LocalBroadcasts
from backend.buffers import BufferPool
from backend.bus import Bus
from backend.cache import DiskTier, TieredCache
from backend.db import Database
from backend.error_log import ErrorLog
from backend.history import MetricsHistory
from backend.hub import Hub
from backend.loop_lag import LagShedder
from backend.memory_guard import MemoryGuard, watch
from backend.metrics import Metrics, watch_disk
from backend.read_through import ReadThrough
from backend.restarts import Restarts
from backend.settings import Settings
from backend.tasks import Tasks

__all__ = ["Backend", "InjectedFaults", "Session"]


async def _no_sockets(code: int, reason: str) -> None:
    """Until the WebSocket adapter is wired in, there are no sockets to close."""


@dataclasses.dataclass
class Session:
    """One live ``/ws`` socket and the task that writes to it."""

    websocket: WebSocket
    pump: asyncio.Task[None]
    close_code: int = 0  # set by whichever side closed first
    closed_by: str = ""

    def closed(self, code: int, side: str) -> None:
        """Remember who closed the socket first, with which code (later closes are the echo)."""
        if not self.closed_by:
            self.close_code, self.closed_by = code, side


@dataclasses.dataclass
class InjectedFaults:
    """What the drill routes (:mod:`backend.faults`) currently inject. ``held`` keeps the ballast alive."""

    latency_seconds: float = 0.0
    # lent to each /api request while it waits out latency_seconds: a slow dependency's large answers
    buffers: BufferPool = dataclasses.field(default_factory=BufferPool)
    error_ratio: float = 0.0  # share of /api requests answered 500, as a bad deploy would
    held: list[bytearray] = dataclasses.field(default_factory=list)
    allocations_baseline: tracemalloc.Snapshot | None = None

    @property
    def held_megabytes(self) -> int:
        return sum(len(chunk) for chunk in self.held) // (1024 * 1024)

    def hold(self, megabytes: int) -> None:
        chunk = bytearray(1024 * 1024)
        self.held = [bytearray(chunk) for _ in range(megabytes)]  # copies are touched pages


class Backend:
    """The live state of one server process."""

    def __init__(self, settings: Settings, restarts: Restarts | None = None) -> None:
        self.settings = settings
        self.started_at = time.time()
        self.metrics = Metrics(bus=bool(settings.bus_url))
        self.db = Database(
            settings.data_dir / "backend.sqlite3",
            settings.db_busy_timeout,
            write_batch=settings.db_write_batch,
            write_batch_wait=settings.db_write_batch_wait,
            on_batch=self.metrics.db_write_batch.observe,
        )
        self.counters: ReadThrough[str, int] = ReadThrough(
            0 if settings.bus_url else settings.read_cache_items, self.metrics.read_cache_requests
        )
        self.lag_shedder = LagShedder(settings.shed_loop_lag, self.metrics.loop_lag, self.metrics.loop_lag_shed_share)
        self.errors = ErrorLog(settings.error_log_interval)
        self.cache = TieredCache(
            DiskTier(settings.instance_dir / "cache", settings.cache_disk_bytes),
            settings.cache_memory_items,
            self.metrics,
            self.errors,
        )
        self.hub = Hub(settings.ws_max_connections, settings.ws_send_queue, settings.ws_replay_buffer)
        self.broadcasts = self._broadcasts()
        self.guard = MemoryGuard(settings.memory_watermark_bytes)
        self.faults = InjectedFaults()
        self.restarts = restarts or Restarts()
        self.metrics_history = MetricsHistory(settings.metrics_history_interval, settings.metrics_history_seconds)
        self.ws_sessions: dict[int, Session] = {}
        self.draining = False
        # the database probe /ready is waiting on: concurrent /ready calls share it instead of queueing
        # on the one probe thread (each waits out a held lock: three callers would wait three times)
        self.db_probe: asyncio.Future[None] | None = None
        # wired by the composition root (backend.app) to the WebSocket adapter, which depends on this state
        self.close_sockets: Callable[[int, str], Awaitable[None]] = _no_sockets
        self.tasks = Tasks(self.errors, lambda name: self.metrics.task_restarts.labels(name).inc())
        self.metrics.ws_capacity.set(settings.ws_max_connections)
        self.metrics.memory_watermark.set(settings.memory_watermark_bytes)
        watch_disk(self.metrics, settings.data_dir)
        self.metrics.supervisor_restarts.inc(self.restarts.total)
        self.metrics.supervisor_watchdog_kills.inc(self.restarts.watchdog_kills)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start a one-off background task that is kept referenced and cancelled on shutdown."""
        return self.tasks.spawn(coro)

    async def start(self) -> None:
        self.db.open()
        await self.broadcasts.start()
        if isinstance(self.broadcasts, BusBroadcasts):
            self.tasks.start("bus-reader", self.broadcasts.follow)
            self.tasks.start("bus-report", self.broadcasts.report)
        await self.cache.probe()
        # each loop is restarted if it dies (backend.tasks): a dead memory guard would mean no shedding
        self.tasks.start(
            "memory-guard",
            lambda: watch(
                self.guard,
                self.settings.memory_check_interval,
                self._on_shedding,
            ),
        )
        self.tasks.start("cache-probe", lambda: self.cache.monitor(self.settings.cache_probe_interval))
        self.tasks.start("metrics-history", self._keep_metrics_history)
        if self.lag_shedder.target:  # BACKEND_SHED_LOOP_LAG=0 turns the shedder, and its loop, off
            self.tasks.start("loop-lag", self.lag_shedder.watch)

    def _broadcasts(self) -> Broadcasts:
        keep = self.settings.ws_replay_buffer
        if not self.settings.bus_url:
            return LocalBroadcasts(self.hub, self.db, self.metrics, self.errors, keep)
        instance = f"{self.settings.host}:{self.settings.port}"
        bus = BusBroadcasts(Bus(self.settings.bus_url, keep=keep), self.hub, self.metrics, self.errors, keep, instance)
        bus.on_new_epoch = lambda: self.close_sockets(1012, "the message bus lost its history: resume")
        return bus

    def _on_shedding(self, shedding: bool) -> None:
        self.metrics.memory_shedding.set(int(shedding))
        if shedding:
            rss, watermark = self.guard.rss_bytes, self.guard.watermark_bytes
            self.errors.record("memory", "shedding", f"RSS {rss} B over the {watermark} B watermark: new work gets 503")

    async def _keep_metrics_history(self) -> None:
        """Copy /metrics into the history every interval, from the first second of the process."""
        while True:
            self.metrics_history.record(time.monotonic(), generate_latest(self.metrics.registry))
            await asyncio.sleep(self.metrics_history.interval)

    async def drain(self) -> None:
        """First step of a graceful stop: refuse new sockets, close the live ones with 1001."""
        self.draining = True
        await self.close_sockets(1001, "server shutting down")

    async def stop(self) -> None:
        await self.tasks.stop()
        await self.broadcasts.stop()
        self.cache.close()
        self.db.close()
