"""The clients' way to the backend on a host built by the deployment guide (the rehearsal host): the
guide's nginx, reached on an address of their own, so that a fault of that path is made where
production has it. The rehearsal's counterpart of the loopback :class:`~scripts.faults.proxy.Proxy`.

* **no-upgrade**: a configuration push of nginx whose ``/ws`` location lost its two
  ``proxy_set_header`` lines for the upgrade (nginx then drops the hop-by-hop ``Upgrade`` header),
  checked with ``nginx -t`` and put in with ``systemctl restart nginx``, as the guide does;
* **blackhole**: the network between the clients and the host drops every packet, both ways (firewall
  rules on this machine: the host shares its network). Sockets end when the backend's keepalive
  pings go unanswered (1011), new connections hang. The clients reach nginx on ``127.0.0.2``, the
  on-call engineer, Prometheus and ``checks`` on ``127.0.0.1``: a second loopback address stands
  for the clients' network, so the partition cuts them and leaves the engineer's own path;
* **pass**: the file the guide installed, and no rule.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Protocol

from scripts.faults.base import FaultUnavailable

__all__ = ["CLIENTS_ADDRESS", "NGINX_CONF", "ClientsPath", "Machine"]

CLIENTS_ADDRESS = "127.0.0.2"  # where the clients reach the guide's nginx (it listens on every address)
NGINX_CONF = "/etc/nginx/conf.d/backend.conf"  # where the guide installs its nginx.conf
_UPGRADE_LINES = re.compile(
    r"^\s*proxy_set_header\s+(Upgrade|Connection)\s+\$(http_upgrade|connection_upgrade);\n", re.M
)
_WHY = ["-m", "comment", "--comment", "rehearsal: the clients' network is cut", "-j", "DROP"]
_CUT = (  # to nginx on the clients' address, and its answers
    ["INPUT", "-i", "lo", "-d", CLIENTS_ADDRESS, "-p", "tcp", "--dport", "80", *_WHY],
    ["INPUT", "-i", "lo", "-s", CLIENTS_ADDRESS, "-p", "tcp", "--sport", "80", *_WHY],
)


class Machine(Protocol):
    """The host nginx runs on: its files seen from here, and a root shell there."""

    def path(self, inside: str) -> Path: ...

    def must(self, script: str, timeout: float = 60.0) -> str: ...


class ClientsPath:
    """The clients' path through the host's nginx; :meth:`set_mode` makes or lifts its faults."""

    def __init__(self, host: Machine, guides: str) -> None:
        self.host = host
        self.url = f"http://{CLIENTS_ADDRESS}"
        self.installed = guides  # the guide's nginx.conf, as published: what "pass" puts back
        self.set_mode("pass")  # whatever an interrupted run left (a rule, a pushed file) goes first

    def set_mode(self, mode: str) -> None:
        if mode == "pass":
            self._firewall("-D")
            self._nginx(self.installed)
        elif mode == "no-upgrade":
            pushed = _UPGRADE_LINES.sub("", self.installed)
            if pushed == self.installed:
                raise FaultUnavailable(f"{NGINX_CONF} on the host has no upgrade lines to lose")
            self._nginx(pushed)
        elif mode == "blackhole":
            self._firewall("-I")
        else:
            raise FaultUnavailable(f"the rehearsal host's clients' path has no mode {mode!r}")

    def _nginx(self, conf: str) -> None:
        path = self.host.path(NGINX_CONF)
        if path.read_text() == conf:
            return
        path.write_text(conf)
        self.host.must("nginx -t 2>&1 | tail -n 1 && systemctl restart nginx", timeout=60)

    def _firewall(self, action: str) -> None:
        """Insert (``-I``) the rules, or delete (``-D``) those there; never a second copy."""
        for rule in _CUT:
            present = subprocess.run(["iptables", "-w", "-C", *rule], capture_output=True, check=False).returncode == 0
            if present == (action == "-I"):
                continue
            done = subprocess.run(["iptables", "-w", action, *rule], capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise FaultUnavailable(f"iptables {action} failed: {done.stderr.strip()} (run as root)")
