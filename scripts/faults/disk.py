"""Faults of the disks under the data directory: a filesystem that fills, a directory that goes.

The filesystems are real: a tmpfs mounted (as root) before the backend starts, so ENOSPC comes
from the kernel, not from a mock.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from scripts.faults.base import FaultUnavailable, Lift, Target, nothing_to_lift

__all__ = [
    "STRAY_EXPORT",
    "cache_dir_deleted",
    "cache_disk_full",
    "cache_filesystem",
    "data_disk_almost_full",
    "data_filesystem",
    "tmpfs",
]

STRAY_EXPORT = "exports/db-export-2026-11-27.sql"  # what the data-disk page finds and moves away


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[None]:
    """Mount a tmpfs of ``size`` at ``path``: a filesystem that really fills up (ENOSPC)."""
    if os.geteuid() != 0:
        raise FaultUnavailable(
            "a real disk-full fault mounts a tmpfs and needs root; CI runs as root. "
            "Run as root to prove behaviour on a full disk."
        )
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        raise FaultUnavailable(f"cannot mount a tmpfs for the disk-full fault: {mounted.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def cache_filesystem(data_dir: Path, size: str = "2m") -> contextlib.AbstractContextManager[None]:
    """The cache directory on a small filesystem of its own (before the backend starts)."""
    return tmpfs(data_dir / "cache", size)


def data_filesystem(data_dir: Path, size: str = "64m") -> contextlib.AbstractContextManager[None]:
    """The whole data directory on a small volume (before the backend starts)."""
    return tmpfs(data_dir, size)


@contextlib.contextmanager
def cache_disk_full(target: Target, size: str = "2m") -> Iterator[Lift]:
    """Another writer fills the cache's own filesystem (see :func:`cache_filesystem`) until ENOSPC.
    ``size`` is the filesystem's, given to the prepare step."""
    filler = target.backend.data_dir / "cache" / "filler.bin"
    with contextlib.suppress(OSError), open(filler, "wb") as out:
        while True:
            out.write(b"\0" * 65536)
            out.flush()
    try:
        yield lambda: filler.unlink(missing_ok=True)
    finally:
        filler.unlink(missing_ok=True)


@contextlib.contextmanager
def data_disk_almost_full(target: Target, free: float = 0.08) -> Iterator[Lift]:
    """Someone's database export left on the data volume (see :func:`data_filesystem`) until only
    ``free`` of it is free: the backend still works, and the next big write will not. The margin
    leaves room for the traffic's own writes (SQLite's WAL grows to a few MiB before a checkpoint)."""
    data_dir = target.backend.data_dir
    stray = data_dir / STRAY_EXPORT
    stray.parent.mkdir(exist_ok=True)
    usage = shutil.disk_usage(data_dir)
    with open(stray, "wb") as out:
        out.write(b"-- export\n" * int((usage.free - free * usage.total) / 10))
    try:
        yield lambda: stray.unlink(missing_ok=True)
    finally:
        stray.unlink(missing_ok=True)


@contextlib.contextmanager
def cache_dir_deleted(target: Target) -> Iterator[Lift]:
    """``rm -rf`` of the cache directory under the running server."""
    cache = target.backend.data_dir / "cache"
    shutil.rmtree(cache)
    try:
        yield nothing_to_lift
    finally:
        cache.mkdir(exist_ok=True)
