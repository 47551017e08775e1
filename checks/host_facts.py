"""What ``checks`` reads of the backend's host itself (it runs there): the data directory's
filesystem, the server process's environment, and who holds a port.

The data directory's filesystem, as the server meets it: does a write land, is it mounted
read-only (the kernel remounts a volume read-only after I/O errors, and an ext4 in that state may
still say ``rw`` next to ``emergency_ro``), how many inodes are left.

``statvfs`` and the mount table alone miss the emergency case, so the row proves a write: a file
created, synced and removed in the data directory.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import tempfile
from pathlib import Path

import psutil

__all__ = ["Mount", "Write", "mount_of", "port_owner", "server_environment", "try_write"]

READ_ONLY_OPTIONS = frozenset({"ro", "emergency_ro", "shutdown"})


@dataclasses.dataclass(frozen=True)
class Mount:
    """One line of ``/proc/self/mountinfo``: where, what device, with which options."""

    point: Path
    source: str
    fstype: str
    options: frozenset[str]

    @property
    def read_only(self) -> bool:
        return bool(self.options & READ_ONLY_OPTIONS)


def mount_of(path: Path, mountinfo: Path = Path("/proc/self/mountinfo")) -> Mount | None:
    """The mount ``path`` lives on (the longest mount point above it), or None off Linux."""
    try:
        lines = mountinfo.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    target = path.resolve()
    best: Mount | None = None
    for line in lines:
        fields = line.split()
        if "-" not in fields:
            continue
        dash = fields.index("-")
        point = Path(fields[4].replace("\\040", " "))
        if target != point and point not in target.parents:
            continue
        options = frozenset(fields[5].split(",")) | frozenset(fields[dash + 3].split(","))
        if best is None or len(point.parts) >= len(best.point.parts):
            best = Mount(point, fields[dash + 2], fields[dash + 1], options)
    return best


@dataclasses.dataclass(frozen=True)
class Write:
    """What a test write in a directory found: it ``landed``, or the filesystem refused it (``refused``
    says why), or this user may not write there and nothing is known (``landed`` is None)."""

    landed: bool | None
    refused: str = ""


def try_write(directory: Path) -> Write:
    """Create, sync and remove a small file in ``directory``."""
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".checks-write-", delete=True) as probe:
            probe.write(b"checks\n")
            probe.flush()
            os.fsync(probe.fileno())
    except PermissionError:
        return Write(None)
    except OSError as exc:
        code = exc.errno or 0
        return Write(False, f"{os.strerror(code)} ({errno.errorcode.get(code, code)})")
    return Write(True)


def server_environment(pid: int) -> dict[str, str] | None:
    """The ``BACKEND_*`` variables process ``pid`` runs with (what systemd gave it from the unit and
    ``EnvironmentFile=``), or None when this user may not read them."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    pairs = (item.decode("utf-8", "replace").partition("=") for item in raw.split(b"\0") if item)
    return {key: value for key, _, value in pairs if key.startswith("BACKEND_")}


def port_owner(port: int) -> str | None:
    """Who listens on TCP ``port`` on this host: "pid N (user): command line", or None if nobody
    (or nobody this user may see: as root every owner shows)."""
    try:
        listeners = [
            c
            for c in psutil.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
        ]
    except psutil.AccessDenied:
        return None
    for conn in listeners:
        if conn.pid is None:
            return f"a process this user may not see (run as root to name it) listens on port {port}"
        try:
            process = psutil.Process(conn.pid)
            return f"pid {conn.pid} ({process.username()}): {' '.join(process.cmdline())[:120]}"
        except psutil.Error:
            return f"pid {conn.pid}"
    return None
