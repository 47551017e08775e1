"""Admission by queue time: refuse a share of new requests while the event loop runs late.

Why the in-flight limit is not enough: a read answered on the event loop (``backend.db``) is never
"in flight" for long, so past capacity the limit is never reached while the loop is saturated;
then every request, admitted or about to be refused, waits in the socket buffers for the loop to
get round to it, and even a refusal takes as long as a served request. How late the loop runs is
that wait: a timer due every ``INTERVAL`` fires late by about one pass over all ready connections.

Late is not enough: a loop also runs late when other processes take its core (a shared CI machine,
a noisy neighbour), and refusing work then would only add errors. So a tick counts as overload only
when it is late *and* the process was busy (CPU time of all its threads, ``time.process_time``: the
writer thread's commits are the same request's work) for at least ``BUSY`` of the time since the
last tick: the server is late because of its own work.

The controller: once ``LATE_TICKS`` ticks in a row, over at least ``SUSTAINED`` seconds, have been
overloaded (a garbage collection pause, one slow handler or a burst of a few dozen requests makes one
or two late ticks, however long, and is no overload), the refused share rises at
``RISE_PER_SECOND``; while ticks are on time it falls at ``FALL_PER_SECOND``. Rates per second of
wall time, not per tick, because a saturated loop ticks seldom. Why these figures: every moment of
overload grows a backlog that each request behind it waits out, refused or not. Waiting for 0.1 s
of overload, rising at 4/s and falling at 1/s, the share sawed between too low and too high, and
the 60-s pinned overload drill at three times capacity refused with a p99 of 46 ms (13 ms with the
rates below but the 0.1 s wait); waiting 0.03 s, rising at 16/s and falling at 0.5/s gave 6.0 ms
(admitted 18 ms). The share never reaches 1, so some requests always test whether the overload is
over. Probes (``/health``, ``/ready``, ``/metrics``) are never refused (``backend.gateway``).
"""

from __future__ import annotations

import asyncio
import random
import time

from prometheus_client import Gauge

__all__ = ["LagShedder"]

INTERVAL = 0.005  # seconds between ticks
SUSTAINED, LATE_TICKS = 0.03, 3  # seconds and ticks of overload in a row before any request is refused
MAX_STEP = 0.05  # seconds of rise one tick may add, however late it was
BUSY = 0.75  # CPU seconds the process used per second of wall time, for a late tick to count
RISE_PER_SECOND, FALL_PER_SECOND, MAX_SHARE = 16.0, 0.5, 0.95


class LagShedder:
    """``shed()`` says whether to refuse the request at hand; ``watch()`` runs the controller."""

    def __init__(self, target: float, lag_gauge: Gauge, share_gauge: Gauge) -> None:
        self.target = target  # seconds; 0 turns the controller off
        self.share = 0.0
        self._late_for = 0.0  # seconds the ticks have been late in a row
        self._late_ticks = 0
        self._lag_gauge, self._share_gauge = lag_gauge, share_gauge
        self._random = random.Random()

    def shed(self) -> bool:
        return self.share > 0 and self._random.random() < self.share

    def tick(self, lag: float, elapsed: float, busy: float) -> None:
        """One measurement: the tick fired ``lag`` seconds after it was due, ``elapsed`` after the last,
        and the process used ``busy`` CPU seconds per second of it."""
        if lag > self.target and busy >= BUSY:
            self._late_for += elapsed
            self._late_ticks += 1
            if self._late_for >= SUSTAINED and self._late_ticks >= LATE_TICKS:
                self.share = min(MAX_SHARE, self.share + RISE_PER_SECOND * min(elapsed, MAX_STEP))
        else:
            self._late_for, self._late_ticks = 0.0, 0
            self.share = max(0.0, self.share - FALL_PER_SECOND * elapsed)
        self._lag_gauge.set(lag)
        self._share_gauge.set(self.share)

    async def watch(self) -> None:
        """Tick every ``INTERVAL`` until cancelled."""
        if not self.target:
            return
        loop = asyncio.get_running_loop()
        last, last_cpu = loop.time(), time.process_time()
        while True:
            due = last + INTERVAL
            await asyncio.sleep(INTERVAL)
            now, cpu = loop.time(), time.process_time()
            elapsed = now - last
            self.tick(max(0.0, now - due), elapsed, (cpu - last_cpu) / elapsed if elapsed > 0 else 0.0)
            last, last_cpu = now, cpu
