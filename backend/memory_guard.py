"""Load shedding on memory: above the RSS watermark new work gets 503 + Retry-After.

:class:`MemoryGuard` is the decision alone (fed numbers, unit-tested); :func:`watch` is the thin
loop that feeds it the process RSS from psutil. Shedding stops once RSS falls below
``resume_ratio`` of the watermark, so a process hovering at the line does not flap.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psutil

__all__ = ["MemoryGuard", "watch"]

log = logging.getLogger(__name__)


class MemoryGuard:
    """Decides whether to shed load from the latest RSS reading."""

    def __init__(self, watermark_bytes: int, resume_ratio: float = 0.95) -> None:
        self.watermark_bytes = watermark_bytes
        self.resume_bytes = int(watermark_bytes * resume_ratio)
        self.rss_bytes = 0
        self.shedding = False

    def update(self, rss_bytes: int) -> bool:
        """Record a reading and return whether new work must be shed."""
        self.rss_bytes = rss_bytes
        if rss_bytes > self.watermark_bytes:
            if not self.shedding:
                log.warning("RSS %d B above watermark %d B: shedding new work", rss_bytes, self.watermark_bytes)
            self.shedding = True
        elif self.shedding and rss_bytes < self.resume_bytes:
            log.warning("RSS %d B below %d B: serving again", rss_bytes, self.resume_bytes)
            self.shedding = False
        return self.shedding

    @property
    def retry_after_seconds(self) -> int:
        return 5


async def watch(guard: MemoryGuard, interval: float, on_change: Callable[[bool], None]) -> None:
    """Sample this process's RSS every ``interval`` seconds until cancelled."""
    process = psutil.Process()
    while True:
        before = guard.shedding
        guard.update(process.memory_info().rss)
        if guard.shedding != before:
            on_change(guard.shedding)
        await asyncio.sleep(interval)
