"""The backend the deployment guide installs on the rehearsal host, as the fault library reaches it:
``backend.service`` under systemd, on the guide's port and data directory, its log in the journal.

The host's processes are numbered in its own PID namespace; the faults signal them with this
machine's numbers (:meth:`Host.host_pid`), while the reader on the host sees the host's own.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import httpx

from scripts import live
from scripts.rehearsal.host import Host

__all__ = ["DATA_DIR", "ENV_FILE", "LIMITS_DROP_IN", "PORT", "HostBackend"]

PORT = 8080  # the unit's BACKEND_PORT
DATA_DIR = "/var/lib/backend"  # the unit's BACKEND_DATA_DIR
ENV_FILE = "/etc/backend/env"  # the unit's EnvironmentFile
LIMITS_DROP_IN = "/etc/systemd/system/backend.service.d/limits.conf"  # what a configuration push adds


@dataclasses.dataclass
class HostBackend(live.Reachable):
    """``backend.service`` on the rehearsal host."""

    machine: Host = dataclasses.field(kw_only=True)

    @classmethod
    def on(cls, host: Host) -> HostBackend:
        return cls("127.0.0.1", PORT, host.path(DATA_DIR), machine=host)

    def server_pid(self) -> int:
        return self.machine.host_pid(super().server_pid())

    def log(self) -> str:
        """The unit's journal since the host booted."""
        _, out = self.machine.run("journalctl -u backend --no-pager -o cat", timeout=30)
        return out

    def server_seen_ready(self, pid: int) -> bool:
        inside = _inside_pid(pid)
        return inside is not None and f"server pid {inside} ready after" in self.log()

    def supervisor_pid(self) -> int:
        """The unit's main process: the supervisor systemd started."""
        return self.machine.host_pid(int(self.machine.must("systemctl show -p MainPID --value backend").strip()))

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

    def restart(self) -> None:
        """`systemctl restart backend`, then wait for /ready 200."""
        self.machine.must("systemctl restart backend", timeout=60)
        live.wait_for(lambda: _answers(self.url), 45, "the restarted backend.service to answer /ready 200")


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
