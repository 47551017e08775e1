"""``latency``: API p95 from the request-duration histogram over the alert's window."""

from __future__ import annotations

from checks.context import Context, api_route
from checks.promql import histogram_quantile
from checks.result import Result, Status, judge

__all__ = ["check"]

HISTOGRAM = "backend_http_request_duration_seconds"


def check(ctx: Context) -> list[Result]:
    limit = ctx.limits["http.p95_latency_seconds"]
    window = ctx.window(limit)
    p95 = histogram_quantile(0.95, window.bucket_increase(HISTOGRAM, api_route))
    if p95 is None:
        return [Result("latency.p95", Status.OK, f"no API requests {window.over}", None, limit.unit, limit.describe())]
    routes = {
        labels["route"]
        for name, labels, _ in window.after.samples
        if name == f"{HISTOGRAM}_count" and api_route(labels)
    }
    worst = max(
        routes,
        key=lambda r: (
            histogram_quantile(0.95, window.bucket_increase(HISTOGRAM, lambda labels: labels.get("route") == r)) or 0.0
        ),
    )
    return [judge("latency.p95", p95, limit, f"API p95 {window.over}; slowest route {worst}")]
