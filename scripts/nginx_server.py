"""Real nginx in the foreground over the deployment guide's server blocks, in a scratch directory:
its own pid file, logs and temp paths, stopped gracefully by its PID. The tests and the drills run
the guide's files through it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx

from scripts.live import stop_process, wait_for

__all__ = ["running_nginx"]


def _nginx() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if found is None:
        raise RuntimeError(
            "nginx not found: `make test` installs Debian's nginx as root (scripts/install-system-tools.sh); "
            "install it and rerun"
        )
    return found


@contextlib.contextmanager
def running_nginx(tmp: Path, site: str, ready_url: str, connections: int = 1024) -> Iterator[None]:
    """nginx serving ``site`` (a server block, ports already changed) until ``ready_url`` answers 200;
    ``connections`` per worker (a proxied WebSocket takes two)."""
    (tmp / "site.conf").write_text(site)
    temp = "\n".join(
        f"    {kind}_temp_path {tmp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # as root, nginx's workers would run as nobody and could not read a pytest directory (mode 700)
    user = "user root;\n" if os.geteuid() == 0 else ""
    (tmp / "nginx.conf").write_text(
        f"daemon off;\n{user}worker_processes 1;\npid {tmp / 'nginx.pid'};\nerror_log {tmp / 'error.log'} warn;\n"
        f"events {{ worker_connections {connections}; }}\n"
        f"http {{\n    include /etc/nginx/mime.types;\n    access_log {tmp / 'access.log'};\n{temp}\n"
        f"    include {tmp / 'site.conf'};\n}}\n"
    )
    with open(tmp / "stderr.log", "wb") as stderr:
        proc = subprocess.Popen(
            [_nginx(), "-c", str(tmp / "nginx.conf"), "-p", str(tmp), "-e", str(tmp / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(
                    f"nginx exited: {(tmp / 'stderr.log').read_text()}{(tmp / 'error.log').read_text()}"
                )
            return httpx.get(ready_url, timeout=2).status_code == 200

        wait_for(ready, 15, f"nginx to answer {ready_url}")
        yield
    finally:
        stop_process(proc, signal.SIGQUIT, 10)  # graceful stop
