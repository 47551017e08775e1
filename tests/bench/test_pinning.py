"""Pinning moves every thread of a process, and puts them back (scripts/pinning.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from scripts.pinning import pinned

# a child with three threads besides its main one, started before it is pinned
CHILD = (
    "import threading, time\n"
    "[threading.Thread(target=time.sleep, args=(60,), daemon=True).start() for _ in range(3)]\n"
    "print('up', flush=True)\ntime.sleep(60)\n"
)


def _affinities(pid: int) -> set[frozenset[int]]:
    return {frozenset(os.sched_getaffinity(int(tid))) for tid in os.listdir(f"/proc/{pid}/task")}


def test_every_thread_is_pinned_and_restored() -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.fail("this test needs two CPUs; the benchmarks' pinned capacity does too")
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "up\n"
        before = _affinities(child.pid)
        with pinned({child.pid: {1}}):
            assert _affinities(child.pid) == {frozenset({1})}
            assert len(os.listdir(f"/proc/{child.pid}/task")) == 4
        assert _affinities(child.pid) == before
    finally:
        child.kill()
        child.wait(10)
        child.stdout.close()


def test_a_cpu_the_process_may_not_use_is_refused_by_name() -> None:
    with pytest.raises(RuntimeError, match=r"pinning needs CPUs \[4096\]"), pinned({os.getpid(): {4096}}):
        time.sleep(0)
