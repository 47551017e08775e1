"""Large buffers lent to requests, as a client library's pool lends them: what the memory drill of a
slow dependency with large answers holds (``PUT /_faults/latency`` with ``request_megabytes``).

One buffer per request in progress; one returned is lent again, and one idle for ``idle_seconds`` is
given back to the system. So RSS follows the requests in progress both ways, as load-made memory
does: each buffer is an anonymous mapping populated when made (a freed ``bytearray`` may stay in the
C heap, and RSS would not fall with the load), and reuse spares the zeroing (a new 12 MiB buffer
took 6 ms here). A new one is filled on a worker thread by ``ctypes.memset``, which lets go of the
GIL: ``MAP_POPULATE`` does not, and eight of 32 MiB made at once held the loop 97 ms (26 ms this
way), long enough for the loop-lag guard to refuse the next requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import mmap
import time
from collections.abc import AsyncIterator

__all__ = ["BufferPool"]

MiB = 1024 * 1024


class BufferPool:
    """Buffers of ``megabytes`` each (0: none lent), each lent for the length of an ``async with``."""

    def __init__(self, idle_seconds: float = 1.0) -> None:
        self.idle_seconds = idle_seconds
        self.megabytes = 0
        self.lent_count = 0
        self._idle: list[tuple[float, mmap.mmap]] = []  # (returned at, buffer): the latest last

    def resize(self, megabytes: int) -> None:
        """Lend buffers of ``megabytes`` from now on; idle ones go, lent ones go when returned."""
        self.megabytes = megabytes
        self._give_back(self._idle)
        self._idle = []

    @contextlib.asynccontextmanager
    async def lent(self) -> AsyncIterator[None]:
        size = self.megabytes * MiB
        if not size:
            yield
            return
        buffer = await self._take(size)
        self.lent_count += 1
        try:
            yield
        finally:
            self.lent_count -= 1
            if len(buffer) == self.megabytes * MiB:
                self._idle.append((time.monotonic(), buffer))
            else:
                buffer.close()
            self._trim()

    async def _take(self, size: int) -> mmap.mmap:
        self._trim()
        if self._idle:
            return self._idle.pop()[1]  # the latest returned: the oldest stay idle and are given back
        return await asyncio.to_thread(_filled, size)

    def _trim(self) -> None:
        since = time.monotonic() - self.idle_seconds
        self._give_back([(t, b) for t, b in self._idle if t < since])
        self._idle = [(t, b) for t, b in self._idle if t >= since]

    @staticmethod
    def _give_back(idle: list[tuple[float, mmap.mmap]]) -> None:
        for _, buffer in idle:
            buffer.close()


def _filled(size: int) -> mmap.mmap:
    """A new anonymous mapping of ``size`` bytes, every page written (in RSS from now on)."""
    buffer = mmap.mmap(-1, size)
    start = ctypes.c_char.from_buffer(buffer)
    ctypes.memset(ctypes.addressof(start), 1, size)
    del start  # the mapping cannot be closed while a ctypes view of it exists
    return buffer
