"""Where a broadcast goes before it reaches the sockets: the one seam between one instance and many.

* :class:`LocalBroadcasts` (no bus set): this process numbers the broadcast, saves it in SQLite for
  replay after a restart, and offers it to its own clients.
* :class:`BusBroadcasts` (``BACKEND_BUS_URL`` set): the broadcast is appended to the Redis stream
  shared by every instance (:mod:`backend.bus`), which numbers it; a reader task per instance
  follows the stream and offers each entry to that instance's clients. The answer to the publisher
  waits until this instance has offered it, so ``delivered`` counts this instance's clients.

With the bus down, a broadcast is refused (:class:`~backend.bus.BusDown`, 503 ``bus_unavailable``):
delivering it to this instance's clients only would give the other instances' clients a hole
nobody tells them about. Connected clients keep their sockets and get what comes after.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from backend.backoff import Backoff
from backend.bus import Bus, BusDown, Entry, Position, Reading
from backend.db import Database, DatabaseError
from backend.error_log import ErrorLog
from backend.hub import Hub, message_frame
from backend.metrics import Metrics

__all__ = ["Broadcasts", "BusBroadcasts", "LocalBroadcasts", "Published"]

log = logging.getLogger(__name__)

READ_BLOCK_MS = 1000  # one blocking read: also how soon a new epoch is noticed on an idle stream
REPORT_INTERVAL = 1.0  # seconds between two reports of this instance's place on the bus
REPORT_TTL = 600  # seconds a report is kept: an instance gone longer drops out of `checks fleet`
DELIVER_TIMEOUT = 1.0  # the publisher's wait for this instance's reader to reach its broadcast (within the probes' 5 s)
COUNTS_KEPT = 1024  # offers remembered for publishers that ask after the reader was there


@dataclasses.dataclass(frozen=True)
class Published:
    """The answer to ``POST /api/broadcast``."""

    seq: int
    delivered: int
    dropped: int
    durable: bool
    epoch: str = ""  # the bus's numbering ``seq`` belongs to; empty with one instance


class Broadcasts(Protocol):
    async def start(self) -> None: ...
    async def publish(self, message: object) -> Published: ...
    async def stop(self) -> None: ...


class LocalBroadcasts:
    """One instance: numbered here, saved in SQLite, offered to this process's clients."""

    def __init__(self, hub: Hub, db: Database, metrics: Metrics, errors: ErrorLog, keep: int) -> None:
        self._hub, self._db, self._metrics, self._errors, self._keep = hub, db, metrics, errors, keep
        self._lock = asyncio.Lock()  # one publisher at a time: sequence numbers stay in order

    async def start(self) -> None:
        self._hub.replay.restore(self._db.recent_broadcasts(self._keep))
        self._metrics.ws_broadcast_seq.set(self._hub.replay.last_seq)

    async def publish(self, message: object) -> Published:
        async with self._lock:
            seq = self._hub.replay.last_seq + 1
            frame = message_frame(seq, json.dumps(message))
            durable = True
            try:
                await self._db.store_broadcast(seq, frame, self._keep)
            except DatabaseError as exc:
                durable = False  # still delivered live; only a restart before it is read could lose it
                self._metrics.db_errors.labels(exc.kind).inc()
                self._metrics.ws_broadcasts_not_persisted.inc()
                self._errors.record("database", exc.kind, f"broadcast {seq} not saved for replay: {exc}")
            _, delivered, dropped = self._hub.publish(seq, frame)
        self._metrics.ws_broadcast_seq.set(seq)
        return Published(seq, delivered, dropped, durable)

    async def stop(self) -> None:
        return None


class BusBroadcasts:
    """Several instances: numbered by the bus, offered by this instance's reader of the stream."""

    def __init__(self, bus: Bus, hub: Hub, metrics: Metrics, errors: ErrorLog, keep: int, instance: str) -> None:
        self._bus, self._hub, self._metrics, self._errors, self._keep = bus, hub, metrics, errors, keep
        self.instance = instance  # host:port, as the instances' reports on the bus name it
        self.epoch = ""
        self._reading = asyncio.Event()  # cleared by a drill: the reader stalls, as a stuck one would
        self._reading.set()
        self._offered: dict[int, asyncio.Future[tuple[int, int]]] = {}  # publishers waiting on the reader
        # what the reader's offers came to, for a publisher whose entry was offered before it asked
        self._counts: collections.OrderedDict[int, tuple[int, int]] = collections.OrderedDict()
        # wired to close every socket: their numbers mean nothing now
        self.on_new_epoch: Callable[[], Awaitable[None]] = _nothing

    async def start(self) -> None:
        """Load the stream's tail for clients that resume here. A bus down at start-up is no reason
        not to serve: the reader loads it once the bus answers."""
        try:
            await self._load_tail()
        except BusDown as exc:
            self._down(exc)

    async def _load_tail(self) -> None:
        """The last broadcasts, for clients that resume here; the reader goes on after them (never
        from the stream's start: those are history, not news, to this instance's clients)."""
        position, entries = await self._bus.tail(self._keep)
        self._begin(position.epoch)
        self._hub.replay.restore([(e.seq, message_frame(e.seq, e.payload)) for e in entries])
        self._hub.replay.last_seq = position.seq
        self._metrics.ws_broadcast_seq.set(position.seq)
        self._metrics.bus_up.set(1)  # read: not 0 until the reader's first blocking read returns

    async def publish(self, message: object) -> Published:
        position, entry = await self._bus.append(json.dumps(message))
        counts = self._counts.get(entry.seq)
        if counts is None:
            offered = self._offered.setdefault(entry.seq, asyncio.get_running_loop().create_future())
            try:
                counts = await asyncio.wait_for(offered, DELIVER_TIMEOUT)
            except TimeoutError:
                counts = (0, 0)  # in the stream, numbered: this instance's reader is behind
            finally:
                self._offered.pop(entry.seq, None)
        return Published(position.seq, *counts, durable=True, epoch=position.epoch)

    async def follow(self) -> None:
        """The reader: every entry after the last one offered, in order, to this instance's clients."""
        backoff = Backoff(0.1, 5.0)
        while True:
            try:
                if not self.epoch:  # the bus was down at start-up
                    await self._load_tail()
                position, entries = await self._bus.read(self._hub.replay.last_seq, READ_BLOCK_MS)
            except BusDown as exc:
                self._down(exc)
                await asyncio.sleep(backoff.next_delay())
                continue
            await self._reading.wait()  # the drill's stuck reader: what it read is offered once released
            backoff.reset()
            self._metrics.bus_up.set(1)
            if position.epoch != self.epoch and position.epoch:
                await self._new_epoch(position)
                continue
            for entry in entries:
                self._offer(entry)
            self._metrics.bus_lag.set(max(0, position.seq - self._hub.replay.last_seq))

    async def report(self) -> None:
        """Every second, this instance's lag, from the bus's own count (a reader that stalls cannot
        say how far behind it is), into its gauge and onto the bus for `checks fleet`."""
        while True:
            seq = self._hub.replay.last_seq
            try:
                position = await self._bus.position()
                lag = max(0, position.seq - seq) if position.epoch == self.epoch else 0
                await self._bus.report(
                    Reading(self.instance, seq, lag, self.epoch, time.time(), os.getpid()), REPORT_TTL
                )
            except BusDown:
                pass  # the reader says so (backend_bus_up 0)
            else:
                self._metrics.bus_lag.set(lag)
            await asyncio.sleep(REPORT_INTERVAL)

    def stall(self, stalled: bool) -> None:
        """The drill of a stuck reader (``PUT /_faults/bus``): it stops reading until released."""
        if stalled:
            self._reading.clear()
        else:
            self._reading.set()

    @property
    def stalled(self) -> bool:
        return not self._reading.is_set()

    def _offer(self, entry: Entry) -> None:
        expected = self._hub.replay.last_seq + 1
        if entry.seq > expected:  # trimmed before this instance read them: its clients are told
            self._hub.gap(expected, entry.seq - 1)
            self._errors.record("bus", "behind", f"broadcasts {expected}..{entry.seq - 1} trimmed before read")
        _, delivered, dropped = self._hub.publish(entry.seq, message_frame(entry.seq, entry.payload))
        self._metrics.ws_broadcast_seq.set(entry.seq)
        self._counts[entry.seq] = (delivered, dropped)
        if len(self._counts) > COUNTS_KEPT:
            self._counts.popitem(last=False)
        waiting = self._offered.get(entry.seq)
        if waiting is not None and not waiting.done():
            waiting.set_result((delivered, dropped))

    async def _new_epoch(self, position: Position) -> None:
        """Numbers from now on are the new epoch's: a client that reconnects while the old sockets are
        being closed already gets the new numbering and its gap notice. Nothing is offered meanwhile
        (the reader is here), so no old socket gets a frame of the new numbering."""
        self._begin(position.epoch)
        self._hub.replay.reset()
        self._errors.record("bus", "new-epoch", f"the bus numbers anew (epoch {position.epoch}): history lost")
        await self.on_new_epoch()

    def _begin(self, epoch: str) -> None:
        self.epoch = self._hub.epoch = epoch

    def _down(self, exc: BusDown) -> None:
        self._metrics.bus_up.set(0)
        self._errors.record("bus", "down", str(exc))

    async def stop(self) -> None:
        await self._bus.close()


async def _nothing() -> None:
    return None
