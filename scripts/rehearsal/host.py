"""A booted rehearsal host: real systemd in ``systemd-nspawn`` on a copy-on-write layer over the
cached root filesystem, and a root shell on it.

Like a cloud machine, it has a second, empty disk (``Host.disk``: a loop device over a sparse image,
its node bound into the host's ``/dev``), which the deployment guide formats for the data.

The host shares this machine's network (its loopback ports are ours: nginx on 80, the backend on
8080, Prometheus on 9090, Alertmanager on 9093), so the harness reaches what the guide starts there
the way a monitoring host would. Every run starts from the clean template: what the guide and the
game days change lives in the layer and is thrown away with it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from pages import run_bash
from scripts import live

__all__ = ["PORTS", "Host", "booted"]

PORTS = {80: "nginx", 8080: "the backend", 9090: "Prometheus", 9093: "Alertmanager"}
BOOT_DEADLINE = 60.0
DISK_SIZE = "256M"  # the data disk: room for the database, the cache and the disk-full game days' margin
# The reader's root shell: a login's variables, nothing of the harness's own environment
ROOT_SHELL = {
    "HOME": "/root",
    "USER": "root",
    "LOGNAME": "root",
    "SHELL": "/bin/bash",
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "TERM": "dumb",
    "NO_COLOR": "1",
}
# What the reader exported in an earlier block is still set in the next one: one shell, kept in a file
READER_SHELL = "/root/.reader-shell"
_KEEP_SHELL = f'[ -r {READER_SHELL} ] && . {READER_SHELL}; trap "export -p > {READER_SHELL}" EXIT; cd /root; eval "$1"'


@dataclasses.dataclass
class Host:
    """A booted host: ``root`` is the directory it boots from (its mounts are not there: see
    :attr:`view`), ``pid`` its systemd (our PID)."""

    root: Path
    pid: int
    nspawn: subprocess.Popen[bytes]
    disk: str = ""  # the empty data disk's device, the same path here and there

    @property
    def view(self) -> Path:
        """The host's file system as its own processes see it, the mounts made there included (the
        data disk the guide mounts exists only in the host's mount namespace, not under ``root``)."""
        return Path(f"/proc/{self.pid}/root")

    def path(self, inside: str) -> Path:
        """Where the host's ``inside`` path is, seen from this machine."""
        return self.view / inside.lstrip("/")

    def enter(self, env: Mapping[str, str] | None = None) -> list[str]:
        """The argv prefix that runs a program on the host as root, with a login's variables only."""
        variables = [f"{k}={v}" for k, v in {**ROOT_SHELL, **(env or {})}.items()]
        return ["nsenter", "-t", str(self.pid), "-m", "-p", "-u", "-i", "--root", "--wd", "--", "env", "-i", *variables]

    def shell(self, env: Mapping[str, str] | None = None) -> list[str]:
        """The argv of a root shell on the host that runs the script given as its last argument,
        in the reader's one shell (what earlier blocks exported is set)."""
        return [*self.enter(env), "bash", "-c", _KEEP_SHELL, "reader"]

    def new_shell(self) -> None:
        """The next command runs in a fresh login shell: nothing an earlier reader exported is set."""
        self.path(READER_SHELL).unlink(missing_ok=True)

    def run(self, script: str, timeout: float = 60.0, env: Mapping[str, str] | None = None) -> tuple[int | None, str]:
        """Run ``script`` as root on the host (``set -euo pipefail``): exit status (None on timeout), output."""
        return run_bash(script, {}, timeout, Path("/"), shell=self.shell(env))

    def must(self, script: str, timeout: float = 60.0) -> str:
        """Run ``script`` on the host; its output, or RuntimeError with it."""
        code, out = self.run(script, timeout)
        if code != 0:
            raise RuntimeError(f"on the rehearsal host, `{script}` exited {code}:\n{out[-3000:]}")
        return out

    def host_pid(self, pid: int) -> int:
        """This machine's PID of the host's process ``pid`` (as the host's ``ps`` or ``/health`` say)."""
        for status in Path("/proc").glob("[0-9]*/status"):
            with contextlib.suppress(OSError):
                fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
                ids = fields.get("NSpid", "").split()
                if len(ids) > 1 and int(ids[-1]) == pid and _descends(int(ids[0]), self.pid):
                    return int(ids[0])
        raise LookupError(f"no process {pid} on the rehearsal host")


def _descends(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            return False
    return False


def _taken(ports: Mapping[int, str]) -> list[str]:
    taken = []
    for port, what in ports.items():
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                taken.append(f"{port} ({what})")
    return taken


def _systemd_of(nspawn: int) -> int | None:
    """The container's PID 1 among the descendants of ``systemd-nspawn`` (its child or grandchild)."""
    for child in _children(nspawn) + [g for c in _children(nspawn) for g in _children(c)]:
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{child}/status").read_text()
            ns_pids = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
            if len(ns_pids) > 1 and ns_pids[-1] == "1":
                return child
    return None


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(p) for t in Path(f"/proc/{pid}/task").iterdir() for p in (t / "children").read_text().split()]
    return []


@contextlib.contextmanager
def booted(template: Path, work: Path, binds: Sequence[tuple[Path, str]] = ()) -> Iterator[Host]:
    """Boot a host from ``template`` (left untouched: changes go to a layer under ``work``), with
    ``binds`` (this machine's directory, the host's path) mounted; powered off and unmounted after."""
    taken = _taken(PORTS)
    if taken:
        raise RuntimeError(f"the rehearsal host needs these loopback ports, taken here: {', '.join(taken)}")
    layer, scratch, root = work / "layer", work / "overlay-work", work / "root"
    for d in (layer, scratch, root):
        d.mkdir(parents=True, exist_ok=True)
    options = f"lowerdir={template},upperdir={layer},workdir={scratch}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(root)], check=True, timeout=30)
    log = (work / "console.log").open("wb")
    nspawn = None
    image, disk = work / "data-disk.img", ""
    try:
        subprocess.run(["truncate", "-s", DISK_SIZE, str(image)], check=True, timeout=30)
        attach = ["losetup", "-f", "--show", str(image)]
        disk = subprocess.run(attach, check=True, capture_output=True, text=True, timeout=30).stdout.strip()
        args = ["systemd-nspawn", "--register=no", "--keep-unit", "--quiet", "-D", str(root), f"--bind={disk}"]
        args += [f"--bind={here}:{there}" for here, there in binds]
        nspawn = subprocess.Popen([*args, "-b"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        host = Host(root, _wait_booted(nspawn, work), nspawn, disk)
        yield host
    finally:
        if nspawn is not None:
            _power_off(nspawn)
        log.close()
        subprocess.run(["umount", str(root)], check=False, timeout=60)
        if disk:
            subprocess.run(["losetup", "-d", disk], check=False, timeout=30)
        image.unlink(missing_ok=True)
        shutil.rmtree(layer, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)


def _wait_booted(nspawn: subprocess.Popen[bytes], work: Path) -> int:
    """The host's systemd PID once it says the system is running."""

    def up() -> int | None:
        if nspawn.poll() is not None:
            log = (work / "console.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"systemd-nspawn exited {nspawn.returncode}:\n{log}")
        pid = _systemd_of(nspawn.pid)
        if pid is None:
            return None
        _, state = Host(work / "root", pid, nspawn).run("systemctl is-system-running || true", timeout=10)
        return pid if state.strip() in ("running", "degraded") else None

    return live.wait_for(up, BOOT_DEADLINE, "the rehearsal host's systemd to say it is running", interval=0.2)


def _power_off(nspawn: subprocess.Popen[bytes]) -> None:
    """SIGTERM to systemd-nspawn powers the host off cleanly; SIGKILL only if it does not within 30 s."""
    if nspawn.poll() is None:
        nspawn.send_signal(signal.SIGTERM)
        try:
            nspawn.wait(timeout=30)
        except subprocess.TimeoutExpired:
            nspawn.kill()
            nspawn.wait(timeout=10)
