"""The backend's Prometheus metrics, in one registry per app instance.

Names follow Prometheus conventions: base units (seconds, bytes), ``_total`` on counters, a
``backend_`` prefix. Route labels are route *templates* (``/api/counters/{name}``), never raw
paths, so a scan of random URLs cannot blow up the series count. The process collector adds
``process_resident_memory_bytes``, ``process_open_fds`` and ``process_start_time_seconds``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, disable_created_metrics

__all__ = ["Metrics", "watch_disk"]

# The ``*_created`` series double the exposition and no alert or check reads them.
disable_created_metrics()

# Seconds. Dense below 100 ms where a healthy API lives, sparse up to the 1 s p95 alert and beyond.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Every metric the backend exports; attributes are the prometheus_client objects."""

    def __init__(self, bus: bool = False) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        # An instance without a bus exports no bus gauges: a 0 there would read as "bus down" and page.
        bus_reg = reg if bus else None
        ProcessCollector(registry=reg)
        self.http_requests = Counter(
            "backend_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=reg,
        )
        self.http_duration = Histogram(
            "backend_http_request_duration_seconds",
            "Time from request start to the last body byte.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.http_in_flight = Gauge(
            "backend_http_requests_in_flight", "HTTP requests being handled right now.", registry=reg
        )
        self.ws_active = Gauge(
            "backend_ws_connections_active", "WebSocket connections currently registered.", registry=reg
        )
        self.ws_capacity = Gauge(
            "backend_ws_connections_capacity", "Configured WebSocket connection capacity.", registry=reg
        )
        self.ws_rejected = Counter(
            "backend_ws_connections_rejected", "WebSocket connections refused (1013) at capacity.", registry=reg
        )
        self.task_restarts = Counter(
            "backend_task_restarts",
            "Background tasks (memory guard, cache probe, ...) restarted after they died, by task.",
            ["task"],
            registry=reg,
        )
        self.ws_opened = Counter(
            "backend_ws_connections_opened", "WebSocket connections accepted into the hub.", registry=reg
        )
        self.ws_closed = Counter(
            "backend_ws_connections_closed",
            "WebSocket connections ended, by close code and by the side that closed (server or client); "
            "1006 is a connection lost without a close frame.",
            ["code", "side"],
            registry=reg,
        )
        self.ws_sent = Counter("backend_ws_messages_sent", "WebSocket messages written to clients.", registry=reg)
        self.ws_slow_dropped = Counter(
            "backend_ws_slow_consumers_dropped", "Clients disconnected because their send queue filled.", registry=reg
        )
        self.ws_broadcasts_not_persisted = Counter(
            "backend_ws_broadcasts_not_persisted",
            "Broadcasts delivered live but not saved for replay (database unavailable).",
            registry=reg,
        )
        self.ws_broadcast_seq = Gauge(
            "backend_ws_broadcast_sequence", "Sequence number of the latest broadcast.", registry=reg
        )
        self.bus_up = Gauge(
            "backend_bus_up",
            "1 while this instance reads the message bus, 0 while it cannot (only with BACKEND_BUS_URL).",
            registry=bus_reg,
        )
        self.bus_lag = Gauge(
            "backend_bus_lag_broadcasts",
            "Broadcasts numbered on the bus that this instance has not offered to its clients yet.",
            registry=bus_reg,
        )
        self.cache_requests = Counter(
            "backend_cache_requests",
            "Cache lookups by tier and result (hit, miss, error).",
            ["tier", "result"],
            registry=reg,
        )
        self.cache_disk_errors = Counter(
            "backend_cache_disk_errors", "Disk-tier operations that failed (full, I/O error, gone).", registry=reg
        )
        self.cache_disk_degraded = Gauge(
            "backend_cache_disk_degraded",
            "1 while the disk tier is failing and the cache is memory-only.",
            registry=reg,
        )
        self.db_errors = Counter(
            "backend_db_errors",
            "Database operations that failed, by kind (locked, unavailable, other).",
            ["kind"],
            registry=reg,
        )
        self.loop_lag = Gauge(
            "backend_event_loop_lag_seconds",
            "How late the event loop ran a timer at its last tick (queue time).",
            registry=reg,
        )
        self.loop_lag_shed_share = Gauge(
            "backend_http_shed_share",
            "Share of new API requests refused because the event loop runs late.",
            registry=reg,
        )
        self.db_write_batch = Histogram(
            "backend_db_write_batch_size",
            "Writes committed together by one group commit (one fsync).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=reg,
        )
        self.read_cache_requests = Counter(
            "backend_read_cache_requests",
            "Counter reads by the read-through cache's answer (hit, miss).",
            ["result"],
            registry=reg,
        )
        self.memory_sheds = Counter(
            "backend_memory_guard_sheds", "Requests answered 503 because RSS was above the watermark.", registry=reg
        )
        self.memory_shedding = Gauge(
            "backend_memory_guard_shedding", "1 while the memory guard sheds new work.", registry=reg
        )
        self.memory_watermark = Gauge(
            "backend_memory_watermark_bytes", "Configured RSS watermark of the memory guard.", registry=reg
        )
        self.http_shed = Counter(
            "backend_http_shed",
            "API requests refused with 503 before any work, by reason: in_flight "
            "(admission control, BACKEND_MAX_IN_FLIGHT) or memory (RSS above the watermark).",
            ["reason"],
            registry=reg,
        )
        self.http_refused = Counter(
            "backend_http_connections_refused",
            "Connections closed before a request: their head was too slow "
            "(header_timeout) or too large (header_too_large).",
            ["reason"],
            registry=reg,
        )
        self.data_disk_free = Gauge(
            "backend_data_disk_free_bytes",
            "Bytes free on the data directory's filesystem (for the backend's user), read at each scrape.",
            registry=reg,
        )
        self.data_disk_total = Gauge(
            "backend_data_disk_total_bytes",
            "Size of the data directory's filesystem, read at each scrape.",
            registry=reg,
        )
        self.supervisor_restarts = Counter(
            "backend_supervisor_restarts",
            "Restarts of the server by its supervisor since the supervisor started.",
            registry=reg,
        )
        self.supervisor_watchdog_kills = Counter(
            "backend_supervisor_watchdog_kills",
            "Servers the supervisor's watchdog killed because /health stopped answering (hung).",
            registry=reg,
        )


def watch_disk(metrics: Metrics, directory: Path) -> None:
    """Read the data volume's free and total bytes at every scrape: the data directory holds SQLite and
    the disk cache, and a full volume stops both. A directory that vanished reads 0 free."""

    def usage() -> tuple[int, int]:
        try:
            found = shutil.disk_usage(directory)
        except OSError:
            return 0, 0
        return found.free, found.total

    metrics.data_disk_free.set_function(lambda: usage()[0])
    metrics.data_disk_total.set_function(lambda: usage()[1])
