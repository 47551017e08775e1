"""Faults of the backend's processes: killed, stopped, drained, gone."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

from scripts import live
from scripts.faults.base import FaultUnavailable, Lift, Target, nothing_to_lift

__all__ = ["crash_loop", "server_drained", "server_hung", "server_killed", "supervisor_gone"]


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
def crash_loop(target: Target, kills: int = 3) -> Iterator[Lift]:
    """The server killed ``kills`` times in a row, each after its restart (an OOM killer, a
    crashing dependency)."""
    backend = target.backend
    for _ in range(kills):
        pid = backend.server_pid()
        os.kill(pid, signal.SIGKILL)
        live.wait_for(lambda: backend.ready() and backend.server_pid() != pid, 15, "the restarted server")  # noqa: B023 - called within this iteration
    yield nothing_to_lift
