"""``errors``: the share of API requests answered 5xx over the alert's window."""

from __future__ import annotations

from checks.context import Context, api_route
from checks.result import Result, judge

__all__ = ["check"]

REQUESTS = "backend_http_requests_total"


def _server_error(labels: dict[str, str]) -> bool:
    return api_route(labels) and labels.get("status", "").startswith("5")


def check(ctx: Context) -> list[Result]:
    limit = ctx.limits["http.error_ratio"]
    window = ctx.window(limit)
    total = window.increase(REQUESTS, api_route)
    errors = window.increase(REQUESTS, _server_error)
    ratio = errors / total if total else 0.0
    detail = (f"{errors:.0f} of {total:.0f} API requests were 5xx {window.over}" if total
              else f"no API traffic {window.over}")
    return [judge("errors.ratio", ratio, limit, detail)]
