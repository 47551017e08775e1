"""The fleet's figures (``make bench``, :mod:`scripts.bench.fleet`): three instances on one host and
their message bus, each beside its one-instance anchor from the same run. Rows of
:func:`scripts.results.schema._bench`: key, unit, label, higher is better (None: neither), target.
A family with ``.cpu_seconds`` comes before the ``_seconds`` family that would also match it."""

from __future__ import annotations

__all__ = ["FLEET_FIGURES"]

_P99_TARGET = ("<", 0.060, "ours: < 60 ms to the last of 1,000, as one instance")
_ERRORS_TARGET = ("<", 0.001, "ours: under 0.1 % errors")

FLEET_FIGURES: tuple[tuple[str, str, str, bool | None, tuple[str, float, str] | None], ...] = (
    (
        "fleet.broadcast_1000.p99_seconds",
        "seconds",
        "broadcast to the last of 1,000 spread over three, p99",
        False,
        _P99_TARGET,
    ),
    ("fleet.broadcast_*.cpu_seconds", "seconds", "three instances' CPU per broadcast, clients spread", False, None),
    ("fleet.broadcast_*_ratio", "ratio", "clients spread over three instances / one instance, same run", False, None),
    ("fleet.broadcast_*_seconds", "seconds", "broadcast delay to the last client, spread over three", False, None),
    ("bus.broadcast_*.cpu_seconds", "seconds", "three instances' CPU per broadcast, every client on one", False, None),
    ("bus.broadcast_*_ratio", "ratio", "every client on one instance of a bus / one alone, same run", False, None),
    ("bus.broadcast_*_seconds", "seconds", "broadcast delay to the last client, all on one of three", False, None),
    ("bus.broadcasts_per_second", "per_second", "broadcasts per second through the bus under wrk", True, None),
    ("bus.xadd_per_second", "per_second", "redis-benchmark XADD on the bus's Redis, 50 connections", True, None),
    ("bus.broadcasts_ratio", "ratio", "broadcasts per second through the bus / one instance alone", True, None),
    ("bus.broadcasts_share_of_xadd", "ratio", "broadcasts per second through the bus / Redis's XADD rate", True, None),
    (
        "fleet.cpu.mixed_seconds_per_kreq",
        "seconds",
        "server CPU per 1,000 requests at 1,000 req/s, on the bus",
        False,
        None,
    ),
    ("fleet.cpu.mixed_ratio", "ratio", "CPU per request on the bus / one instance alone, same run", False, None),
    ("fleet.mixed.error_ratio", "ratio", "API error ratio, mixed at 1,000 req/s, on the bus", False, _ERRORS_TARGET),
    (
        "fleet.capacity_pinned_rps",
        "per_second",
        "highest rate with p99 under 25 ms, two instances on CPU 0",
        True,
        None,
    ),
    ("fleet.capacity_pinned.p99_seconds", "seconds", "p99 at the two instances' highest rate that met it", None, None),
    ("fleet.capacity_pinned_ratio", "ratio", "two instances' pinned capacity / one's, same core, same run", True, None),
    ("fleet.throughput.counter_read_rps", "per_second", "counter read under wrk, no read-through cache", True, None),
    (
        "fleet.throughput.counter_read_ratio",
        "ratio",
        "counter read without the read-through cache / with it",
        True,
        None,
    ),
    (
        "fleet.throughput.counter_increment_rps",
        "per_second",
        "increments under wrk on two instances at once",
        True,
        None,
    ),
    ("fleet.throughput.counter_increment_ratio", "ratio", "increments on two instances at once / on one", True, None),
    (
        "fleet.throughput.counter_increment_per_fsync",
        "ratio",
        "two instances' increments / this disk's fsyncs",
        True,
        None,
    ),
)
