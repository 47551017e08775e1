"""The figures pages may ask for, declared once. A page asking for anything else fails the build.

Each key: (unit, what it is, the command that measures it). A declared key with no measurement
yet renders as "not measured yet" with that command.
"""

from __future__ import annotations

__all__ = ["BASELINE_KEYS", "KeySpec", "RECOVERY_KEYS"]

KeySpec = tuple[str, str, str]

BASELINE_KEYS: dict[str, KeySpec] = {
    "api.mixed.p50_seconds": ("seconds", "API p50, mixed scenario at 1,000 req/s, open loop", "make bench"),
    "api.mixed.p95_seconds": ("seconds", "API p95, mixed scenario at 1,000 req/s, open loop", "make bench"),
    "api.mixed.p99_seconds": ("seconds", "API p99, mixed scenario at 1,000 req/s, open loop", "make bench"),
    "api.mixed.max_seconds": ("seconds", "API max, mixed scenario at 1,000 req/s, open loop", "make bench"),
    "api.mixed.error_ratio": ("ratio", "API error ratio, mixed scenario at 1,000 req/s", "make bench"),
    "api.mixed.achieved_rps": ("per_second", "rate the generator achieved", "make bench"),
    "api.capacity_rps": ("per_second", "highest rate with p99 under 25 ms", "make bench"),
    "api.throughput.hello_rps": ("per_second", "the bare framework's hello-world under wrk", "make bench"),
    "api.throughput.cache_read_rps": ("per_second", "cached read under wrk", "make bench"),
    "api.throughput.cache_read_ratio": ("ratio", "cached read throughput / hello-world, same run", "make bench"),
    "api.throughput.counter_increment_rps": ("per_second", "counter increments (SQLite writes) under wrk",
                                             "make bench"),
    "api.throughput.counter_increment_p99_seconds": ("seconds", "counter increment p99 under wrk, 50 connections",
                                                     "make bench"),
    "ws.rss_per_connection_bytes": ("bytes", "server RSS per held WebSocket (largest hold)", "make bench"),
    "ws.broadcast_1000.p50_seconds": ("seconds", "broadcast delay to the last of 1,000 clients, p50", "make bench"),
    "ws.broadcast_1000.p99_seconds": ("seconds", "broadcast delay to the last of 1,000 clients, p99", "make bench"),
    "ws.echo.p99_seconds": ("seconds", "WebSocket echo round trip at 1,000 msg/s, p99", "make bench"),
    "ws.cycles_per_second": ("per_second", "WebSocket connect/disconnect cycles per second", "make bench"),
    "cache.zipf.hit_ratio": ("ratio", "cache hit ratio, Zipf keys, memory tier at 10 % of key space", "make bench"),
    "cache.zipf.memory_hit_ratio": ("ratio", "share of Zipf reads the memory tier answered", "make bench"),
    "cache.memory.p50_seconds": ("seconds", "cache read answered by memory, p50", "make bench"),
    "cache.disk.p50_seconds": ("seconds", "cache read answered by disk, p50", "make bench"),
    "process.restart.p50_seconds": ("seconds", "supervisor restart after SIGKILL, p50", "make bench"),
    "process.restart.p99_seconds": ("seconds", "supervisor restart after SIGKILL, p99 of 50", "make bench"),
    "memory.soak.slope_bytes_per_kop": ("bytes", "RSS growth per 1,000 operations after warm-up", "make bench"),
    "memory.soak.slope_bound_bytes_per_kop": ("bytes", "|slope| + 2 standard errors, per 1,000 operations",
                                              "make bench"),
    "memory.soak.requests": ("count", "requests in the compressed soak", "make bench"),
}

RECOVERY_KEYS: dict[str, KeySpec] = {
    f"{drill}.{figure}": (unit, f"{drill.replace('_', ' ')}: {text}", "make drill")
    for drill in ("backend_crash", "database_disconnection", "cache_disk_failure", "websocket_drops",
                  "memory_exhaustion", "network_partition")
    for figure, unit, text in (("ttd_seconds", "seconds", "time to detect"),
                               ("ttr_seconds", "seconds", "time to recover"),
                               ("writes_lost", "count", "acknowledged writes lost"))
}
