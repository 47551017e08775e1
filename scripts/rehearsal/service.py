"""The backend the deployment guide installs on the rehearsal host, as the fault library reaches it:
``backend.service`` under systemd, on the guide's port and data directory, its log in the journal; or,
once the fleet page has run, one of its instances (``backend@PORT``) and the Redis they share.

The host's processes are numbered in its own PID namespace; the faults signal them with this
machine's numbers (:meth:`Host.host_pid`), while the reader on the host sees the host's own.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import signal
from pathlib import Path

import httpx

from scripts import live
from scripts.rehearsal.host import Host

__all__ = [
    "DATA_DIR",
    "ENV_FILE",
    "FLEET_PORTS",
    "LIMITS_DROP_IN",
    "NGINX",
    "PORT",
    "HostBackend",
    "HostBus",
    "running_instances",
]

PORT = 8080  # the unit's BACKEND_PORT
FLEET_PORTS = (8081, 8082, 8083)  # the fleet page's instances
NGINX = "http://127.0.0.1"  # the host's nginx, in front of them (least_conn)
DATA_DIR = "/var/lib/backend"  # the unit's BACKEND_DATA_DIR
ENV_FILE = "/etc/backend/env"  # the unit's EnvironmentFile
LIMITS_DROP_IN = "/etc/systemd/system/backend.service.d/limits.conf"  # what a configuration push adds


@dataclasses.dataclass
class HostBackend(live.Reachable):
    """``backend.service`` on the rehearsal host, or one instance of the fleet."""

    machine: Host = dataclasses.field(kw_only=True)
    unit: str = dataclasses.field(default="backend", kw_only=True)

    @classmethod
    def on(cls, host: Host) -> HostBackend:
        return cls("127.0.0.1", PORT, host.path(DATA_DIR), machine=host)

    @classmethod
    def instance(cls, host: Host, port: int = FLEET_PORTS[0]) -> HostBackend:
        """``backend@PORT``: its database is the shared one in the guide's data directory."""
        return cls("127.0.0.1", port, host.path(DATA_DIR), machine=host, unit=f"backend@{port}")

    def server_pid(self) -> int:
        return self.machine.host_pid(super().server_pid())

    def log(self) -> str:
        """The unit's journal since the host booted."""
        _, out = self.machine.run(f"journalctl -u {self.unit} --no-pager -o cat", timeout=30)
        return out

    def server_seen_ready(self, pid: int) -> bool:
        inside = _inside_pid(pid)
        return inside is not None and f"server pid {inside} ready after" in self.log()

    def supervisor_pid(self) -> int:
        """The unit's main process: the supervisor systemd started."""
        return self.machine.host_pid(int(self.machine.must(f"systemctl show -p MainPID --value {self.unit}").strip()))

    def runner(self) -> list[str]:
        return self.machine.enter()

    def seen_there(self, path: Path) -> str:
        return "/" + str(path.relative_to(self.machine.view))

    def settings(self, values: dict[str, object]) -> None:
        """Put ``values`` (setting names, lowercase) into the unit's environment file, replacing
        earlier values: what a configuration push does. The service must be restarted to read them."""
        path = self.machine.path(ENV_FILE)
        names = {f"BACKEND_{k.upper()}" for k in values}
        kept = [line for line in path.read_text().splitlines() if line.split("=", 1)[0] not in names]
        path.write_text("\n".join(kept + [f"BACKEND_{k.upper()}={v}" for k, v in values.items()]) + "\n")

    def reconfigure(self, **settings: object) -> None:
        self.settings(settings)
        self.restart()

    def limit_open_files(self, limit: int | None) -> None:
        """Write (or remove) a drop-in with ``LimitNOFILE=``, reload systemd and restart the unit."""
        drop_in = self.machine.path(LIMITS_DROP_IN)
        if limit is None:
            if not drop_in.exists():
                return
            drop_in.unlink()
        else:
            drop_in.parent.mkdir(parents=True, exist_ok=True)
            drop_in.write_text(f"# pushed with the release tooling's defaults\n[Service]\nLimitNOFILE={limit}\n")
        self.machine.must("systemctl daemon-reload", timeout=60)
        self.restart()

    def stop_service(self) -> None:
        self.machine.must(f"systemctl stop {self.unit}", timeout=60)

    def restart(self) -> None:
        """`systemctl restart UNIT`, then wait for /ready 200."""
        self.machine.must(f"systemctl restart {self.unit}", timeout=60)
        live.wait_for(lambda: _answers(self.url), 45, f"the restarted {self.unit} to answer /ready 200")

    def restart_readers(self) -> None:
        """What a change of the settings file needs: every unit that reads it restarted (each running
        instance of a fleet, or the one service), each waited for until /ready answers 200."""
        if not self.unit.startswith("backend@"):
            self.restart()
            return
        ports = running_instances(self.machine)
        self.machine.must(f"systemctl restart {' '.join(f'backend@{p}' for p in ports)}", timeout=120)
        for port in ports:
            ready = functools.partial(_answers, f"http://{self.host}:{port}")
            live.wait_for(ready, 45, f"the restarted backend@{port} to answer /ready 200")


def running_instances(machine: Host) -> list[int]:
    """The ports of the fleet's instances systemd runs now (``backend@PORT``)."""
    listed = machine.must("systemctl list-units 'backend@*' --state=active --plain --no-legend", timeout=30)
    return sorted(int(port) for port in re.findall(r"^backend@(\d+)\.service", listed, re.MULTILINE))


@dataclasses.dataclass
class HostBus:
    """The fleet's Redis on the rehearsal host, Debian's ``redis-server.service``. Its unit restarts
    a killed Redis at once (``Restart=always``), so on the host the bus stays down only when stopped:
    ``systemctl stop``, whatever signal the laboratory's own Redis would get."""

    machine: Host
    url: str = "redis://127.0.0.1:6379/0"  # the fleet page's BACKEND_BUS_URL (the host shares this machine's network)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        self.machine.must("systemctl stop redis-server", timeout=60)

    def start(self) -> HostBus:
        self.machine.must("systemctl start redis-server && redis-cli ping", timeout=60)
        return self


def _inside_pid(pid: int) -> int | None:
    """The PID namespace's own number of this machine's process ``pid``."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^NSpid:\s+(.*)$", status, re.MULTILINE)
    return int(match[1].split()[-1]) if match else None


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
