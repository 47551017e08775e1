"""``host``: free disk under the data directory and host memory. Measures *this* machine, so it runs
only when the target is on loopback (the engineer is on the backend's host)."""

from __future__ import annotations

import shutil

import psutil

from checks.context import Context
from checks.errors import CheckError
from checks.result import Result, judge

__all__ = ["check"]


def check(ctx: Context) -> list[Result]:
    if not ctx.target.is_local:
        raise CheckError(f"host checks measure this machine, but {ctx.target.url} is remote; "
                         f"run `checks host` on the backend's host")
    memory = psutil.virtual_memory()
    results = [judge("host.memory", memory.percent / 100, ctx.limits["host.memory_ratio"],
                     f"{memory.used / 2**30:.1f} GiB used of {memory.total / 2**30:.1f} GiB")]
    if ctx.data_dir is not None:
        try:
            usage = shutil.disk_usage(ctx.data_dir)
        except OSError as exc:
            raise CheckError(f"cannot measure free space of {ctx.data_dir}: {exc.strerror}; check --data-dir") from None
        results.append(judge("host.disk_free", usage.free / usage.total, ctx.limits["host.disk_free_ratio"],
                             f"{usage.free / 2**30:.1f} GiB free of {usage.total / 2**30:.1f} GiB under {ctx.data_dir}"))
    return results
