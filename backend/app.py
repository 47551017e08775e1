"""Wires the parts into one ASGI app; :class:`Backend` is everything a request may touch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from fastapi import FastAPI

from backend import errors, faults, routes, ws
from backend.cache import DiskTier, TieredCache
from backend.db import Database
from backend.gateway import Gateway
from backend.hub import Hub
from backend.memory_guard import MemoryGuard, watch
from backend.metrics import Metrics
from backend.settings import Settings

__all__ = ["TELEMETRY_OFF", "Backend", "create_app"]

# The backend exports Prometheus metrics itself. FastAPI's native OpenTelemetry hooks, on by
# default, look up three global providers on every request even when none is configured.
TELEMETRY_OFF = {"tracing": False, "metrics": False, "logs": False}

log = logging.getLogger(__name__)


class Backend:
    """The live state of one server process."""

    def __init__(self, settings: Settings, restarts: int = 0) -> None:
        self.settings = settings
        self.started_at = time.time()
        self.metrics = Metrics()
        self.db = Database(settings.data_dir / "backend.sqlite3", settings.db_busy_timeout)
        self.cache = TieredCache(DiskTier(settings.data_dir / "cache", settings.cache_disk_bytes),
                                 settings.cache_memory_items, self.metrics)
        self.hub = Hub(settings.ws_max_connections, settings.ws_send_queue, settings.ws_replay_buffer)
        self.hub.on_drop = lambda conn: ws.drop_slow(self, conn)
        self.guard = MemoryGuard(settings.memory_watermark_bytes)
        self.faults = faults.Faults()
        self.ws_sessions: dict[int, ws.Session] = {}
        self.draining = False
        self.broadcast_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.metrics.ws_capacity.set(settings.ws_max_connections)
        self.metrics.memory_watermark.set(settings.memory_watermark_bytes)
        self.metrics.supervisor_restarts.inc(restarts)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start a background task that is kept referenced and cancelled on shutdown."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def start(self) -> None:
        self.db.open()
        self.hub.replay.restore(self.db.recent_broadcasts(self.settings.ws_replay_buffer))
        self.metrics.ws_broadcast_seq.set(self.hub.replay.last_seq)
        await self.cache.probe()
        self.spawn(watch(self.guard, self.settings.memory_check_interval,
                         lambda shedding: self.metrics.memory_shedding.set(int(shedding))))
        self.spawn(self.cache.monitor(self.settings.cache_probe_interval))

    async def drain(self) -> None:
        """First step of a graceful stop: refuse new sockets, close the live ones with 1001."""
        self.draining = True
        await ws.close_all(self, 1001, "server shutting down")

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.cache.close()
        self.db.close()


def create_app(settings: Settings, restarts: int = 0) -> Gateway:
    """The ASGI app: FastAPI routes behind the :class:`~backend.gateway.Gateway` layer."""
    backend = Backend(settings, restarts)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await backend.start()
        log.info("backend ready on %s, data in %s", settings.base_url, settings.data_dir)
        yield
        await backend.stop()

    # The API's routes go straight into the app's router: FastAPI matches an included router's
    # routes through an extra layer per request, a quarter of a cached read's time under wrk.
    app = FastAPI(title="backend", lifespan=lifespan, docs_url=None, redoc_url=None,
                  routes=list(routes.router.routes), telemetry=TELEMETRY_OFF)  # type: ignore[arg-type]
    app.state.backend = backend
    errors.install(app)
    if settings.faults_token:
        log.warning("fault injection routes are ENABLED (/_faults); never set BACKEND_FAULTS_TOKEN in production")
        app.include_router(faults.router)
    return Gateway(app, backend)
