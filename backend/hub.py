"""WebSocket hub logic with no sockets in it: registry, bounded send queues, replay buffer.

The socket adapter (:mod:`backend.ws`) owns the I/O; everything that decides *what* happens —
who is admitted, which frames a reconnecting client gets, when a consumer is too slow — lives
here as plain code with unit tests.

The replay buffer is filled from the database at start-up (the broadcast route saves each frame
before publishing it), so replay survives a restart of the server.

Broadcast has no backpressure on the publisher by design: a client that does not drain its
queue is dropped (and counted) instead of slowing everyone else down or growing memory.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
from collections.abc import Callable, Iterable

__all__ = ["Connection", "Hub", "HubFull", "ReplayBuffer", "SlowConsumer", "message_frame"]


def message_frame(seq: int, data: str) -> str:
    """The ``message`` frame of broadcast ``seq``; ``data`` is already JSON (encoded once, by its publisher)."""
    return f'{{"type": "message", "seq": {seq}, "data": {data}}}'


class HubFull(Exception):
    """Raised by :meth:`Hub.connect` when the registry is at capacity."""


class SlowConsumer(Exception):
    """Raised by :meth:`Connection.get` once the connection was dropped for falling behind."""


class ReplayBuffer:
    """The last ``size`` broadcasts, each stamped with a sequence number that only grows."""

    def __init__(self, size: int) -> None:
        self._frames: collections.deque[tuple[int, str]] = collections.deque(maxlen=size)
        self.last_seq = 0

    def add(self, seq: int, frame: str) -> None:
        """Keep a frame; ``seq`` must be the next one (the caller serialises publishers)."""
        if seq != self.last_seq + 1:
            raise ValueError(f"broadcast {seq} out of order after {self.last_seq}")
        self.last_seq = seq
        self._frames.append((seq, frame))

    def skip_to(self, seq: int) -> None:
        """The next frame is ``seq``, the ones before it are lost (trimmed off the bus before they were
        read): what is kept goes too, so a client resuming from before ``seq`` is told of the hole."""
        self._frames.clear()
        self.last_seq = seq - 1

    def reset(self) -> None:
        """A new numbering (the bus lost its history): nothing kept, the next frame is 1."""
        self.skip_to(1)

    def restore(self, frames: list[tuple[int, str]]) -> None:
        """Reload frames persisted by an earlier process, oldest first, so replay survives a restart."""
        for seq, frame in frames:
            self._frames.append((seq, frame))
            self.last_seq = max(self.last_seq, seq)

    def since(self, seq: int) -> list[str]:
        """Frames a client that has seen up to ``seq`` must get, led by a gap notice if some are gone."""
        if seq >= self.last_seq:
            return []
        first_kept = self._frames[0][0] if self._frames else self.last_seq + 1
        frames: list[str] = []
        if seq + 1 < first_kept:
            frames.append(
                json.dumps({"type": "gap", "since": seq, "missed_from": seq + 1, "missed_to": first_kept - 1})
            )
        frames.extend(frame for s, frame in self._frames if s > seq)
        return frames


class Connection:
    """One client's bounded outbox. ``offer`` never blocks; a full outbox drops the client."""

    def __init__(self, conn_id: int, limit: int, on_drop: Callable[[Connection], None]) -> None:
        self.id = conn_id
        self._limit = limit
        self._queue: collections.deque[str] = collections.deque()
        self._ready = asyncio.Event()
        self._on_drop = on_drop
        self.dropped = False
        self.after = 0  # the last sequence number the client said it has

    def __len__(self) -> int:
        return len(self._queue)

    def preload(self, frames: Iterable[str]) -> None:
        """Queue replayed frames ahead of live ones; bounded by the replay buffer, not the limit."""
        self._queue.extend(frames)
        if self._queue:
            self._ready.set()

    def offer(self, frame: str) -> bool:
        """Queue ``frame``; when the outbox is full, drop this client and return False."""
        if self.dropped:
            return False
        if len(self._queue) >= self._limit:
            self.dropped = True
            self._queue.clear()
            self._ready.set()
            self._on_drop(self)
            return False
        self._queue.append(frame)
        self._ready.set()
        return True

    async def get(self) -> str:
        """Next frame to send; raises :class:`SlowConsumer` once the client was dropped."""
        while True:
            if self.dropped:
                raise SlowConsumer(f"connection {self.id} fell {self._limit} messages behind")
            if self._queue:
                return self._queue.popleft()
            self._ready.clear()
            await self._ready.wait()


class Hub:
    """The registry of live connections, with a hard capacity and the shared replay buffer."""

    def __init__(self, capacity: int, send_queue: int, replay: int) -> None:
        self.capacity = capacity
        self._send_queue = send_queue
        self.replay = ReplayBuffer(replay)
        self._connections: dict[int, Connection] = {}
        self._ids = itertools.count(1)
        self.epoch = ""  # the bus's numbering, when there is a bus: sent in the hello, checked on resume
        self.on_drop: Callable[[Connection], None] = lambda conn: None

    def __len__(self) -> int:
        return len(self._connections)

    def connect(self, since: int | None, epoch: str | None = None) -> Connection:
        """Admit a client, queueing what it missed since ``since``; raise :class:`HubFull` at capacity.

        Snapshotting the replay buffer and registering happen with no ``await`` between them, so
        a broadcast can neither be missed nor delivered twice. A client that saw ``since`` under
        another ``epoch`` (the bus numbered anew since) is told that what it missed is unknown, and
        starts from now.
        """
        if len(self._connections) >= self.capacity:
            raise HubFull(f"{len(self._connections)} of {self.capacity} connections in use")
        conn = Connection(next(self._ids), self._send_queue, self._dropped)
        hello = {"type": "hello", "seq": self.replay.last_seq, **({"epoch": self.epoch} if self.epoch else {})}
        conn.preload([json.dumps(hello)])
        if since is not None and epoch and epoch != self.epoch:
            conn.preload([json.dumps({"type": "gap", "since": since, "missed_from": since + 1, "missed_to": None})])
        elif since is not None:
            conn.preload(self.replay.since(since))
            conn.after = since  # resumed on an instance behind it: what it has seen is not sent again
        self._connections[conn.id] = conn
        return conn

    def disconnect(self, conn: Connection) -> None:
        """Forget ``conn``; safe to call more than once."""
        self._connections.pop(conn.id, None)

    def publish(self, seq: int, frame: str) -> tuple[int, int, int]:
        """Keep frame ``seq`` (the next number) and offer it to every client, with no ``await`` in between.

        Returns (sequence number, delivered, dropped as slow). :mod:`backend.broadcasts` saves the
        frame (SQLite, or the bus) before this call, so replay survives a restart.
        """
        self.replay.add(seq, frame)
        delivered = dropped = 0
        for conn in list(self._connections.values()):
            if seq <= conn.after:
                continue
            if conn.offer(frame):
                delivered += 1
            else:
                dropped += 1
        return seq, delivered, dropped

    def gap(self, missed_from: int, missed_to: int) -> None:
        """Tell every client that broadcasts ``missed_from``..``missed_to`` will never reach it."""
        notice = json.dumps(
            {"type": "gap", "since": missed_from - 1, "missed_from": missed_from, "missed_to": missed_to}
        )
        for conn in list(self._connections.values()):
            conn.offer(notice)
        self.replay.skip_to(missed_to + 1)

    def _dropped(self, conn: Connection) -> None:
        self.disconnect(conn)
        self.on_drop(conn)
