"""Traffic that keeps flowing during a drill and remembers what the backend acknowledged.

* :class:`Writer`: stores items, each with an ``Idempotency-Key``; a failed attempt is retried
  with the same key, so a retry after a timeout can never store a row twice.
* :class:`Publisher`: broadcasts a counter and records every acknowledged sequence number.
* :class:`Fleet`: WebSocket clients that reconnect with jittered exponential backoff and
  ``?since=N``, recording every sequence number they receive and when they reconnected.
* :class:`Prober`: polls ``/ready`` and records the timeline the drill reads TTD and TTR from.

Every loop runs in its own thread until :meth:`stop`; all use loopback URLs the drill passes in.
:func:`traffic` starts them all and waits for the steady state the drills and game days begin from.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import random
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from scripts import live
from scripts.background import Halting

__all__ = ["Fleet", "Prober", "Publisher", "Traffic", "Writer", "traffic"]


class _Loop(Halting):
    """A client of the traffic, counting its errors by kind."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: collections.Counter[str] = collections.Counter()

    def error(self, kind: str) -> None:
        self.errors[kind] += 1


def _kind(exc: BaseException | None = None, status: int | None = None, body: Any = None) -> str:
    if status is not None:
        code = body.get("error", "") if isinstance(body, dict) else ""
        return f"HTTP {status} {code}".strip()
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused"
    return type(exc).__name__


class Writer(_Loop):
    """Writes item after item; ``acked`` maps each acknowledged sequence number to its item id."""

    def __init__(self, url: str, timeout: float = 2.0, pause: float = 0.02) -> None:
        super().__init__()
        self.url, self.timeout, self.pause = url, timeout, pause
        self.run_id = uuid.uuid4().hex[:8]
        self.acked: dict[int, int] = {}
        self.replayed = 0  # retries the backend recognised by their key: stored once, acknowledged again
        self.first_error_at: float | None = None
        self.last_ok_at: float | None = None
        self.slowest_error: float = 0.0

    def run(self) -> None:
        seq = 0
        with httpx.Client(base_url=self.url, timeout=self.timeout) as client:
            while not self.halt.is_set():
                seq += 1
                while not self.halt.is_set():  # the same key until it is acknowledged
                    started = time.monotonic()
                    try:
                        response = client.post(
                            "/api/items",
                            json={"drill": self.run_id, "seq": seq},
                            headers={"Idempotency-Key": f"{self.run_id}-{seq}"},
                        )
                    except httpx.HTTPError as exc:
                        self._failed(_kind(exc), started)
                        continue
                    if response.status_code in (200, 201):
                        self.acked[seq] = int(response.json()["id"])
                        self.replayed += response.status_code == 200
                        self.last_ok_at = time.monotonic()
                        break
                    self._failed(_kind(status=response.status_code, body=_json(response)), started)
                self.halt.wait(self.pause)

    def _failed(self, kind: str, started: float) -> None:
        now = time.monotonic()
        self.error(kind)
        self.slowest_error = max(self.slowest_error, now - started)
        if self.first_error_at is None:
            self.first_error_at = now
        self.halt.wait(0.05)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class Publisher(_Loop):
    """Broadcasts ``{"drill": n}`` every ``interval``; ``acked`` lists the acknowledged sequence numbers,
    ``not_durable`` those the backend acknowledged without saving them for replay (``"durable": false``).

    With several instances the numbers are the bus's: when it numbers anew (a new ``epoch`` in the
    answer), what was acknowledged before moves to ``earlier`` and ``acked`` starts again; the
    clients were told of the new numbering, and what is owed them is counted from there."""

    def __init__(self, url: str, interval: float = 0.05, timeout: float = 2.0) -> None:
        super().__init__()
        self.url, self.interval, self.timeout = url, interval, timeout
        self.acked: list[int] = []
        self.not_durable: list[int] = []
        self.earlier: list[int] = []
        self.epoch = ""

    def run(self) -> None:
        n = 0
        with httpx.Client(base_url=self.url, timeout=self.timeout) as client:
            while not self.halt.is_set():
                n += 1
                try:
                    response = client.post("/api/broadcast", json={"message": {"drill": n}})
                    if response.status_code == 200:
                        answer = response.json()
                        if answer.get("epoch", "") != self.epoch:
                            self.earlier, self.acked = self.earlier + self.acked, []
                            self.epoch = answer["epoch"]
                        self.acked.append(int(answer["seq"]))
                        if not answer.get("durable", True):
                            self.not_durable.append(int(answer["seq"]))
                    else:
                        self.error(_kind(status=response.status_code, body=_json(response)))
                except httpx.HTTPError as exc:
                    self.error(_kind(exc))
                self.halt.wait(self.interval)


class Prober(_Loop):
    """Polls ``/ready``; ``timeline`` holds (monotonic time, status code or error, failing parts)."""

    def __init__(self, url: str, interval: float = 0.05) -> None:
        super().__init__()
        self.url, self.interval = url, interval
        self.timeline: list[tuple[float, int | str, list[str]]] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=1.0) as client:
            while not self.halt.is_set():
                try:
                    response = client.get("/ready")
                    body = _json(response) or {}
                    self.timeline.append((time.monotonic(), response.status_code, list(body.get("failing", []))))
                except httpx.HTTPError as exc:
                    self.timeline.append((time.monotonic(), _kind(exc), []))
                self.halt.wait(self.interval)

    def first(self, after: float, predicate: Any) -> float | None:
        """Seconds from ``after`` to the first sample matching ``predicate(status, failing)``."""
        for at, status, failing in self.timeline:
            if at >= after and predicate(status, failing):
                return at - after
        return None


class Fleet(_Loop):
    """``size`` WebSocket clients on one asyncio loop, reconnecting with jittered backoff and ``since``."""

    def __init__(self, ws_url: str, size: int, ping: float = 1.0, backoff: float = 0.25, cap: float = 2.0) -> None:
        super().__init__()
        self.ws_url, self.size, self.ping, self.backoff, self.cap = ws_url, size, ping, backoff, cap
        self.received: list[set[int]] = [set() for _ in range(size)]
        self.first_seq: list[int | None] = [None] * size
        self.connected = [False] * size
        self.reconnects: list[float] = []
        self.gaps = 0
        self.duplicates = 0  # broadcasts a client got twice (a resume must not repeat what it had)
        self.renumbered = [False] * size  # per client: told the bus numbers anew (what it missed is unknown)
        self.epochs = [""] * size  # per client: the numbering its sequence numbers belong to
        self.gapped = [False] * size  # per client: told of broadcasts it cannot have (a gap notice)
        self._rng = random.Random()

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        tasks = [asyncio.create_task(self._client(i)) for i in range(self.size)]
        while not self.halt.is_set():
            await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _client(self, i: int) -> None:
        attempt, last, epoch = 0, None, ""
        while True:
            # the epoch, with a bus: the server tells a client resuming across a new numbering
            url = self.ws_url if last is None else f"{self.ws_url}?since={last}" + (f"&epoch={epoch}" if epoch else "")
            try:
                async with connect(
                    url,
                    compression=None,
                    proxy=None,
                    open_timeout=2,
                    ping_interval=self.ping,
                    ping_timeout=self.ping,
                    close_timeout=1,
                ) as ws:
                    if last is not None:
                        self.reconnects.append(time.monotonic())
                    attempt = 0
                    self.connected[i] = True
                    async for raw in ws:
                        frame = json.loads(raw)
                        if frame["type"] == "hello" and last is None:
                            last = self.first_seq[i] = frame["seq"]
                            epoch = self.epochs[i] = frame.get("epoch", "")
                        elif frame["type"] == "hello" and frame.get("epoch", "") != epoch:
                            # a new numbering: owed what comes after this hello, counted afresh
                            last, epoch = frame["seq"], frame["epoch"]
                            self.first_seq[i], self.received[i], self.epochs[i] = last, set(), epoch
                        elif frame["type"] == "message":
                            self.duplicates += frame["seq"] in self.received[i]
                            self.received[i].add(frame["seq"])
                            last = frame["seq"]
                        elif frame["type"] == "gap" and frame["missed_to"] is None:
                            self.renumbered[i] = True
                        elif frame["type"] == "gap":
                            self.gaps += 1
                            self.gapped[i] = True
            except (TimeoutError, ConnectionClosed, InvalidHandshake, OSError) as exc:
                self.error(type(exc).__name__)
            self.connected[i] = False
            delay = min(self.cap, self.backoff * 2**attempt) * self._rng.uniform(0.5, 1.0)
            attempt += 1
            await asyncio.sleep(delay)

    def absent(self) -> dict[str, str]:
        """Empty when every client holds a socket; else how many do not: a fault is mitigated for the
        clients when they are back, whatever the backend's own health said before."""
        out = self.connected.count(False)
        return {"clients": f"{out} of {self.size} not connected"} if out else {}

    def all_have(self, seq: int, epoch: str = "") -> bool:
        """Every client has broadcast ``seq`` of the numbering ``epoch`` (with a bus: the same number
        under an earlier numbering is another broadcast)."""
        return all(seq in got and now == epoch for got, now in zip(self.received, self.epochs, strict=True))

    def missing(self, acked: list[int]) -> list[set[int]]:
        """Per client, the acknowledged broadcasts it should have had (after it joined) but never received."""
        return [
            {s for s in acked if first is not None and s > first} - got
            for first, got in zip(self.first_seq, self.received, strict=True)
        ]


@dataclasses.dataclass
class Traffic:
    """The moving parts of a steady state."""

    backend: live.Reachable
    prober: Prober
    writer: Writer
    publisher: Publisher
    fleet: Fleet

    def writes_lost(self) -> list[int]:
        """The acknowledged writes (their sequence numbers) that no longer read back through the API."""
        with httpx.Client(base_url=self.backend.url, timeout=10) as client:
            return [
                seq
                for seq, item in dict(self.writer.acked).items()
                if client.get(f"/api/items/{item}").json().get("body", {}).get("seq") != seq
            ]

    def settled(self, timeout: float = 15) -> list[set[int]]:
        """Once a few more broadcasts went out and every client has the newest (or ``timeout`` passed):
        per client, the acknowledged broadcasts it never received."""
        before = len(self.publisher.acked)
        live.seconds_until(lambda: len(self.publisher.acked) > before + 3, timeout)
        newest = self.publisher.acked[-1]
        live.seconds_until(lambda: self.fleet.all_have(newest, self.publisher.epoch), timeout)
        return self.fleet.missing(self.publisher.acked)

    def unaccounted(self, writes_may_go: bool = False) -> list[str]:
        """What the backend acknowledged and then lost, in words (empty: nothing): a write that does
        not read back (unless ``writes_may_go``: a restore of an older backup), a broadcast it said
        was saved that a client never got and was never told of (a gap notice)."""
        problems = []
        lost = [] if writes_may_go else self.writes_lost()
        if lost:
            problems.append(f"{len(lost)} of {len(self.writer.acked)} acknowledged writes gone: {lost[:10]}")
        unsaved = set(self.publisher.not_durable)  # acknowledged as not kept for replay: may go in a crash
        for client, (missing, told) in enumerate(zip(self.settled(), self.fleet.gapped, strict=True)):
            unsaid = sorted(missing - unsaved) if not told else []
            if unsaid:
                problems.append(f"client {client} never got {len(unsaid)} acknowledged broadcasts: {unsaid[:10]}")
        return problems

    def errors(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for part in (self.writer, self.publisher, self.fleet):
            for kind, count in part.errors.items():
                total[kind] = total.get(kind, 0) + count
        return total


@contextlib.contextmanager
def traffic(
    backend: live.Reachable,
    client_url: str | None = None,
    fleet_size: int = 20,
    write_timeout: float = 2.0,
    pause: float = 0.02,
) -> Iterator[Traffic]:
    """Start probing, writing (a write every ``pause`` s), publishing (every ``pause`` s, at least
    0.05) and listening; wait for the steady state; stop all after."""
    url = client_url or backend.url
    parts = Traffic(
        backend,
        Prober(backend.url),
        Writer(url, write_timeout, pause),
        Publisher(url, max(pause, 0.05)),
        Fleet(url.replace("http://", "ws://") + "/ws", fleet_size),
    )
    for part in (parts.prober, parts.fleet, parts.writer, parts.publisher):
        part.start()
    try:
        try:
            live.wait_for(
                lambda: (
                    len(parts.writer.acked) >= 5
                    and all(parts.fleet.connected)
                    and parts.publisher.acked
                    and parts.fleet.all_have(parts.publisher.acked[-1], parts.publisher.epoch)
                ),
                30,
                "the steady state before the fault",
            )
        except live.WaitTimeout as exc:
            raise live.WaitTimeout(f"{exc}; backend log:\n{backend.log()[-2000:]}") from None
        yield parts
    finally:
        for part in (parts.publisher, parts.writer, parts.fleet, parts.prober):
            part.stop()
