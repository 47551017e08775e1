"""The message bus against a real redis-server: one order and dense numbers for every publisher,
an epoch that changes exactly when the history is lost, and a one-line error when it is down."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from pathlib import Path

import httpx
import pytest
from redis import Redis

from backend.bus import Bus, BusDown
from scripts.live import Live, free_port, running, wait_for
from scripts.redis_server import RedisServer
from tests.support.websocket import close_code, recv_json, ws


@pytest.fixture
def redis(tmp_path: Path):
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def test_publishers_on_two_connections_get_dense_numbers_in_one_order(redis: RedisServer) -> None:
    """Assert 2 x 200 concurrent appends are numbered 1..400 without a hole or a repeat, and the
    stream holds them in that order, each with its own payload."""

    async def run() -> tuple[list[int], list[tuple[int, str]]]:
        first, second = Bus(redis.url), Bus(redis.url)
        try:
            results = await asyncio.gather(
                *(bus.append(f'"{name}-{i}"') for i in range(200) for name, bus in (("a", first), ("b", second)))
            )
            _, entries = await first.read(0, 100, count=1000)
        finally:
            await first.close()
            await second.close()
        return sorted(entry.seq for _, entry in results), [(e.seq, e.payload) for e in entries]

    numbers, stream = asyncio.run(run())
    assert numbers == list(range(1, 401))
    assert [seq for seq, _ in stream] == list(range(1, 401))
    assert len({payload for _, payload in stream}) == 400


def test_the_epoch_changes_when_redis_loses_its_data_and_only_then(tmp_path: Path) -> None:
    """Assert a restart without persistence numbers anew under another epoch, and a SIGKILL with
    ``appendfsync always`` keeps the epoch and goes on from the last number."""

    async def append_twice(url: str) -> tuple[str, int]:
        bus = Bus(url)
        try:
            await bus.append('"x"')
            position, _ = await bus.append('"y"')
        finally:
            await bus.close()
        return position.epoch, position.seq

    volatile = RedisServer(tmp_path / "volatile").start()
    try:
        before = asyncio.run(append_twice(volatile.url))
        volatile.stop()
        volatile.start()
        after = asyncio.run(append_twice(volatile.url))
    finally:
        volatile.stop()
    assert before[1] == 2 and after[1] == 2 and after[0] != before[0]

    kept = RedisServer(tmp_path / "kept", persistent=True).start()
    try:
        before = asyncio.run(append_twice(kept.url))
        kept.stop(signal.SIGKILL)
        kept.start()
        after = asyncio.run(append_twice(kept.url))
    finally:
        kept.stop()
    assert after == (before[0], 4)


def test_a_bus_nobody_answers_on_is_one_line_naming_it() -> None:
    """Assert every operation on an unreachable bus raises BusDown with one line, and quickly."""

    async def run() -> list[str]:
        bus = Bus(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
        errors = []
        for call in (bus.append('"x"'), bus.position(), bus.read(0, 100), bus.tail(5), bus.length()):
            with pytest.raises(BusDown) as info:
                await asyncio.wait_for(call, 5)
            errors.append(str(info.value))
        await bus.close()
        return errors

    for error in asyncio.run(run()):
        assert error.startswith("message bus: ConnectionError") and "\n" not in error, error


@pytest.fixture
def two_instances(tmp_path: Path, redis: RedisServer):
    """Two supervised backends sharing one database and the bus, each with its own port, cache and
    supervisor lock: what the proxy spreads clients over."""
    with contextlib.ExitStack() as stack:
        instances = []
        for name in ("a", "b"):
            own = tmp_path / name
            own.mkdir()
            instances.append(
                stack.enter_context(
                    running(own, "supervise", data_dir=tmp_path / "shared", instance_dir=own, bus_url=redis.url)
                )
            )
        yield instances


def test_instances_sharing_one_database_read_each_others_writes_at_once(two_instances: list[Live]) -> None:
    """Assert increments spread over two instances all count, and a read on either instance right
    after an increment on the other sees it (no instance answers from a stale counter of its own)."""
    a, b = two_instances
    with httpx.Client(timeout=10) as client:
        for i in range(20):
            writer, reader = (a, b) if i < 10 else (b, a)  # each reads what it did not write, again and again
            after = client.post(f"{writer.url}/api/counters/shared/increment").json()["value"]
            assert client.get(f"{reader.url}/api/counters/shared").json()["value"] == after == i + 1
    assert (Path(a.data_dir) / "backend.sqlite3").exists() and a.data_dir == b.data_dir


def broadcast(instance: Live, message: object) -> httpx.Response:
    return httpx.post(f"{instance.url}/api/broadcast", json={"message": message}, timeout=10)


def test_a_broadcast_on_one_instance_reaches_the_clients_of_the_other_and_resumes_there(
    two_instances: list[Live],
) -> None:
    """Assert one numbering across instances: a client on B gets A's broadcasts live with A's numbers,
    and a client that left B resumes on A with ?since and gets exactly what it missed."""
    a, b = two_instances
    with ws(b) as on_b:
        hello = recv_json(on_b)
        assert hello["type"] == "hello" and hello["epoch"]
        sent = [broadcast(a, f"m{i}").json() for i in range(3)]
        got = [recv_json(on_b) for _ in range(3)]
    assert [s["seq"] for s in sent] == [g["seq"] for g in got] == [hello["seq"] + 1 + i for i in range(3)]
    assert [g["data"] for g in got] == ["m0", "m1", "m2"]
    assert all(s["durable"] for s in sent)
    missed = [broadcast(b, f"n{i}").json()["seq"] for i in range(2)]
    with ws(a, f"?since={got[-1]['seq']}&epoch={hello['epoch']}") as on_a:
        assert recv_json(on_a)["epoch"] == hello["epoch"]
        assert [recv_json(on_a)["seq"] for _ in range(2)] == missed
    assert a.metric("backend_bus_up") == b.metric("backend_bus_up") == 1


def test_with_the_bus_down_a_broadcast_is_refused_and_a_new_numbering_is_announced(
    two_instances: list[Live], redis: RedisServer
) -> None:
    """Assert the bus down gives the publisher 503 bus_unavailable and leaves clients connected; Redis
    back without its data makes every instance close its sockets with 1012, and a client resuming
    with the old epoch is told its missed broadcasts are unknown before the new ones come."""
    a, b = two_instances
    with ws(b) as on_b:
        hello = recv_json(on_b)
        last = broadcast(a, "before").json()["seq"]
        assert recv_json(on_b)["seq"] == last
        redis.stop()
        refused = broadcast(a, "while down")
        assert refused.status_code == 503 and refused.json()["error"] == "bus_unavailable", refused.text
        assert refused.headers["retry-after"] == "1"
        assert "\n" not in refused.json()["detail"]
        wait_for(lambda: b.metric("backend_bus_up") == 0, 10, "B to see the bus down")
        on_b.ping().wait(5)  # still connected
        redis.start()
        assert close_code(on_b, timeout=15)[0] == 1012
    with ws(b, f"?since={last}&epoch={hello['epoch']}") as again:
        renewed = recv_json(again)
        assert renewed["type"] == "hello" and renewed["epoch"] != hello["epoch"]
        assert recv_json(again) == {"type": "gap", "since": last, "missed_from": last + 1, "missed_to": None}
        fresh = wait_for(lambda: broadcast(a, "after").status_code == 200 or None, 15, "A to publish again")
        assert fresh and recv_json(again)["data"] == "after"


def test_an_instance_started_before_its_bus_serves_and_joins_it_when_it_comes(tmp_path: Path) -> None:
    """Assert a bus down at start-up does not keep the instance from serving (ready, broadcasts
    refused with 503), and once Redis answers the instance reads it and delivers what comes."""
    redis = RedisServer(tmp_path / "redis")  # not started yet
    (tmp_path / "a").mkdir()
    with running(tmp_path / "a", bus_url=redis.url) as a:
        assert httpx.get(f"{a.url}/ready", timeout=5).status_code == 200
        assert broadcast(a, "early").status_code == 503
        redis.start()
        try:
            wait_for(lambda: a.metric("backend_bus_up") == 1, 15, "the instance to read the bus")
            with ws(a) as client:
                hello = recv_json(client)
                sent = broadcast(a, "late").json()
                assert recv_json(client) == {"type": "message", "seq": sent["seq"], "data": "late"}
            assert hello["epoch"] == sent["epoch"] and sent["seq"] == hello["seq"] + 1
        finally:
            redis.stop()


def test_a_stalled_reader_is_counted_behind_by_the_bus_and_catches_up_when_released(
    two_instances: list[Live], redis: RedisServer
) -> None:
    """Assert an instance whose reader stopped (the drill) is measured behind by the bus's own count,
    not by the stopped reader: 25 broadcasts through B put A 25 behind, B at 0; A's report on the bus
    says where it stands; released, A sends its client every one of them, in order."""
    a, b = two_instances
    with ws(a) as on_a:
        start = recv_json(on_a)["seq"]
        a.fault("bus", reader_stalled=True)
        sent = [broadcast(b, f"s{i}").json()["seq"] for i in range(25)]
        wait_for(lambda: a.metric("backend_bus_lag_broadcasts") == 25, 10, "A's lag to reach 25")
        assert b.metric("backend_bus_lag_broadcasts") == 0
        report = json.loads(wait_for(lambda: _report(redis, a, sent[-1]), 10, "A's report to count the 25"))
        assert report["seq"] == start and report["pid"] == httpx.get(f"{a.url}/health").json()["pid"]
        a.fault("bus", reader_stalled=False)
        assert [recv_json(on_a)["seq"] for _ in sent] == sent
    wait_for(lambda: a.metric("backend_bus_lag_broadcasts") == 0, 10, "A to catch up")


def _report(redis: RedisServer, instance: Live, head: int) -> str | None:
    """The instance's report on the bus once it counts itself behind ``head``'s broadcast."""
    with Redis.from_url(redis.url) as r:
        raw = r.get(f"backend:reader:127.0.0.1:{instance.port}")
    return raw.decode() if raw and json.loads(raw)["lag"] == head - json.loads(raw)["seq"] else None
