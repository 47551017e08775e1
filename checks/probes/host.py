"""``host``: free disk under the data directory and host memory. Measures *this* machine, so it is
skipped (saying so) unless the target is on loopback, where the engineer is on the backend's host."""

from __future__ import annotations

import shutil

import psutil

from checks.context import Context
from checks.errors import CheckError
from checks.result import Result, judge, skipped

__all__ = ["check"]


def _size(size: float) -> str:
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.1f} MiB"


def check(ctx: Context) -> list[Result]:
    if not ctx.target.is_local:
        why = f"measures this machine, and {ctx.target.url} is another host: run checks on the backend's host"
        return [skipped("host.memory", why), skipped("host.disk_free", why)]
    memory = psutil.virtual_memory()
    results = [
        judge(
            "host.memory",
            memory.percent / 100,
            ctx.limits["host.memory_ratio"],
            f"{memory.used / 2**30:.1f} GiB used of {memory.total / 2**30:.1f} GiB",
        )
    ]
    if ctx.data_dir is None:
        return [
            *results,
            skipped("host.disk_free", "needs the backend's data directory: set BACKEND_DATA_DIR or pass --data-dir"),
        ]
    try:
        usage = shutil.disk_usage(ctx.data_dir)
    except OSError as exc:
        raise CheckError(f"cannot measure free space of {ctx.data_dir}: {exc.strerror}; check --data-dir") from None
    results.append(
        judge(
            "host.disk_free",
            usage.free / usage.total,
            ctx.limits["host.disk_free_ratio"],
            f"{_size(usage.free)} free of {_size(usage.total)} under {ctx.data_dir}",
        )
    )
    return results
