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
    "data_volume",
    "data_volume_read_only",
    "tmpfs",
]

STRAY_EXPORT = "exports/db-export-2026-11-27.sql"  # what the data-disk page finds and moves away


def _root(what: str) -> None:
    if os.geteuid() != 0:
        raise FaultUnavailable(f"{what} needs root (mount, loop devices); CI runs as root. Run as root to prove it.")


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[None]:
    """Mount a tmpfs of ``size`` at ``path``: a filesystem that really fills up (ENOSPC)."""
    _root("a real disk-full fault (a tmpfs)")
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


@contextlib.contextmanager
def data_volume(path: Path, size: str = "64m") -> Iterator[None]:
    """The data directory on an ext4 volume of its own (a loop device over an image file beside it),
    mounted ``errors=remount-ro`` as distributions mount data volumes: the kernel's read-only switch
    after an I/O error is then the real one."""
    _root("a data volume of its own")
    path.mkdir(parents=True, exist_ok=True)
    image = path.with_name(f"{path.name}.ext4")
    subprocess.run(["truncate", "-s", size, str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
    device = subprocess.run(["losetup", "-f", "--show", str(image)], check=True, capture_output=True, text=True)
    loop = device.stdout.strip()
    try:
        mounted = subprocess.run(
            ["mount", "-o", "errors=remount-ro", loop, str(path)], capture_output=True, text=True, check=False
        )
        if mounted.returncode != 0:
            raise FaultUnavailable(f"cannot mount the data volume {loop}: {mounted.stderr.strip()}")
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)  # the page may have
        subprocess.run(["losetup", "-d", loop], capture_output=True, check=False)  # remounted it; or not
        image.unlink(missing_ok=True)


@contextlib.contextmanager
def data_volume_read_only(target: Target) -> Iterator[Lift]:
    """The kernel takes the data volume read-only, as ext4 does after an I/O error: the database file
    is intact, every write fails (EROFS; open connections see "disk I/O error"). Needs the data
    directory on its own ext4 (:func:`data_volume`). Undone only by unmounting, checking and
    mounting the volume again: what the page does."""
    _root("a read-only data volume")
    backend = target.backend  # findmnt where the backend runs: the rehearsal host mounts in its own namespace
    source = subprocess.run(
        [*backend.runner(), "findmnt", "-n", "-o", "SOURCE", "--target", backend.seen_there(backend.data_dir)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    knob = Path("/sys/fs/ext4") / Path(source).name / "trigger_fs_error"
    if not source.startswith("/dev/") or not knob.exists():
        raise FaultUnavailable(
            f"the data directory is on {source or 'no mount'}, not an ext4 of its own: prepare it with data_volume"
        )
    knob.write_text("1\n")
    yield nothing_to_lift


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
