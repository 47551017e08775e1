"""``process``: RSS against the memory watermark, load shedding, file descriptors, restarts, uptime."""

from __future__ import annotations

import time
from typing import Any

from checks.context import Context
from checks.result import Result, Status, judge
from checks.thresholds import Threshold

__all__ = ["check"]


def _restarts(health: dict[str, Any], total: float, limit: Threshold, uptime: float) -> Result:
    """Restarts inside the limit's window (the alert's ``increase(...[window])``), from the ages the
    server reports; a backend too old to report them is judged on its lifetime count, and says so."""
    ages = health.get("restarts_seconds_ago")
    if ages is None:
        return judge(
            "process.restarts",
            total,
            limit,
            f"{total:.0f} supervisor restarts ever (this backend reports no restart times); "
            f"this server up {uptime:.0f} s",
        )
    recent = sum(1 for age in ages if float(age) <= limit.window_seconds)
    return judge(
        "process.restarts",
        recent,
        limit,
        f"{recent} supervisor restarts in the last {limit.window} ({total:.0f} in all); this server up {uptime:.0f} s",
    )


def check(ctx: Context) -> list[Result]:
    health = ctx.target.identify()
    snap = ctx.latest()
    rss = snap.sum("process_resident_memory_bytes")
    watermark = snap.sum("backend_memory_watermark_bytes") or 1.0
    fds, max_fds = snap.sum("process_open_fds"), snap.sum("process_max_fds") or 1.0
    uptime = float(health.get("uptime_seconds", time.time() - snap.sum("process_start_time_seconds")))
    restarts = ctx.limits["process.restarts"]
    return [
        judge(
            "process.rss",
            rss / watermark,
            ctx.limits["memory.rss_ratio"],
            f"RSS {rss / 2**20:.0f} MiB of a {watermark / 2**20:.0f} MiB watermark",
        ),
        judge(
            "process.shedding",
            snap.sum("backend_memory_guard_shedding"),
            ctx.limits["memory.shedding"],
            f"{snap.sum('backend_memory_guard_sheds_total'):.0f} requests shed since start",
        ),
        judge("process.fds", fds / max_fds, ctx.limits["process.fds_ratio"], f"{fds:.0f} of {max_fds:.0f} fds open"),
        _restarts(health, snap.sum("backend_supervisor_restarts_total"), restarts, uptime),
        Result("process.uptime", Status.OK, f"server pid {health['pid']} up {uptime:.0f} s", uptime, "seconds"),
    ]
