"""Real nginx in the foreground over one of the deployment guide's server blocks, in a scratch
directory: its own pid file, logs and temp paths, stopped gracefully by its PID."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx

from scripts.live import stop_process, wait_for
from tests.support.tools import require

__all__ = ["running_nginx"]


@contextlib.contextmanager
def running_nginx(tmp: Path, site: str, ready_url: str) -> Iterator[None]:
    """nginx serving ``site`` (a server block, ports already changed) until ``ready_url`` answers 200."""
    (tmp / "site.conf").write_text(site)
    temp = "\n".join(
        f"    {kind}_temp_path {tmp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # as root, nginx's workers would run as nobody and could not read a pytest directory (mode 700)
    user = "user root;\n" if os.geteuid() == 0 else ""
    (tmp / "nginx.conf").write_text(
        f"daemon off;\n{user}worker_processes 1;\npid {tmp / 'nginx.pid'};\nerror_log {tmp / 'error.log'} warn;\n"
        f"events {{}}\nhttp {{\n    include /etc/nginx/mime.types;\n    access_log {tmp / 'access.log'};\n{temp}\n"
        f"    include {tmp / 'site.conf'};\n}}\n"
    )
    with open(tmp / "stderr.log", "wb") as stderr:
        proc = subprocess.Popen(
            [require("nginx", "nginx"), "-c", str(tmp / "nginx.conf"), "-p", str(tmp), "-e", str(tmp / "error.log")],
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
