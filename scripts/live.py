"""Start and stop real backend processes (tests and drills): free loopback port, temp data dir, log file.

Every wait is on a condition with a deadline; a process that dies while we wait fails the test
with the tail of its log, so a red test says why.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx

from scripts.background import repeating

__all__ = [
    "FAULTS_TOKEN",
    "HARNESS_SETTINGS",
    "Live",
    "Reachable",
    "WaitTimeout",
    "free_port",
    "running",
    "seconds_until",
    "start",
    "stop_process",
    "wait_for",
]

T = TypeVar("T")
FAULTS_TOKEN = "test-faults-token"
# What a game day or drill backend runs with: probes quicker than production's so a fault shows
# within a doctor run, WebSocket keepalive loose enough that four game days on two busy cores do
# not cut healthy clients. A drill that measures detection says what it changes (scripts/drill).
HARNESS_SETTINGS: dict[str, object] = {
    "cache_probe_interval": 0.5,
    "memory_check_interval": 0.2,
    "ws_ping_interval": 2,
    "ws_ping_timeout": 4,
    "log_level": "info",
}
REPO = Path(__file__).resolve().parent.parent  # the repository root (scripts/..)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class WaitTimeout(Exception):
    """A harness wait ran out: the condition never held. Not an AssertionError, so a harness that
    waits in vain is not read as a page or a backend failing its test."""


def wait_for(condition: Callable[[], T | None], timeout: float, what: str, interval: float = 0.02) -> T:
    """Return the first truthy value of ``condition()``; raise :class:`WaitTimeout` naming ``what``
    after ``timeout`` s. Connection errors while waiting count as "not yet"."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except (httpx.HTTPError, OSError) as exc:
            last_error = exc
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what} (last error: {last_error})")
        time.sleep(interval)


def seconds_until(condition: Callable[[], object], timeout: float) -> float | None:
    """Seconds until ``condition()`` holds, or None when it did not within ``timeout`` (a drill's
    measurement: a fault never detected is a figure, not an error)."""
    started = time.monotonic()
    try:
        wait_for(condition, timeout, "a drill's condition")
    except WaitTimeout:
        return None
    return time.monotonic() - started


@dataclasses.dataclass
class Reachable:
    """A running backend as its clients and its host see it: address, data directory, metrics, the
    drill routes. :class:`Live` is one we started here; the rehearsal host's service is another."""

    host: str
    port: int
    data_dir: Path  # as this machine sees it

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10.0, **kwargs)

    def server_pid(self) -> int:
        """The server process's PID, as this machine numbers it."""
        return int(httpx.get(f"{self.url}/health", timeout=2.0).json()["pid"])

    def server_seen_ready(self, pid: int) -> bool:
        """Whether the supervisor has seen server ``pid`` (this machine's PID) ready."""
        raise NotImplementedError

    def supervisor_pid(self) -> int:
        """The supervisor's PID, as this machine numbers it."""
        raise NotImplementedError

    def reconfigure(self, **settings: object) -> None:
        """A configuration push and a restart: ``settings`` (lowercase names) changed where this
        backend keeps them, the others as they were; returns once it is ready again."""
        raise NotImplementedError

    def limit_open_files(self, limit: int | None) -> None:
        """A unit drop-in that sets the server's open-file limit (``LimitNOFILE``; None: no drop-in,
        the unit's own), and a restart; returns once it is ready again. Nothing happens when the
        limit is already so."""
        raise NotImplementedError

    def log(self) -> str:
        """What the backend has logged so far."""
        raise NotImplementedError

    def stop_service(self) -> None:
        """Stopped as its service manager stops it (SIGTERM: it drains), and left stopped;
        :meth:`reconfigure` starts it again."""
        raise NotImplementedError

    def runner(self) -> list[str]:
        """The argv prefix that runs a program beside the backend (on its host): nothing here."""
        return []

    def seen_there(self, path: Path) -> str:
        """``path`` (this machine's) as a program run with :meth:`runner` names it."""
        return str(path)

    def ready(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/ready", timeout=5.0).json())

    def fault(self, name: str, **body: Any) -> dict[str, Any]:
        headers = {"X-Faults-Token": FAULTS_TOKEN}
        if name == "clear":
            response = httpx.delete(f"{self.url}/_faults", headers=headers, timeout=10.0)
        elif name == "ws-drop":
            response = httpx.post(f"{self.url}/_faults/ws-drop", headers=headers, timeout=10.0)
        else:
            response = httpx.put(f"{self.url}/_faults/{name}", json=body, headers=headers, timeout=30.0)
        response.raise_for_status()
        return dict(response.json())

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels`` (0 when absent)."""
        from prometheus_client.parser import text_string_to_metric_families

        text = httpx.get(f"{self.url}/metrics", timeout=5.0).text
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total


@dataclasses.dataclass
class Live(Reachable):
    """A backend process we started (``serve`` or ``supervise``) and how to reach it."""

    proc: subprocess.Popen[bytes] = dataclasses.field(kw_only=True)
    log_path: Path = dataclasses.field(kw_only=True)
    env: dict[str, str] = dataclasses.field(kw_only=True)
    open_files: int | None = dataclasses.field(default=None, kw_only=True)  # the limit it started under

    def supervisor_pid(self) -> int:
        return self.proc.pid

    def stop_service(self) -> None:
        self.stop()

    def reconfigure(self, **settings: object) -> None:
        """Stopped, then started again on the same port and data directory, with the same mode and limit."""
        kept = {
            k.removeprefix("BACKEND_").lower(): v
            for k, v in self.env.items()
            if k.startswith("BACKEND_") and k not in ("BACKEND_PORT", "BACKEND_DATA_DIR", "BACKEND_HOST")
        }
        self.stop()
        mode = str(self.proc.args[-1])  # type: ignore[index]  # Popen.args is the argv list start() gave
        fresh = start(
            self.log_path.parent, mode, True, self.port, self.data_dir, self.open_files, **{**kept, **settings}
        )
        self.proc, self.log_path, self.env = fresh.proc, fresh.log_path, fresh.env

    def limit_open_files(self, limit: int | None) -> None:
        """Started again under ``prlimit``, as systemd starts a unit with ``LimitNOFILE=``."""
        if limit == self.open_files:
            return
        self.open_files = limit
        self.reconfigure()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def server_seen_ready(self, pid: int) -> bool:
        return f"server pid {pid} ready after" in self.log()

    @contextlib.contextmanager
    def background_requests(self, method: str, path: str, pause: float = 0.0) -> Iterator[None]:
        """Keep sending ``method path`` from a thread while the body runs (errors are the point, not a failure)."""
        with httpx.Client(base_url=self.url, timeout=10.0) as client:

            def send() -> None:
                client.request(method, path)

            with repeating(send, pause):
                yield

    def wait_ready(self, timeout: float = 20.0) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise WaitTimeout(f"backend exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            return httpx.get(f"{self.url}/ready", timeout=2.0).status_code == 200

        wait_for(ready, timeout, f"{self.url}/ready to answer 200")

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM the process we started and wait; SIGKILL if it does not stop in time."""
        return stop_process(self.proc, signal.SIGTERM, timeout)


def stop_process(proc: subprocess.Popen[Any], sig: signal.Signals, timeout: float) -> int:
    """Send ``sig`` to a process we started and wait ``timeout`` s; SIGKILL it if it does not stop."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def start(
    tmp: Path,
    mode: str = "serve",
    wait: bool = True,
    port: int | None = None,
    data_dir: Path | None = None,
    open_files: int | None = None,
    **settings: object,
) -> Live:
    """Start ``python -m backend MODE`` on ``port`` (default: a free one) with its data in
    ``data_dir`` (default ``tmp/data``), under an open-file limit if given (soft and hard, as
    ``LimitNOFILE=`` sets both); ``settings`` become ``BACKEND_*`` variables."""
    port = port or free_port()
    data_dir = data_dir or tmp / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKEND_")}
    env.update(
        {
            "BACKEND_HOST": "127.0.0.1",
            "BACKEND_PORT": str(port),
            "BACKEND_DATA_DIR": str(data_dir),
            "BACKEND_FAULTS_TOKEN": FAULTS_TOKEN,
            "BACKEND_LOG_LEVEL": "info",
            "BACKEND_SUPERVISOR_BACKOFF_MAX": "1",
        }
    )
    env.update({f"BACKEND_{k.upper()}": str(v) for k, v in settings.items()})
    log_path = tmp / f"backend-{mode}-{port}.log"
    with open(log_path, "ab") as log:
        limited = [] if open_files is None else ["prlimit", f"--nofile={open_files}:{open_files}", "--"]
        proc = subprocess.Popen(
            [*limited, sys.executable, "-m", "backend", mode], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    live = Live("127.0.0.1", port, data_dir, proc=proc, log_path=log_path, env=env, open_files=open_files)
    if wait:
        try:
            live.wait_ready()
        except BaseException:
            live.stop()
            raise
    return live


@contextlib.contextmanager
def running(tmp: Path, mode: str = "serve", **settings: Any) -> Iterator[Live]:
    live = start(tmp, mode, **settings)
    try:
        yield live
    finally:
        live.stop()
