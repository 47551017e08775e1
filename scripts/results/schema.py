"""What every recorded figure means, declared once: key, unit, label, the command that measures it,
which direction is better, and its target.

Bench, soak, drills and the test run write figures only under keys declared here (the writer
refuses others); the site renders them with this unit and label; ``bench-quick`` compares them in
this direction. A key may hold one ``*`` for a family (``api.throughput.*_rps``: one per endpoint).
"""

from __future__ import annotations

import dataclasses
import fnmatch

from checks.thresholds import COMPARISONS
from scripts.results.fleet_figures import FLEET_FIGURES

__all__ = [
    "CLIENT_FIGURES",
    "CLIENT_SCENARIOS",
    "CLIENT_VIEW",
    "OVERLOAD_FIGURES",
    "OVERLOAD_MODES",
    "DRILL_FIGURES",
    "DRILLS",
    "FIGURES",
    "Figure",
    "UnknownFigure",
    "drills_of",
    "figure",
]


class UnknownFigure(KeyError):
    """A key no declaration covers: a typo in a page, or a new figure not declared here yet."""

    def __str__(self) -> str:
        return f"figure {self.args[0]!r} is not declared in scripts/results/schema.py"


@dataclasses.dataclass(frozen=True)
class Figure:
    """One figure (or one family of them, with ``*`` in the key)."""

    key: str
    unit: str  # ratio | seconds | bytes | count | per_second
    label: str
    command: str  # what measures it: `make bench`, `make drill`, `make test`, `make soak HOURS=8`
    higher_is_better: bool | None = None  # None: neither (a size of the run, a count of work)
    target: tuple[str, float, str] | None = None  # (comparison, value, the target in words)

    def met(self, value: float) -> bool | None:
        """Whether ``value`` meets the target (None when the figure has none)."""
        if self.target is None:
            return None
        comparison, limit, _ = self.target
        return COMPARISONS[comparison](value, limit)


def _bench(
    key: str, unit: str, label: str, better: bool | None = None, target: tuple[str, float, str] | None = None
) -> Figure:
    return Figure(key, unit, label, "make bench", better, target)


LOWER, HIGHER = False, True

# The drills of `make drill`, in the order the recovery matrix lists them (tests tie these to
# scripts/drill/drills.py), each with the runbooks that show its latest outcome; drill names are
# the keys of their figures in results/recovery.json (`backend_crash.ttr_seconds`), not faults.
DRILLS: dict[str, tuple[str, ...]] = {
    "backend_crash": ("backend-down", "backend-crash-looping"),
    "database_disconnection": ("database-unavailable",),
    "cache_disk_failure": ("cache-disk-failure",),
    "websocket_drops": ("websocket-disconnect-storm",),
    "memory_exhaustion": ("memory-high",),
    "network_partition": ("network-partition",),
    # several instances (docs/fleet.md): no runbook of their own yet
    "instance_killed": (),
    "bus_restarted": (),
    "bus_stopped": (),
}


def drills_of(runbook: str) -> list[str]:
    """The drills whose outcome the runbook ``runbook`` (its slug) shows under Diagnose."""
    return [name for name, pages in DRILLS.items() if runbook in pages]


DRILL_FIGURES = {
    "ttd_seconds": ("seconds", "time to detect"),
    "ttr_seconds": ("seconds", "time to recover"),
    "writes_lost": ("count", "acknowledged writes lost"),
}

# What the reference client's status page shows through each outage (scripts/drill/client.py), and
# which drill's fault each scenario is the client's view of (the recovery matrix's client columns).
CLIENT_SCENARIOS = (
    "server_killed",
    "server_drained",
    "server_full",
    "server_gone",
    "replay_exceeded",
    "half_open",
    "instance_killed",
    "bus_restarted",
)
CLIENT_VIEW = {
    "backend_crash": "server_killed",
    "network_partition": "half_open",
    "instance_killed": "instance_killed",
    "bus_restarted": "bus_restarted",
}
CLIENT_FIGURES = {
    "outage_shown_seconds": ("seconds", "outage shown on the page after"),
    "live_again_seconds": ("seconds", "page live again after"),
    "missed": ("count", "acknowledged broadcasts the page never got"),
}

# The overload drill (scripts/drill/overload.py): 3x capacity, open loop, with and without admission control.
OVERLOAD_MODES = ("admission", "no_admission")
OVERLOAD_FIGURES = {
    "admitted_p99_seconds": ("seconds", "p99 of the requests served", ("<", 0.1)),
    "refused_p99_seconds": ("seconds", "p99 of the refusals", ("<", 0.01)),
    "recovered_seconds": ("seconds", "latency normal again after the load", ("<=", 5.0)),
    "writes_lost": ("count", "acknowledged writes lost", ("<=", 0.0)),
    "sent_rps": ("per_second", "requests offered per second", None),
}

FIGURES: tuple[Figure, ...] = (
    # the API at 1,000 req/s, open loop
    _bench("api.mixed.p50_seconds", "seconds", "API p50, mixed scenario at 1,000 req/s, open loop", LOWER),
    _bench(
        "api.mixed.p95_seconds",
        "seconds",
        "API p95, mixed scenario at 1,000 req/s, open loop",
        LOWER,
        ("<", 0.5, "plan: p95 < 500 ms at 1,000+ req/s"),
    ),
    _bench(
        "api.mixed.p99_seconds",
        "seconds",
        "API p99, mixed scenario at 1,000 req/s, open loop",
        LOWER,
        ("<", 0.025, "ours: p99 < 25 ms at 1,000 req/s, open loop"),
    ),
    _bench("api.mixed.max_seconds", "seconds", "API max, mixed scenario at 1,000 req/s, open loop", LOWER),
    _bench(
        "api.mixed.error_ratio",
        "ratio",
        "API error ratio, mixed scenario at 1,000 req/s",
        LOWER,
        ("<", 0.001, "ours: under 0.1 % errors"),
    ),
    _bench("api.mixed.achieved_rps", "per_second", "rate the generator achieved"),
    # capacity search
    _bench(
        "api.capacity_rps",
        "per_second",
        "highest rate with p99 under 25 ms",
        HIGHER,
        (">=", 1000, "plan: 1,000+ req/s; here: the highest rate with p99 < 25 ms"),
    ),
    _bench("api.capacity.p99_seconds", "seconds", "p99 at the highest rate that met the target"),
    _bench(
        "api.capacity_pinned_rps",
        "per_second",
        "highest rate with p99 under 25 ms, server and generator each on its own core",
        HIGHER,
        (">=", 2000, "plan: 2,000 req/s at p99 < 25 ms, generator on its own core"),
    ),
    _bench("api.capacity_pinned.p99_seconds", "seconds", "p99 at the highest pinned rate that met the target"),
    # server CPU (user + system, every thread) per 1,000 requests, and its share of a core at 1,000 req/s
    _bench("api.cpu.*_seconds_per_kreq", "seconds", "server CPU seconds per 1,000 requests", LOWER),
    _bench("api.cpu.mixed_core_share", "ratio", "share of one core the server used at 1,000 req/s (mixed)", LOWER),
    _bench("disk.fsyncs_per_second", "per_second", "this disk's single-threaded fsyncs per second (data directory)"),
    # wrk throughput per endpoint against the framework's hello-world
    _bench("api.throughput.hello_rps", "per_second", "the bare framework's hello-world under wrk", HIGHER),
    _bench(
        "api.throughput.cache_read_ratio",
        "ratio",
        "cached read throughput / hello-world, same run",
        HIGHER,
        (">=", 0.70, "ours: cached read >= 70 % of the framework's hello-world"),
    ),
    _bench(
        "api.throughput.counter_increment_ratio",
        "ratio",
        "counter increment throughput / hello-world, same run",
        HIGHER,
        (">=", 0.5, "ours: a durable write >= 50 % of the framework's hello-world"),
    ),
    _bench(
        "api.throughput.item_write_ratio",
        "ratio",
        "item write throughput / hello-world, same run",
        HIGHER,
        (">=", 0.5, "ours: a durable write >= 50 % of the framework's hello-world"),
    ),
    _bench(
        "api.throughput.item_read_ratio",
        "ratio",
        "item read (SQLite) throughput / hello-world, same run",
        HIGHER,
        (">=", 0.6, "ours: a database read >= 60 % of the framework's hello-world"),
    ),
    _bench(
        "api.throughput.counter_read_ratio",
        "ratio",
        "counter read throughput / hello-world, same run",
        HIGHER,
        (">=", 0.6, "ours: a database read >= 60 % of the framework's hello-world"),
    ),
    _bench("api.throughput.*_per_fsync", "ratio", "writes per second / this disk's fsyncs per second", HIGHER),
    _bench("api.throughput.*_rps", "per_second", "requests per second under wrk, 50 connections", HIGHER),
    _bench("api.throughput.*_ratio", "ratio", "throughput / hello-world, same run", HIGHER),
    _bench("api.throughput.*_p99_seconds", "seconds", "p99 under wrk, 50 connections", LOWER),
    # WebSocket
    _bench(
        "ws.rss_per_connection_bytes",
        "bytes",
        "server RSS per held WebSocket (largest hold)",
        LOWER,
        ("<=", 25_000, "ours: <= 25 kB per held connection"),
    ),
    _bench("ws.hold_*.rss_per_connection_bytes", "bytes", "server RSS per held WebSocket at this hold", LOWER),
    _bench("ws.broadcast_1000.p50_seconds", "seconds", "broadcast delay to the last of 1,000 clients, p50", LOWER),
    _bench(
        "ws.broadcast_1000.p99_seconds",
        "seconds",
        "broadcast delay to the last of 1,000 clients, p99",
        LOWER,
        ("<", 0.060, "ours: < 60 ms to the last of 1,000; plan: WS latency < 100 ms"),
    ),
    _bench("ws.broadcast_1000.max_seconds", "seconds", "broadcast delay to the last of 1,000 clients, max", LOWER),
    _bench("ws.broadcast_*.cpu_seconds", "seconds", "server CPU per broadcast to every client, one instance", LOWER),
    _bench("ws.broadcast_*_seconds", "seconds", "broadcast delay to the last client, at this run's fan-out", LOWER),
    _bench(
        "ws.broadcasts_per_second", "per_second", "broadcasts per second under wrk, 50 connections, no listener", HIGHER
    ),
    _bench("ws.cycles_per_second", "per_second", "WebSocket connect/disconnect cycles per second", HIGHER),
    _bench(
        "ws.registry_after_cycles",
        "count",
        "registry entries left after the cycles",
        LOWER,
        ("<=", 0, "registry back to zero after the cycles"),
    ),
    _bench("ws.echo.p50_seconds", "seconds", "WebSocket echo round trip at 1,000 msg/s, p50", LOWER),
    _bench(
        "ws.echo.p99_seconds",
        "seconds",
        "WebSocket echo round trip at 1,000 msg/s, p99",
        LOWER,
        ("<", 0.100, "plan: WebSocket latency < 100 ms (echo at 1,000 msg/s)"),
    ),
    _bench("ws.echo.max_seconds", "seconds", "WebSocket echo round trip at 1,000 msg/s, max", LOWER),
    _bench("ws.echo.achieved_per_second", "per_second", "echo rate the generator achieved"),
    # the fleet (scripts/results/fleet_figures.py)
    *(_bench(*row) for row in FLEET_FIGURES),
    # cache
    _bench(
        "cache.zipf.hit_ratio",
        "ratio",
        "tiered cache, Zipf keys, memory or disk answered (the disk holds every key)",
        HIGHER,
    ),
    _bench("cache.zipf.memory_hit_ratio", "ratio", "share of Zipf reads the memory tier answered", HIGHER),
    _bench("cache.memory.p50_seconds", "seconds", "cache read answered by memory, p50", LOWER),
    _bench("cache.disk.p50_seconds", "seconds", "cache read answered by disk, p50", LOWER),
    _bench("cache.miss.p50_seconds", "seconds", "cache read of a missing key, p50", LOWER),
    # the read-through cache: one recorded trace, live and offline (scripts/bench/cache_trace.py)
    _bench("cache.trace.size", "count", "read-through cache entries (BACKEND_READ_CACHE_ITEMS) in the replay"),
    _bench("cache.trace.keys", "count", "distinct counters in the trace"),
    _bench(
        "cache.trace.live_hit_ratio",
        "ratio",
        "read-through hit ratio, live, steady state",
        HIGHER,
        (">=", 0.9, "plan: > 90 % hit rate under load, at the stated size"),
    ),
    _bench("cache.trace.live_warmup_hit_ratio", "ratio", "read-through hit ratio, live, warm-up (first 20 %)"),
    _bench(
        "cache.trace.live_minus_lru",
        "ratio",
        "|live - LRU simulation|, steady state",
        LOWER,
        ("<=", 0.02, "ours: the live cache within 2 points of its policy's simulation"),
    ),
    _bench("cache.trace.lru_warmup_hit_ratio", "ratio", "LRU simulation, warm-up (first 20 %)"),
    _bench("cache.trace.lru_hit_ratio", "ratio", "LRU simulation, same trace and size, steady state", HIGHER),
    _bench("cache.trace.belady_hit_ratio", "ratio", "Belady's optimum, same trace and size, steady state", HIGHER),
    _bench("cache.trace.tinylfu_hit_ratio", "ratio", "W-TinyLFU (theine), same trace and size, steady state", HIGHER),
    _bench("cache.trace.*_lookup_seconds", "seconds", "one trace operation against the library, offline", LOWER),
    # supervisor
    _bench("process.restart.p50_seconds", "seconds", "supervisor restart after SIGKILL, p50", LOWER),
    _bench(
        "process.restart.p99_seconds",
        "seconds",
        "supervisor restart after SIGKILL, p99 of 50",
        LOWER,
        ("<", 2.0, "ours: restart p99 < 2 s"),
    ),
    _bench(
        "process.restart.children_after",
        "count",
        "server processes under the supervisor afterwards",
        LOWER,
        ("<=", 1, "no leaked child: one server under the supervisor"),
    ),
    _bench(
        "process.restart.listeners_after",
        "count",
        "listeners on the port afterwards",
        LOWER,
        ("<=", 1, "no leaked port: one listener"),
    ),
    # the memory soak (`make bench` compressed; `make soak HOURS=N` writes results/soak.json)
    _bench("memory.soak.requests", "count", "requests in the compressed soak"),
    _bench("memory.soak.ws_cycles", "count", "WebSocket connect/disconnect cycles in the soak"),
    _bench("memory.soak.slope_bytes_per_kop", "bytes", "RSS growth per 1,000 operations after warm-up", LOWER),
    _bench(
        "memory.soak.slope_bound_bytes_per_kop",
        "bytes",
        "|slope| + 2 standard errors, per 1,000 operations",
        LOWER,
        ("<=", 1024, "ours: |slope| + 2 SE within 1 KiB per 1,000 operations"),
    ),
    _bench("memory.soak.rss_growth_bytes", "bytes", "RSS growth over the measured half", LOWER),
    _bench(
        "memory.soak.fds_delta",
        "count",
        "open fds after the soak minus after warm-up",
        LOWER,
        ("<=", 0, "open fds back to the post-warm-up count"),
    ),
    _bench(
        "memory.soak.registry_after",
        "count",
        "WebSocket registry entries after the soak",
        LOWER,
        ("<=", 0, "WebSocket registry back to zero after the soak"),
    ),
    # fault drills
    *(
        Figure(f"{drill}.{name}", unit, f"{drill.replace('_', ' ')}: {text}", "make drill", LOWER)
        for drill in DRILLS
        for name, (unit, text) in DRILL_FIGURES.items()
    ),
    *(
        Figure(f"client.{scenario}.{name}", unit, f"client, {scenario.replace('_', ' ')}: {text}", "make drill", LOWER)
        for scenario in CLIENT_SCENARIOS
        for name, (unit, text) in CLIENT_FIGURES.items()
    ),
    *(
        Figure(
            f"overload.{mode}.{name}",
            unit,
            f"overload at 3x capacity, {mode.replace('_', ' ')}: {text}",
            "make drill",
            LOWER if name != "sent_rps" else None,
            (target[0], target[1], f"ours: {text} {target[0]} {target[1]:g}")
            if target and mode == "admission"
            else None,
        )
        for mode in OVERLOAD_MODES
        for name, (unit, text, target) in OVERLOAD_FIGURES.items()
    ),
    # measured by the test run (a real Prometheus firing each alert it can make)
    Figure(
        "alert.*.ttd_seconds", "seconds", "time from fault to the alert firing in a real Prometheus", "make test", LOWER
    ),
    Figure(
        "alert.*.resolve_seconds",
        "seconds",
        "time from recovery to the alert resolving in a real Prometheus",
        "make test",
        LOWER,
    ),
)

_EXACT = {f.key: f for f in FIGURES if "*" not in f.key}
_FAMILIES = [f for f in FIGURES if "*" in f.key]


def figure(key: str) -> Figure:
    """The declaration covering ``key``: its own, else its family's; :class:`UnknownFigure` if none."""
    if key in _EXACT:
        return _EXACT[key]
    for family in _FAMILIES:
        if fnmatch.fnmatchcase(key, family.key):
            return family
    raise UnknownFigure(key)
