"""``cache``: hit ratio (memory or disk hit per lookup) and the health of the disk tier."""

from __future__ import annotations

from checks.context import Context
from checks.promql import Labels
from checks.result import Result, Status, judge

__all__ = ["check"]

REQUESTS = "backend_cache_requests_total"
MIN_LOOKUPS = 20  # below this a ratio is noise: 1 miss in 2 lookups says nothing about the cache


def _hit(labels: Labels) -> bool:
    return labels.get("result") == "hit"


def _lookup(labels: Labels) -> bool:
    return labels.get("tier") == "memory"  # every lookup asks memory first, exactly once


def check(ctx: Context) -> list[Result]:
    hit_limit = ctx.limits["cache.hit_ratio"]
    window = ctx.window(hit_limit)
    lookups, hits = window.increase(REQUESTS, _lookup), window.increase(REQUESTS, _hit)
    if lookups >= MIN_LOOKUPS:
        hit_row = judge(
            "cache.hit_ratio", hits / lookups, hit_limit, f"{hits:.0f} hits of {lookups:.0f} lookups {window.over}"
        )
    else:
        hit_row = Result(
            "cache.hit_ratio",
            Status.OK,
            f"{lookups:.0f} lookups {window.over}: too few to judge (needs {MIN_LOOKUPS})",
            None,
            hit_limit.unit,
            hit_limit.describe(),
        )
    degraded = window.after.sum("backend_cache_disk_degraded")
    errors = window.after.sum("backend_cache_disk_errors_total")
    state = "failing: serving from memory only" if degraded else "ok"
    disk_row = judge(
        "cache.disk_tier",
        degraded,
        ctx.limits["cache.disk_degraded"],
        f"disk tier {state}; {errors:.0f} disk errors since start",
    )
    return [hit_row, disk_row]
