"""``backend supervise``: keep one server process alive on a data directory.

* one supervisor per instance directory (``supervisor.lock``, an ``flock`` the kernel frees if we
  die): the data directory, unless several instances share its database (``BACKEND_INSTANCE_DIR``);
* start the server, wait for ``/ready`` with backoff, log how long it took;
* after a crash, restart with capped exponential backoff and jitter; a server that stayed up for a
  whole crash-loop window resets the backoff;
* a watchdog asks the running server's ``/health``; a server that stops answering (hung, stopped)
  is killed after ``health_failures`` failed probes in a row and restarted like a crash;
* ``max_starts`` starts inside the window is a crash loop: stop and exit non-zero, because
  restarting a server that cannot start only hides the reason from the on-call engineer;
* SIGTERM/SIGINT: forward SIGTERM (the server drains: WebSockets 1001, in-flight work within the
  grace period), wait, exit 0. Old signal handlers are restored on the way out.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import fcntl
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from backend.backoff import Backoff, CrashLoop
from backend.restarts import Restarts
from backend.settings import Settings
from backend.watchdog import Watchdog

__all__ = ["CrashLoopError", "LockHeld", "Supervisor"]

log = logging.getLogger("backend.supervisor")

BACKOFF_BASE = 0.1
POLL = 0.05
KILL_MARGIN = 5.0
PR_SET_PDEATHSIG = 1
RESTART_TIMES_KEPT = 100  # enough to count any limit's window; the lifetime total is passed apart


class LockHeld(RuntimeError):
    """Another supervisor already runs on this data directory."""


class CrashLoopError(RuntimeError):
    """The server kept dying at start; the message has the last exit code."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the server gets SIGTERM if the supervisor itself is killed, so no orphan holds the port."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[IO[str]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise LockHeld(
                f"another supervisor (pid {holder}) already runs on {path.parent}; "
                f"stop it first or use another BACKEND_DATA_DIR"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield handle


class Supervisor:
    """Runs the restart loop; :meth:`run` returns the exit code."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stop = threading.Event()
        self.restarts = 0
        self.watchdog_kills = 0
        self.restarted_at: collections.deque[float] = collections.deque(maxlen=RESTART_TIMES_KEPT)
        self.child: subprocess.Popen[bytes] | None = None
        self.backoff = Backoff(BACKOFF_BASE, settings.supervisor_backoff_max)
        self.crash_loop = CrashLoop(settings.supervisor_max_starts, settings.supervisor_window)

    def _on_signal(self, signum: int, frame: object) -> None:
        log.info("got %s: draining the server", signal.Signals(signum).name)
        self.stop.set()

    def run(self) -> int:
        with _lock(self.settings.instance_dir / "supervisor.lock"):
            previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
            try:
                return self._loop()
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
                self._terminate_child()

    def _loop(self) -> int:
        while not self.stop.is_set():
            started = time.monotonic()
            self.crash_loop.record_start(started)
            self.child = self._spawn()
            self._wait_ready(self.child, started)
            self._watch(self.child)
            if self.stop.is_set():
                break
            code = self.child.returncode
            uptime = time.monotonic() - started
            log.error("server pid %d exited with code %s after %.1f s", self.child.pid, code, uptime)
            if uptime >= self.crash_loop.window:
                self.backoff.reset()
            if self.crash_loop.tripped():
                raise CrashLoopError(
                    f"server started {len(self.crash_loop)} times in {self.crash_loop.window:g} s and "
                    f"exited each time (last exit code {code}); giving up. Read the server log above."
                )
            delay = self.backoff.next_delay()
            log.info("restarting in %.2f s", delay)
            if self.stop.wait(delay):
                break
            self.restarts += 1
            self.restarted_at.append(time.time())
        return 0

    def _watch(self, child: subprocess.Popen[bytes]) -> None:
        """Wait for the child to exit, probing its /health; kill it when the watchdog trips (hung)."""
        watchdog = Watchdog(self.settings.supervisor_health_failures)
        next_probe = time.monotonic() + self.settings.supervisor_health_interval
        while child.poll() is None and not self.stop.wait(POLL):
            if time.monotonic() < next_probe:
                continue
            error = self._health_error()
            next_probe = time.monotonic() + self.settings.supervisor_health_interval
            if watchdog.record(error) and child.poll() is None:
                self.watchdog_kills += 1
                log.error(
                    "watchdog: server pid %d failed %d /health probes in a row (last: %s); killing it",
                    child.pid,
                    watchdog.in_a_row,
                    watchdog.last_error,
                )
                child.kill()
                child.wait()

    def _health_error(self) -> str | None:
        """None when /health answers 200 within the watchdog timeout, else why not."""
        timeout = self.settings.supervisor_health_timeout
        try:
            with urllib.request.urlopen(f"{self.settings.base_url}/health", timeout=timeout) as response:
                return None if response.status == 200 else f"HTTP {response.status}"
        except TimeoutError:
            return f"no answer within {timeout:g} s"
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return f"no answer within {timeout:g} s" if isinstance(reason, TimeoutError) else str(reason)

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, **self.settings.to_env()}
        cmd = [
            sys.executable,
            "-m",
            "backend",
            "serve",
            "--restarts",
            str(self.restarts),
            "--restarted-at",
            Restarts.format(self.restarted_at),
            "--watchdog-kills",
            str(self.watchdog_kills),
        ]
        child = subprocess.Popen(cmd, env=env, preexec_fn=_die_with_parent)
        log.info("started server pid %d (restart %d)", child.pid, self.restarts)
        return child

    def _wait_ready(self, child: subprocess.Popen[bytes], started: float) -> None:
        """Poll /ready with growing intervals until 200, the child dies, or the ready timeout."""
        url = f"{self.settings.base_url}/ready"
        interval = 0.02
        deadline = started + self.settings.ready_timeout
        while child.poll() is None and not self.stop.is_set() and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=1.0) as response:
                    if response.status == 200:
                        log.info("server pid %d ready after %.2f s", child.pid, time.monotonic() - started)
                        return
            except (urllib.error.URLError, OSError):
                pass
            self.stop.wait(interval)
            interval = min(interval * 2, 0.5)
        if child.poll() is None and not self.stop.is_set():
            log.warning(
                "server pid %d not ready after %.0f s; still running, check GET /ready",
                child.pid,
                self.settings.ready_timeout,
            )

    def _terminate_child(self) -> None:
        child = self.child
        if child is None or child.poll() is not None:
            return
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(self.settings.shutdown_grace + KILL_MARGIN)
        except subprocess.TimeoutExpired:
            log.error("server pid %d did not stop within the grace period; killing it", child.pid)
            child.kill()
            child.wait()
        log.info("server pid %d stopped", child.pid)
