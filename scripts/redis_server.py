"""A real ``redis-server`` for the message bus, on loopback, in a scratch directory, stopped by its PID.

Started the two ways the bus is safe with (:mod:`backend.bus`): no persistence at all, where a
restart loses the stream and the bus numbers anew under a new epoch; or an append-only file synced
on every write (``appendfsync always``), where a restart keeps it.
"""

from __future__ import annotations

import dataclasses
import shutil
import signal
import socket
import subprocess
from pathlib import Path

from scripts.live import free_port, stop_process, wait_for

__all__ = ["RedisServer"]


@dataclasses.dataclass
class RedisServer:
    """One redis-server on 127.0.0.1; ``start`` again after ``stop`` comes back on the same port."""

    directory: Path
    persistent: bool = False
    config: str = ""  # a redis.conf to start from (the guide's); the port and directory are this run's
    port: int = dataclasses.field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server not found: `make test` installs Debian's redis-server as root "
                "(scripts/install-system-tools.sh); install it and rerun"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.config:
            (self.directory / "redis.conf").write_text(self.config)
            args = [binary, str(self.directory / "redis.conf")]
        else:
            keep = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
            args = [binary, "--save", "", *keep]
        args += ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        args += ["--daemonize", "no", "--logfile", str(self.directory / "redis.log")]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for(self._answers, 10, f"redis-server on port {self.port} to answer PING")
        return self

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop it (SIGKILL: as a crash would, with no chance to write anything more)."""
        if self.proc is not None:
            stop_process(self.proc, sig, 10)
            self.proc = None

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited {self.proc.returncode}: {self.log()[-1000:]}")
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    def log(self) -> str:
        path = self.directory / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""
