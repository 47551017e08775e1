"""A fresh supervised backend for one suite, with the file-descriptor limit raised for both sides.

Every suite gets its own backend and data directory, so no suite measures what an earlier one left
behind (a grown SQLite file, a full cache, a restarted server).
"""

from __future__ import annotations

import contextlib
import resource
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from scripts import live

__all__ = ["exit_cleanly_on_sigterm", "fresh_backend", "many_open_files"]


def exit_cleanly_on_sigterm() -> None:
    """SIGTERM (a `kill`, a CI timeout) unwinds like Ctrl-C, so every backend a suite started is
    stopped by its context manager instead of being left running on its port."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


@contextlib.contextmanager
def many_open_files() -> Iterator[None]:
    """Thousands of sockets allowed in this process and in every backend started meanwhile (they
    inherit the limit); the old limit back after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@contextlib.contextmanager
def fresh_backend(**settings: object) -> Iterator[live.Live]:
    """``backend supervise`` on loopback with ``settings``; thousands of sockets allowed, here and in it."""
    with (
        many_open_files(),
        tempfile.TemporaryDirectory(prefix="bench-") as tmp,
        live.running(Path(tmp), "supervise", log_level="warning", **settings) as backend,
    ):
        yield backend
