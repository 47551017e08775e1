"""Pin a process, every thread of it, to chosen CPUs, and put it back afterwards.

Why every thread: ``sched_setaffinity(pid)`` (what ``taskset -p`` and psutil do) moves only the
thread whose id is the pid; the server's database and cache threads started at start-up would stay
on every core. New threads inherit the affinity of the thread that creates them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["pinned"]


def _threads(pid: int) -> list[int]:
    return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]


def _set(pid: int, cpus: set[int]) -> None:
    for tid in _threads(pid):
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.sched_setaffinity(tid, cpus)


@contextlib.contextmanager
def pinned(placement: dict[int, set[int]]) -> Iterator[None]:
    """Each ``pid`` (and its threads) on its CPUs for the block; their old affinity restored after."""
    offered = os.sched_getaffinity(0)
    wanted = set().union(*placement.values()) if placement else set()
    if not wanted <= offered:
        raise RuntimeError(f"pinning needs CPUs {sorted(wanted)}; this process may use only {sorted(offered)}")
    before = {pid: os.sched_getaffinity(pid) for pid in placement}
    for pid, cpus in placement.items():
        _set(pid, cpus)
    try:
        yield
    finally:
        for pid, cpus in before.items():
            with contextlib.suppress(ProcessLookupError, FileNotFoundError):
                _set(pid, cpus)
