"""``errors``: the share of API requests answered 5xx, and how many admission control refused, over
the alerts' windows."""

from __future__ import annotations

from checks.context import Context, api_route
from checks.promql import Labels
from checks.result import Result, judge

__all__ = ["check"]

REQUESTS = "backend_http_requests_total"
SHED = "backend_http_shed_total"


def _server_error(labels: Labels) -> bool:
    return api_route(labels) and labels.get("status", "").startswith("5")


def check(ctx: Context) -> list[Result]:
    limit = ctx.limits["http.error_ratio"]
    window = ctx.window(limit)
    total = window.increase(REQUESTS, api_route)
    errors = window.increase(REQUESTS, _server_error)
    ratio = errors / total if total else 0.0
    detail = (
        f"{errors:.0f} of {total:.0f} API requests were 5xx {window.over}" if total else f"no API traffic {window.over}"
    )
    shed_limit = ctx.limits["http.shed_per_second"]
    shed_window = ctx.window(shed_limit)
    shed = shed_window.increase(SHED, _admission)
    return [
        judge("errors.ratio", ratio, limit, detail),
        judge(
            "http.shed",
            shed_window.rate(SHED, _admission),
            shed_limit,
            f"{shed:.0f} API requests refused by admission control (503) {shed_window.over}",
        ),
    ]


ADMISSION_REASONS = frozenset({"in_flight", "loop_lag"})  # "memory" sheds belong to the memory check


def _admission(labels: Labels) -> bool:
    return labels.get("reason") in ADMISSION_REASONS
