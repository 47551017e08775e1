"""Copies of the server's own /metrics over the last minutes, so a check can take a rate over the
same window as the alert (``rate(x[1m])``) from one request, instead of sampling for a minute.

``GET /metrics?ago=60`` answers the copy taken closest to, and at least, 60 s ago (or the oldest
one when the server is younger than that), with its real age in ``X-Metrics-Age-Seconds``.
Prometheus scrapes ``/metrics`` without the parameter and is not affected.
"""

from __future__ import annotations

import collections
import zlib

__all__ = ["MetricsHistory"]


class MetricsHistory:
    """A ring of (taken_at, exposition) pairs, oldest first; pure, the caller supplies the clock.

    Copies are kept compressed (exposition text shrinks about tenfold): 11 minutes of copies every
    5 s stay well under a megabyte, so the history does not show in the memory soak.
    """

    def __init__(self, interval: float, span: float) -> None:
        self.interval = interval
        self._ring: collections.deque[tuple[float, bytes]] = collections.deque(maxlen=int(span / interval) + 2)

    def record(self, taken_at: float, exposition: bytes) -> None:
        self._ring.append((taken_at, zlib.compress(exposition, 1)))

    def at(self, ago: float, now: float) -> tuple[float, bytes] | None:
        """The newest copy at least ``ago`` seconds old, else the oldest; with its age in seconds."""
        chosen = None
        for taken_at, compressed in self._ring:
            if now - taken_at >= ago or chosen is None:
                chosen = (now - taken_at, compressed)
            else:
                break
        return None if chosen is None else (chosen[0], zlib.decompress(chosen[1]))

    def __len__(self) -> int:
        return len(self._ring)
