"""``http``: liveness, readiness (naming the failing part), and a latency sample of /health."""

from __future__ import annotations

import statistics
import time

from checks.context import Context
from checks.result import Result, Status, judge

__all__ = ["check"]

# /ready part -> the threshold whose runbook covers it
PART_LIMIT = {"database": "db.errors_per_second", "cache": "cache.disk_degraded", "memory": "memory.shedding"}


def check(ctx: Context) -> list[Result]:
    health = ctx.target.identify()
    results = [
        Result("http.health", Status.OK, f"alive: pid {health['pid']}, up {health.get('uptime_seconds', 0):.0f} s")
    ]
    status, ready = ctx.target.json("/ready")
    failing = list(ready.get("failing", []))
    if status == 200 and not failing:
        results.append(Result("http.ready", Status.OK, "ready: database, cache and memory all ok"))
    else:
        parts = ready.get("checks", {})
        why = "; ".join(f"{part} {parts.get(part, {}).get('status', '?')}" for part in failing) or f"HTTP {status}"
        runbook = ctx.limits[PART_LIMIT[failing[0]]].runbook if failing and failing[0] in PART_LIMIT else "backend-down"
        results.append(Result("http.ready", Status.FAIL, f"not ready: {why}", runbook=runbook))
    results.append(_latency_sample(ctx))
    limit = ctx.limits["http.refused_connections_per_second"]
    window = ctx.window(limit)
    refused = window.increase("backend_http_connections_refused_total")
    results.append(
        judge(
            "http.refused",
            window.rate("backend_http_connections_refused_total"),
            limit,
            f"{refused:.0f} connections closed before a whole request (408/431) {window.over}",
        )
    )
    return results


def _latency_sample(ctx: Context) -> Result:
    durations = []
    for _ in range(ctx.samples):
        started = time.perf_counter()
        ctx.target.request("GET", "/health")
        durations.append(time.perf_counter() - started)
    cuts = statistics.quantiles(durations, n=100, method="inclusive")
    p50, p95, p99 = cuts[49], cuts[94], cuts[98]
    detail = f"GET /health x{len(durations)}: p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
    return judge("http.latency_p95", p95, ctx.limits["http.p95_latency_seconds"], detail)
