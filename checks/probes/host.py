"""``host``: host memory, and the data directory's volume: free space, free inodes, whether a write
lands; and what changed on the host around the server's start. Measures *this* machine, so it is
skipped (saying so) unless the target is on loopback, where the engineer is on the backend's host."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import psutil

from checks.context import Context
from checks.errors import CheckError
from checks.host_facts import mount_of, server_environment, try_write, unit_files, unit_of
from checks.result import Result, Status, judge, skipped

__all__ = ["check"]


def _size(size: float) -> str:
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.1f} MiB"


def check(ctx: Context) -> list[Result]:
    if not ctx.target.is_local:
        why = f"measures this machine, and {ctx.target.url} is another host: run checks on the backend's host"
        names = ("host.memory", "host.changes", "host.data_volume", "host.disk_free", "host.inodes")
        return [skipped(name, why) for name in names]
    memory = psutil.virtual_memory()
    results = [
        judge(
            "host.memory",
            memory.percent / 100,
            ctx.limits["host.memory_ratio"],
            f"{memory.used / 2**30:.1f} GiB used of {memory.total / 2**30:.1f} GiB",
        ),
        _changes(int(ctx.target.identify()["pid"])),
    ]
    if ctx.data_dir is None:
        return [
            *results,
            *(
                skipped(name, "needs the backend's data directory: set BACKEND_DATA_DIR or pass --data-dir")
                for name in ("host.data_volume", "host.disk_free", "host.inodes")
            ),
        ]
    results.append(_data_volume(ctx.data_dir))
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
    results.append(_inodes(ctx.data_dir, ctx))
    return results


def _data_volume(data_dir: Path) -> Result:
    """Whether a write lands on the data directory's volume, and how it is mounted."""
    mount = mount_of(data_dir)
    where = f"{mount.source} on {mount.point} ({mount.fstype})" if mount else str(data_dir)
    write = try_write(data_dir)
    if write.landed is False or (mount is not None and mount.read_only):
        flags = ",".join(sorted(mount.options & {"ro", "emergency_ro", "shutdown"})) if mount else ""
        why = write.refused or f"mounted {flags}"
        return Result(
            "host.data_volume",
            Status.FAIL,
            f"the data volume {where} refuses writes: {why}; the file may be intact, so do not restore "
            'a backup: see "The data volume is read-only"',
            runbook="database-unavailable",
        )
    if write.landed is None:
        return Result(
            "host.data_volume",
            Status.SKIP,
            f"this user may not write in {data_dir}: run as root or the backend's service user to test the volume",
        )
    return Result("host.data_volume", Status.OK, f"a write lands in {data_dir} ({where})")


def _inodes(data_dir: Path, ctx: Context) -> Result:
    """Free inodes: a volume full of small files refuses new ones with free bytes to spare."""
    stat = os.statvfs(data_dir)
    if not stat.f_files:  # tmpfs without a limit, btrfs: no fixed inode table to run out of
        return Result("host.inodes", Status.OK, f"no fixed inode table under {data_dir}")
    return judge(
        "host.inodes",
        stat.f_favail / stat.f_files,
        ctx.limits["host.disk_free_ratio"],
        f"{stat.f_favail} inodes free of {stat.f_files} under {data_dir}",
    )


_PLACE = frozenset({"BACKEND_HOST", "BACKEND_PORT", "BACKEND_DATA_DIR"})  # where it runs, not how
_SECRET = ("TOKEN", "SECRET", "PASSWORD", "KEY")


def _ago(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _launched(pid: int) -> int:
    """The process whose environment holds the settings as they were given: the server's supervisor
    (which passes the server every setting, defaults included), or the server when it runs alone."""
    try:
        parent = psutil.Process(pid).parent()
        return parent.pid if parent and "supervise" in parent.cmdline() else pid
    except psutil.Error:
        return pid


# A process's start time is the kernel's boot time, kept in whole seconds, plus its ticks since: up
# to a second early. A settings file written just before a restart must not read as written after it.
START_PRECISION = 1.0


def _changes(pid: int) -> Result:
    """What changed around the server's start, the first question of every incident: when it
    started, the unit's drop-ins and settings files with their age against that start, and the
    settings its environment sets. A file changed after the start is a change the server does not
    run yet, which the next restart brings in: a warning."""
    try:
        started = psutil.Process(pid).create_time()
    except psutil.Error:
        return Result("host.changes", Status.SKIP, f"server pid {pid} is not a process of this host")
    unit = unit_of(pid)
    parts = [f"server pid {pid} started {_ago(time.time() - started)} ago " + (f"by {unit}" if unit else "(no unit)")]
    pending = []
    for path in unit_files(unit) if unit else []:
        try:
            changed = path.stat().st_mtime
        except OSError:
            continue
        after = changed > started + START_PRECISION
        if after:
            pending.append(str(path))
        parts.append(f"{path} changed {_ago(abs(changed - started))} {'after' if after else 'before'} that")
    env = server_environment(_launched(pid))
    if env is not None:
        shown = [
            f"{k}={'(set)' if any(s in k for s in _SECRET) else v}" for k, v in sorted(env.items()) if k not in _PLACE
        ]
        parts.append("settings given: " + (", ".join(shown) or "none, every one at its default"))
    if pending:
        return Result(
            "host.changes",
            Status.WARN,
            f"{', '.join(pending)} changed after the server started: it runs without that change until "
            f"the next restart brings it in; check the change first; " + "; ".join(parts),
        )
    return Result("host.changes", Status.OK, "; ".join(parts))
