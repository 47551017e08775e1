"""A fresh supervised backend for one suite, with the file-descriptor limit raised for both sides.

Every suite gets its own backend and data directory, so no suite measures what an earlier one left
behind (a grown SQLite file, a full cache, a restarted server).
"""

from __future__ import annotations

import contextlib
import resource
import tempfile
from collections.abc import Iterator
from pathlib import Path

from scripts import live

__all__ = ["fresh_backend"]


@contextlib.contextmanager
def fresh_backend(**settings: object) -> Iterator[live.Live]:
    """``backend supervise`` on loopback with ``settings``; thousands of sockets allowed, here and in it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by the backend we start
    try:
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp, \
                live.running(Path(tmp), "supervise", log_level="warning", **settings) as backend:
            yield backend
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
