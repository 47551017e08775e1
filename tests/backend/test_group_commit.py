"""Group commit and reads on the event loop, against a real SQLite file (backend.db, backend.group_commit)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from backend.db import Database, DatabaseUnavailable
from backend.group_commit import GroupCommit


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY)")
    return conn


def _translate(exc: Exception) -> Exception:
    return DatabaseUnavailable(f"database error: {exc}") if isinstance(exc, sqlite3.Error) else exc


def test_a_failure_fails_exactly_the_requests_of_its_batch(tmp_path: Path) -> None:
    """Seven writes queued before the writer starts, batches of three: [0 1 2] [3 4 5] [6]. Write 4
    violates the primary key, so 3, 4 and 5 fail with the same error and none of them is stored;
    0, 1, 2 and 6 are acknowledged and on disk."""
    path = tmp_path / "t.sqlite3"
    sizes: list[int] = []
    writer = GroupCommit(
        lambda: _connect(path), lambda: None, _translate, max_batch=3, max_wait=0, on_batch=sizes.append
    )

    def insert(conn: sqlite3.Connection, numbers: list[int]) -> list[object]:
        return [conn.execute("INSERT INTO t(n) VALUES (?)", (0 if n == 4 else n,)).lastrowid for n in numbers]

    async def scenario() -> list[object]:
        tasks = [asyncio.create_task(writer.submit(insert, n)) for n in range(7)]
        await asyncio.sleep(0)  # every task has queued its write
        writer.start()
        return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)

    answers = asyncio.run(scenario())
    writer.stop()
    assert sizes == [3, 3, 1]
    assert answers[:3] == [0, 1, 2] and answers[6] == 6
    assert all(isinstance(a, DatabaseUnavailable) and "UNIQUE" in str(a) for a in answers[3:6]), answers
    stored = [n for (n,) in _connect(path).execute("SELECT n FROM t ORDER BY n")]
    assert stored == [0, 1, 2, 6]


def test_concurrent_increments_share_commits_and_lose_none(tmp_path: Path) -> None:
    """200 increments at once: every value 1..200 answered once, in fewer commits than writes."""
    sizes: list[int] = []
    db = Database(tmp_path / "db.sqlite3", busy_timeout=5, on_batch=sizes.append)
    db.open()

    async def scenario() -> list[int]:
        return await asyncio.gather(*(db.increment("c") for _ in range(200)))

    try:
        values = asyncio.run(scenario())
    finally:
        db.close()
    assert sorted(values) == list(range(1, 201))
    assert sum(sizes) == 200 and len(sizes) < 200 and max(sizes) <= 64, sizes


def test_reads_answer_at_once_while_an_operator_holds_the_write_lock(tmp_path: Path) -> None:
    """An operator's open write transaction (the db-write-lock game day): reads on the event loop
    answer the committed value at once and the loop keeps ticking; the increment waits in its batch
    and is answered when the lock goes, with the operator's change under it."""
    path = tmp_path / "db.sqlite3"
    db = Database(path, busy_timeout=5)
    db.open()
    operator = sqlite3.connect(path, isolation_level=None)

    async def scenario() -> tuple[list[float], int, int]:
        await db.increment("held")
        operator.execute("BEGIN IMMEDIATE")
        operator.execute("UPDATE counters SET value = 41 WHERE name = 'held'")
        write = asyncio.create_task(db.increment("held"))
        reads = []
        for _ in range(20):
            started = time.perf_counter()
            assert await db.counter("held") == 1  # the committed value, not the operator's
            reads.append(time.perf_counter() - started)
            await asyncio.sleep(0.01)
        assert not write.done(), "the increment should wait for the operator's lock"
        operator.execute("COMMIT")
        return reads, await asyncio.wait_for(write, 5), int(await db.counter("held") or 0)

    try:
        reads, written, after = asyncio.run(scenario())
    finally:
        operator.close()
        db.close()
    assert max(reads) < 0.05, f"a read took {max(reads):.3f} s under the write lock"
    assert (written, after) == (42, 42)


@pytest.mark.parametrize("wait", [0.0, 0.05])
def test_writes_commit_in_submission_order(tmp_path: Path, wait: float) -> None:
    db = Database(tmp_path / "db.sqlite3", busy_timeout=5, write_batch=8, write_batch_wait=wait)
    db.open()

    async def scenario() -> list[tuple[int, bool]]:
        return await asyncio.gather(*(db.add_item({"n": n}, None) for n in range(50)))

    try:
        created = asyncio.run(scenario())
    finally:
        db.close()
    assert [item_id for item_id, _ in created] == list(range(1, 51))


def test_one_batch_of_mixed_writes_gives_each_request_its_own_answer(tmp_path: Path) -> None:
    """One batch holding increments of two counters, items with and without an idempotency key and
    a repeated key, interleaved: each increment of a counter gets the next value in submission
    order, each new item id reads back its own body, and the repeated key answers the first id."""
    path = tmp_path / "db.sqlite3"
    sizes: list[int] = []
    db = Database(path, busy_timeout=5, write_batch=64, write_batch_wait=0.2, on_batch=sizes.append)
    db.open()

    async def scenario() -> list[object]:
        await db.increment("b")  # b starts at 1, a does not exist yet
        writes = []
        for n in range(12):
            writes.append(db.increment("a" if n % 3 else "b"))
            key = "k" if n in (4, 9) else ("other" if n == 7 else None)
            writes.append(db.add_item({"n": n}, key))
        return await asyncio.gather(*writes)

    try:
        answers = asyncio.run(scenario())
    finally:
        db.close()
    assert sizes[1:] == [24], f"the 24 writes should share one batch: {sizes}"
    increments, items = answers[0::2], answers[1::2]
    assert increments == [2, 1, 2, 3, 3, 4, 4, 5, 6, 5, 7, 8]
    assert items[9] == (items[4][0], False), "a repeated idempotency key answers the first id"
    created = [item_id for n, (item_id, fresh) in enumerate(items) if n != 9 and fresh]
    assert len(created) == len(set(created)) == 11
    conn = sqlite3.connect(path)
    stored = dict(conn.execute("SELECT id, body FROM items"))
    assert {item_id: stored[item_id] for item_id, _ in items} == {
        item_id: f'{{"n":{n}}}' for n, (item_id, _) in enumerate(items) if n != 9
    }
    assert conn.execute("SELECT value FROM counters ORDER BY name").fetchall() == [(8,), (5,)]
