"""This disk's physical limit for durable writes: single-threaded fsyncs per second.

A commit with ``synchronous=FULL`` waits for one fsync of the WAL, so one commit per request can
never go faster than this figure; group commit's throughput divided by it says how many writes
each fsync carried. Measured in the backend's own data directory (same filesystem, same device),
by appending a 4 KiB page and fsyncing it, as a WAL append does.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["fsyncs_per_second"]

PAGE = b"\0" * 4096


def fsyncs_per_second(directory: Path, seconds: float) -> tuple[float, int]:
    """(fsyncs per second, how many) over about ``seconds``; the scratch file is removed after."""
    path = directory / ".fsync-bench"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    count = 0
    try:
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            os.write(fd, PAGE)
            os.fsync(fd)
            count += 1
        return count / (time.perf_counter() - started), count
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
