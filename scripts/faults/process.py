"""Faults of the backend's processes: killed, stopped, drained, gone."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import psutil

from scripts import live
from scripts.faults.base import FaultUnavailable, Lift, Target, nothing_to_lift

__all__ = [
    "crash_loop",
    "instance_killed",
    "instance_stopped",
    "port_taken",
    "server_drained",
    "server_hung",
    "server_killed",
    "supervisor_gone",
]

GIVE_UP_DEADLINE = 60.0  # five failed starts with backoff, each a second of imports, on a busy machine


def _signal_quietly(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


@contextlib.contextmanager
def server_killed(target: Target) -> Iterator[Lift]:
    """SIGKILL of the server process (an OOM kill, a segfault); its supervisor restarts it."""
    os.kill(target.backend.server_pid(), signal.SIGKILL)
    yield nothing_to_lift


@contextlib.contextmanager
def server_drained(target: Target) -> Iterator[Lift]:
    """SIGTERM of the server process (a deploy): it drains every socket with 1001 and exits; its
    supervisor starts a new one."""
    os.kill(target.backend.server_pid(), signal.SIGTERM)
    yield nothing_to_lift


@contextlib.contextmanager
def server_hung(target: Target) -> Iterator[Lift]:
    """SIGSTOP of the server: it accepts connections and answers nothing (a blocked event loop)."""
    backend = target.backend
    pid = backend.server_pid()
    live.wait_for(lambda: backend.server_seen_ready(pid), 10, "the supervisor to see it ready")
    os.kill(pid, signal.SIGSTOP)
    try:
        yield lambda: _signal_quietly(pid, signal.SIGCONT)
    finally:
        _signal_quietly(pid, signal.SIGCONT)


@contextlib.contextmanager
def supervisor_gone(target: Target) -> Iterator[Lift]:
    """SIGKILL of the process we started (the supervisor: its server dies with it by parent-death
    signal; or a lone server): nothing listens on the port any more."""
    backend = target.backend
    if not isinstance(backend, live.Live):
        raise FaultUnavailable("supervisor-gone kills a supervisor this harness started")
    backend.proc.kill()
    backend.proc.wait(10)
    yield nothing_to_lift


@contextlib.contextmanager
def instance_killed(target: Target) -> Iterator[Lift]:
    """The supervisor and its server SIGKILLed together (a host losing the unit, the OOM killer
    taking both): every socket of the instance ends without a close frame, and nothing restarts it.
    The supervisor is held still first, so it can neither restart the server nor, by dying first,
    have it drain (its parent-death signal is SIGTERM)."""
    backend = target.backend
    if not isinstance(backend, live.Live):
        raise FaultUnavailable("instance-killed kills a supervisor this harness started, with its server")
    server = backend.server_pid()
    os.kill(backend.proc.pid, signal.SIGSTOP)
    os.kill(server, signal.SIGKILL)
    backend.proc.kill()
    backend.proc.wait(10)
    yield nothing_to_lift


@contextlib.contextmanager
def instance_stopped(target: Target) -> Iterator[Lift]:
    """One instance of several stopped by its service manager and left so (maintenance never
    undone, a `systemctl stop` of the wrong unit): it drains its sockets with 1001, nginx skips
    it, and its unit does not start it again. The lift starts it."""
    backend = target.backend
    backend.stop_service()
    stopped = True

    def lift() -> None:
        nonlocal stopped
        if stopped and not _answers(backend.url):  # the page may have started it already
            backend.reconfigure()
        stopped = False

    try:
        yield lift
    finally:
        lift()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def crash_loop(target: Target, kills: int = 3) -> Iterator[Lift]:
    """The server killed ``kills`` times in a row, each after its restart (an OOM killer, a
    crashing dependency)."""
    backend = target.backend
    for _ in range(kills):
        pid = backend.server_pid()
        os.kill(pid, signal.SIGKILL)
        live.wait_for(lambda: backend.ready() and backend.server_pid() != pid, 15, "the restarted server")  # noqa: B023 - called within this iteration
    yield nothing_to_lift


def _end(squatter: subprocess.Popen[bytes]) -> None:
    live.stop_process(squatter, signal.SIGTERM, 5)


def _exited(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie its parent has not reaped yet counts)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _squatter_answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1.0).status_code == 404
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def port_taken(target: Target) -> Iterator[Lift]:
    """The server killed, and another program (a stray exporter, a debug server) takes its port
    before the supervisor starts it again: each start fails with "address already in use" until the
    supervisor gives up on the crash loop; ``/health`` answers 404 from the squatter. The supervisor
    is paused for the moment between the kill and the squatter's bind, so the race is won every time.
    Lifting it ends the squatter."""
    backend = target.backend
    server, supervisor = backend.server_pid(), backend.supervisor_pid()
    runner = backend.runner()
    os.kill(supervisor, signal.SIGSTOP)
    try:
        os.kill(server, signal.SIGKILL)
        squatter = subprocess.Popen(
            [*runner, "python3" if runner else sys.executable, "-m", "http.server", str(backend.port)]
            + ["--bind", backend.host],
            cwd=backend.data_dir.parent,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        live.wait_for(lambda: _squatter_answers(backend.url), 15, f"another program to answer on port {backend.port}")
    finally:
        os.kill(supervisor, signal.SIGCONT)
    try:
        live.wait_for(lambda: _exited(supervisor), GIVE_UP_DEADLINE, "the supervisor to give up")
        yield lambda: _end(squatter)
    finally:
        _end(squatter)
