"""Unit tests of the hub logic: capacity, replay, gap notices, slow consumers."""

from __future__ import annotations

import asyncio
import json

import pytest

from backend.hub import Hub, HubFull, ReplayBuffer, SlowConsumer, message_frame


def frames(conn_frames: list[str]) -> list[dict]:
    return [json.loads(f) for f in conn_frames]


def broadcast(hub: Hub, payload: object) -> tuple[int, int, int]:
    """What the broadcast route does, minus saving the frame."""
    seq = hub.replay.last_seq + 1
    return hub.publish(seq, message_frame(seq, json.dumps(payload)))


def drain(conn) -> list[dict]:
    async def take() -> list[dict]:
        out = []
        while len(conn):
            out.append(json.loads(await conn.get()))
        return out

    return asyncio.run(take())


@pytest.mark.ws_limits
@pytest.mark.memory_bounded
def test_capacity_refuses_one_more_and_frees_on_disconnect() -> None:
    """Assert the registry admits exactly ``capacity`` clients and counts down to zero."""
    hub = Hub(capacity=2, send_queue=4, replay=4)
    a, b = hub.connect(None), hub.connect(None)
    with pytest.raises(HubFull):
        hub.connect(None)
    hub.disconnect(a)
    hub.disconnect(a)
    assert len(hub) == 1
    hub.disconnect(b)
    assert len(hub) == 0
    hub.connect(None)


@pytest.mark.ws_limits
def test_replay_since_returns_only_newer_messages() -> None:
    """Assert a reconnect with since=N gets N+1.. in order after the hello frame."""
    hub = Hub(capacity=5, send_queue=10, replay=10)
    for n in range(5):
        broadcast(hub, f"m{n}")
    got = drain(hub.connect(since=3))
    assert got[0] == {"type": "hello", "seq": 5}
    assert [(f["seq"], f["data"]) for f in got[1:]] == [(4, "m3"), (5, "m4")]


@pytest.mark.ws_limits
@pytest.mark.memory_bounded
def test_replay_beyond_buffer_sends_gap_notice_first() -> None:
    """Assert a client that missed more than the buffer holds is told exactly what is gone."""
    buffer = ReplayBuffer(size=3)
    for n in range(10):
        buffer.add(n + 1, message_frame(n + 1, json.dumps(n)))
    got = frames(buffer.since(2))
    assert got[0] == {"type": "gap", "since": 2, "missed_from": 3, "missed_to": 7}
    assert [f["seq"] for f in got[1:]] == [8, 9, 10]
    assert buffer.since(10) == []
    assert [f["seq"] for f in frames(buffer.since(7))] == [8, 9, 10]


def test_live_broadcast_after_connect_is_not_duplicated() -> None:
    """Assert replay plus live delivery gives every sequence number exactly once."""
    hub = Hub(capacity=5, send_queue=10, replay=10)
    broadcast(hub, "a")
    conn = hub.connect(since=0)
    broadcast(hub, "b")
    seqs = [f["seq"] for f in drain(conn) if f["type"] == "message"]
    assert seqs == [1, 2]


@pytest.mark.ws_limits
@pytest.mark.memory_bounded
def test_slow_consumer_is_dropped_and_others_keep_receiving() -> None:
    """Assert a full outbox drops that client only, calls on_drop, and frees its slot."""
    hub = Hub(capacity=5, send_queue=3, replay=10)
    dropped: list[int] = []
    hub.on_drop = lambda conn: dropped.append(conn.id)
    slow, fast = hub.connect(None), hub.connect(None)
    drain(fast)
    results = []
    for n in range(4):
        results.append(broadcast(hub, n))
        drain(fast)
    assert dropped == [slow.id]
    # slow holds hello + 2 messages = its limit of 3; the third broadcast drops it
    assert [r[1:] for r in results] == [(2, 0), (2, 0), (1, 1), (1, 0)]
    assert len(hub) == 1 and len(slow) == 0

    async def get_after_drop() -> None:
        await slow.get()

    with pytest.raises(SlowConsumer):
        asyncio.run(get_after_drop())
