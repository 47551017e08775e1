"""The message bus between instances: one Redis stream carries every broadcast, in one order.

Several instances behind one proxy each hold their own sockets. A broadcast accepted by any of
them is appended to the stream; every instance reads the stream and fans each entry out to its own
clients, so a client sees the same sequence numbers whichever instance it reaches, and resumes
with ``?since=N`` on any of them.

Numbering (the design Centrifugo uses for its history over Redis Streams):

* a small server-side script gives every broadcast the next **dense** sequence number and appends
  it under the stream id ``SEQ-0``, in one step, so two publishers never share a number;
* the same script keeps an **epoch**, a random token written once when the numbering starts. Redis
  restarted without its data starts a new numbering under a new epoch: an instance that sees the
  epoch change knows its clients' sequence numbers mean nothing any more, instead of silently
  reusing them.

Redis is safe here with no persistence at all (a restart is a new epoch) or with
``appendfsync always``; with anything in between a restart can bring back an older state under the
same epoch, and numbers are reused. The deployment guide runs it without persistence.
"""

from __future__ import annotations

import dataclasses
import json
import secrets

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

__all__ = ["Bus", "BusDown", "Entry", "Position", "Reading"]

CONNECTIONS = 16  # to Redis, per instance: appends take well under a millisecond each

# KEYS[1] the stream, KEYS[2] the numbering (a hash: epoch, seq)
# ARGV[1] an epoch to start with if none is set, ARGV[2] the payload (JSON), ARGV[3] entries kept
_APPEND = """
redis.call('HSETNX', KEYS[2], 'epoch', ARGV[1])
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], seq .. '-0', 'd', ARGV[2])
return {seq, redis.call('HGET', KEYS[2], 'epoch')}
"""


class BusDown(Exception):
    """The bus cannot be reached or refused the command: one line, with Redis's own reason."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One broadcast as the stream holds it."""

    seq: int
    payload: str  # the message, JSON-encoded by the publisher


@dataclasses.dataclass(frozen=True)
class Position:
    """Where the numbering stands: its epoch (empty until a reader or publisher starts it) and last number."""

    epoch: str
    seq: int


@dataclasses.dataclass(frozen=True)
class Reading:
    """What an instance last said of itself on the bus (:meth:`Bus.report`)."""

    instance: str  # host:port, as Prometheus names its target
    seq: int  # the last broadcast it offered to its clients
    lag: int  # how many the bus had numbered past it, at its previous report
    epoch: str
    at: float  # when it said so (Unix time)
    pid: int


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _seq(entry_id: bytes | str) -> int:
    return int(_text(entry_id).split("-", 1)[0])


def _entries(raw: list[tuple[bytes, dict[bytes, bytes]]]) -> list[Entry]:
    return [Entry(_seq(entry_id), fields[b"d"].decode()) for entry_id, fields in raw]


class Bus:
    """The stream and its numbering in one Redis, under the key prefix ``name``."""

    def __init__(self, url: str, name: str = "backend", keep: int = 1000, timeout: float = 2.0) -> None:
        # A burst of publishers waits its turn for one of a few connections instead of failing; the
        # blocking read waits up to its ``block_ms`` on one of them: the socket timeout outlasts it.
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=CONNECTIONS,
            timeout=timeout,
            socket_timeout=timeout + 2.0,
            socket_connect_timeout=timeout,
        )
        self._redis = Redis.from_pool(pool)  # owns it: closing the client closes its connections
        self._append = self._redis.register_script(_APPEND)
        self.stream, self.numbering, self.keep = f"{name}:broadcasts", f"{name}:numbering", keep
        self.readers = f"{name}:reader:"  # one key per instance: where it has read to
        self.url = url

    async def close(self) -> None:
        await self._redis.aclose()

    async def append(self, payload: str) -> tuple[Position, Entry]:
        """Append one broadcast; its number and the epoch it was numbered under."""
        try:
            seq, epoch = await self._append(keys=[self.stream, self.numbering], args=[_epoch(), payload, self.keep])
        except (RedisError, OSError) as exc:
            raise BusDown(_why(exc)) from None
        return Position(_text(epoch), int(seq)), Entry(int(seq), payload)

    async def position(self) -> Position:
        """The epoch and the last number given, without appending."""
        try:
            epoch, seq = await self._redis.hmget(self.numbering, ["epoch", "seq"])
        except (RedisError, OSError) as exc:
            raise BusDown(_why(exc)) from None
        return Position(_text(epoch or b""), int(seq or 0))

    async def read(self, after: int, block_ms: int, count: int = 500) -> tuple[Position, list[Entry]]:
        """The entries numbered after ``after``, waiting up to ``block_ms`` for the first; with the
        position read just before, so a caller learns of a new epoch within one wait (a Redis that
        came back empty gets its new epoch here, before anything is published)."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hsetnx(self.numbering, "epoch", _epoch())
                pipe.hmget(self.numbering, ["epoch", "seq"])
                pipe.xread({self.stream: f"{after}-0"}, count=count, block=block_ms)
                _, (epoch, seq), found = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise BusDown(_why(exc)) from None
        position = Position(_text(epoch or b""), int(seq or 0))
        return position, _entries(found[0][1]) if found else []

    async def tail(self, count: int) -> tuple[Position, list[Entry]]:
        """The last ``count`` entries, oldest first, with the position they end at: what an
        instance starting up loads for the clients that resume on it."""
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hsetnx(self.numbering, "epoch", _epoch())
                pipe.hmget(self.numbering, ["epoch", "seq"])
                pipe.xrevrange(self.stream, count=count)
                _, (epoch, seq), found = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise BusDown(_why(exc)) from None
        return Position(_text(epoch or b""), int(seq or 0)), list(reversed(_entries(found)))

    async def report(self, reading: Reading, ttl: int) -> None:
        """Say where an instance has read to and how far behind it is, kept ``ttl`` seconds: an
        instance that stops saying so drops out of `checks fleet`."""
        try:
            await self._redis.set(f"{self.readers}{reading.instance}", json.dumps(dataclasses.asdict(reading)), ex=ttl)
        except (RedisError, OSError) as exc:
            raise BusDown(_why(exc)) from None

    async def length(self) -> int:
        try:
            return int(await self._redis.xlen(self.stream))
        except (RedisError, OSError) as exc:
            raise BusDown(_why(exc)) from None


def _epoch() -> str:
    return secrets.token_hex(8)


def _why(exc: BaseException) -> str:
    return f"message bus: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no reason given'}"
