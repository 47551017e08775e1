"""``errors``: the share of API requests answered 5xx between two scrapes of /metrics."""

from __future__ import annotations

from checks.context import Context, api_route
from checks.result import Result, judge

__all__ = ["check"]

REQUESTS = "backend_http_requests_total"


def _server_error(labels: dict[str, str]) -> bool:
    return api_route(labels) and labels.get("status", "").startswith("5")


def check(ctx: Context) -> list[Result]:
    window = ctx.window()
    total = window.increase(REQUESTS, api_route)
    errors = window.increase(REQUESTS, _server_error)
    since_total = window.after.sum(REQUESTS, api_route)
    since_errors = window.after.sum(REQUESTS, _server_error)
    lifetime = f"since start {since_errors:.0f} of {since_total:.0f}"
    ratio = errors / total if total else 0.0
    detail = (f"{errors:.0f} of {total:.0f} API requests were 5xx in {window.seconds:.1f} s ({lifetime})"
              if total else f"no API traffic in {window.seconds:.1f} s ({lifetime})")
    return [judge("errors.ratio", ratio, ctx.limits["http.error_ratio"], detail)]
