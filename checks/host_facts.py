"""What ``checks`` reads of the backend's host itself (it runs there): the data directory's
filesystem, the server process's environment and open files, and who holds a port.

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
import subprocess
import tempfile
from pathlib import Path

import psutil

__all__ = [
    "Listener",
    "Mount",
    "OpenFiles",
    "Write",
    "mount_of",
    "open_files",
    "port_owner",
    "server_environment",
    "try_write",
    "unit_files",
    "unit_of",
]

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


@dataclasses.dataclass(frozen=True)
class Listener:
    """Who listens on a port: its PID (None when this user may not see it) and how to name it."""

    pid: int | None
    described: str

    def __str__(self) -> str:
        return self.described


def port_owner(port: int) -> Listener | None:
    """Who listens on TCP ``port`` on this host ("pid N (user): command line"), or None if nobody
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
            return Listener(None, f"a process this user may not see (run as root to name it) listens on port {port}")
        try:
            process = psutil.Process(conn.pid)
            command = " ".join(" ".join(process.cmdline()).split())  # one line, whatever the arguments hold
            return Listener(conn.pid, f"pid {conn.pid} ({process.username()}): {command[:120]}")
        except psutil.Error:
            return Listener(conn.pid, f"pid {conn.pid}")
    return None


@dataclasses.dataclass(frozen=True)
class OpenFiles:
    """A process's open descriptors against its limit (``Max open files``, what ``LimitNOFILE=`` sets)."""

    used: int
    limit: int

    @property
    def exhausted(self) -> bool:
        """So near the limit that the next socket or file may fail with EMFILE."""
        return self.used >= self.limit - 2


def open_files(pid: int) -> OpenFiles | None:
    """What process ``pid`` has open against its soft limit, or None when this user may not look.
    The limit is read from ``/proc/PID/limits``, as the runbook's own command reads it (``prlimit``
    would need CAP_SYS_RESOURCE for another user's process)."""
    try:
        limits = Path(f"/proc/{pid}/limits").read_text(encoding="utf-8")
        used = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    line = next((line for line in limits.splitlines() if line.startswith("Max open files")), "")
    soft = line.removeprefix("Max open files").split()[:1]
    return OpenFiles(used, int(soft[0])) if soft and soft[0].isdigit() else None


def unit_of(pid: int, proc: Path = Path("/proc")) -> str | None:
    """The systemd service process ``pid`` runs in (``backend.service``), from its cgroup; None when
    it runs in none (started by hand, no systemd)."""
    try:
        cgroup = (proc / str(pid) / "cgroup").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in cgroup.splitlines():
        for part in reversed(line.rpartition(":")[2].split("/")):
            if part.endswith(".service"):
                return part
    return None


def unit_files(unit: str) -> list[Path]:
    """The files that configure ``unit`` beside its unit file: its drop-ins and its
    ``EnvironmentFile=``s, as systemd itself reports them (empty when systemctl cannot say)."""
    try:
        shown = subprocess.run(
            ["systemctl", "show", unit, "-p", "DropInPaths", "-p", "EnvironmentFiles"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    files: list[Path] = []
    for line in shown.splitlines():
        key, _, value = line.partition("=")
        if key == "DropInPaths":
            files += [Path(p) for p in value.split()]
        elif key == "EnvironmentFiles" and value:  # "/etc/backend/env (ignore_errors=no)", one per line
            files.append(Path(value.split(" (")[0].lstrip("-")))
    return files
