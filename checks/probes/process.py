"""``process``: RSS against the memory watermark, load shedding, file descriptors, restarts, uptime."""

from __future__ import annotations

import time

from checks.context import Context
from checks.result import Result, Status, judge

__all__ = ["check"]


def check(ctx: Context) -> list[Result]:
    health = ctx.target.identify()
    snap = ctx.latest()
    rss = snap.sum("process_resident_memory_bytes")
    watermark = snap.sum("backend_memory_watermark_bytes") or 1.0
    fds, max_fds = snap.sum("process_open_fds"), snap.sum("process_max_fds") or 1.0
    restarts = snap.sum("backend_supervisor_restarts_total")
    uptime = float(health.get("uptime_seconds", time.time() - snap.sum("process_start_time_seconds")))
    return [
        judge("process.rss", rss / watermark, ctx.limits["memory.rss_ratio"],
              f"RSS {rss / 2**20:.0f} MiB of a {watermark / 2**20:.0f} MiB watermark"),
        judge("process.shedding", snap.sum("backend_memory_guard_shedding"), ctx.limits["memory.shedding"],
              f"{snap.sum('backend_memory_guard_sheds_total'):.0f} requests shed since start"),
        judge("process.fds", fds / max_fds, ctx.limits["process.fds_ratio"], f"{fds:.0f} of {max_fds:.0f} fds open"),
        judge("process.restarts", restarts, ctx.limits["process.restarts"],
              f"{restarts:.0f} supervisor restarts; this server up {uptime:.0f} s"),
        Result("process.uptime", Status.OK, f"server pid {health['pid']} up {uptime:.0f} s", uptime, "seconds"),
    ]
