"""Counters and items in one SQLite file, reached from the event loop through worker threads.

Choices, and why:

* **WAL**: readers never block the writer and the writer never blocks readers.
* **synchronous=FULL**: in WAL mode NORMAL already survives a process crash (SIGKILL), but can lose
  the last commits on power loss. The API acknowledges a write only after COMMIT returns, and the
  handbook promises that an acknowledged write is never lost, so every commit waits for the WAL
  fsync. The cost is one fsync per write; the baselines page measures it.
* **busy_timeout**: a query that meets a lock held by another process (a backup, an operator's
  ``sqlite3`` shell) waits this long, then the request gets 503 ``database_busy``, not a hang.
* **BEGIN IMMEDIATE** for read-modify-write: the write lock is taken before the read, so two
  increments can never read the same old value, and a transaction never has to *upgrade* a read
  lock, which SQLite refuses at once with SQLITE_BUSY, ignoring the busy timeout.
* Broadcasts are saved (the last ``BACKEND_WS_REPLAY_BUFFER`` of them) before they are delivered,
  so a client reconnecting with ``since=N`` after a crash still gets what it missed. That write has
  its own thread and a 1 s lock timeout: with the database down, broadcasts still go out live.
* **Group commit** (:mod:`backend.group_commit`): writes queue to one writer thread, which commits
  whatever is waiting as one transaction, still ``synchronous=FULL``; each request is answered once
  its batch is durable; a batch's increments become one upsert per counter and its items one
  multi-row INSERT (:func:`_increment_all`, :func:`_insert_items`). One thread also means our own
  writers queue in order instead of polling each other's lock through the busy handler (whose
  growing sleeps starved some writes past 2 s under 50 concurrent increments).
* **Reads on the event loop**: a primary-key SELECT on a WAL database never waits for the writer,
  so it runs on the loop's own connection, which has a busy timeout of 0: in the rare case it
  cannot read at once (WAL recovery after a crash, an operator's exclusive lock) it raises instead of
  blocking the loop, and the read is retried on the read threads, which wait the busy timeout. The
  executor hop this saves was most of a read's cost (the baselines page measures both).
* Other work has its own threads: the ``/ready`` probe (short timeout, answers even while the
  others wait on a lock), broadcast persistence (1 s timeout), and the fallback reads.
* Every thread and its connection is opened at start-up: the process holds the same file
  descriptors from its first request to its last, and a file that cannot be opened fails the
  start instead of a request.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import errno
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import cachetools.func

from backend.group_commit import GroupCommit

__all__ = ["Database", "DatabaseBusy", "DatabaseError", "DatabaseReadOnly", "DatabaseUnavailable"]

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    idempotency_key TEXT UNIQUE
);
CREATE TABLE IF NOT EXISTS broadcasts (seq INTEGER PRIMARY KEY, frame TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS readiness (id INTEGER PRIMARY KEY CHECK (id = 1), probed_at REAL NOT NULL);
"""
READ_ONLY_TTL = 1.0  # seconds an answer of _on_read_only_filesystem is kept
EXISTS_TTL = 0.05  # seconds a positive "the file exists" is trusted; see Database._check_usable
# a broadcast never waits long on a locked database: it goes out live anyway. 1 s, not less: a commit's
# fsync on a busy disk took over 0.25 s (a 200 MB file written beside the database; a CI machine's
# first minutes), and each save lost to it costs a resuming client a gap notice
REPLAY_WRITE_TIMEOUT = 1.0


class DatabaseError(Exception):
    """Base of the errors the API turns into 503; ``kind`` labels the error counter."""

    kind = "other"


class DatabaseBusy(DatabaseError):
    """Another connection held the lock longer than the busy timeout."""

    kind = "locked"


class DatabaseUnavailable(DatabaseError):
    """The file cannot be used (missing, unreadable, I/O error, or the drill fault is on)."""

    kind = "unavailable"


class DatabaseReadOnly(DatabaseError):
    """Writes fail because the file or its filesystem is read-only (the kernel remounts a volume
    read-only after I/O errors); the file itself may be intact, so no restore is called for."""

    kind = "readonly"


class Database:
    """The SQLite adapter: writes through group commit, reads on the event loop; see the module docstring."""

    def __init__(
        self,
        path: Path,
        busy_timeout: float,
        workers: int = 2,
        write_batch: int = 64,
        write_batch_wait: float = 0.0,
        on_batch: Callable[[int], None] = lambda size: None,
    ) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.fault_unavailable = False
        self._local = threading.local()
        # pool name -> (its threads, how many, their lock timeout); see the module docstring
        self._pools = {
            name: (concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix=f"db-{name}"), threads, timeout)
            for name, threads, timeout in (
                ("read", workers, busy_timeout),
                ("probe", 1, min(0.5, busy_timeout)),
                ("replay", 1, min(REPLAY_WRITE_TIMEOUT, busy_timeout)),
            )
        }
        self._writer = GroupCommit(
            lambda: self._connect(busy_timeout),
            self._check_usable,
            lambda exc: _translate(exc, busy_timeout, path),
            write_batch,
            write_batch_wait,
            on_batch,
        )
        self._loop_conn: sqlite3.Connection | None = None  # the event loop's reader, busy timeout 0
        self._seen_at = float("-inf")  # when the file was last seen to exist (_check_usable)
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        """Create the file and schema; called once at start-up, before serving."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect(self.busy_timeout)
        conn.executescript(SCHEMA)
        conn.close()
        for pool, threads, timeout in self._pools.values():
            # a barrier holds each task until all have a thread of their own, so every thread starts
            barrier = threading.Barrier(threads)

            def connect(barrier: threading.Barrier = barrier, timeout: float = timeout) -> None:
                barrier.wait(10)
                self._thread_conn(timeout)

            for future in [pool.submit(connect) for _ in range(threads)]:
                future.result(timeout=15)
        self._writer.start()
        self._loop_conn = self._connect(0)

    def recent_broadcasts(self, keep: int) -> list[tuple[int, str]]:
        """The last ``keep`` persisted broadcast frames, oldest first (read once at start-up)."""
        conn = self._connect(self.busy_timeout)
        try:
            rows = conn.execute("SELECT seq, frame FROM broadcasts ORDER BY seq DESC LIMIT ?", (keep,)).fetchall()
        finally:
            conn.close()
        return [(int(seq), str(frame)) for seq, frame in reversed(rows)]

    async def store_broadcast(self, seq: int, frame: str, keep: int) -> None:
        """Persist a broadcast before it is delivered, keeping only the replay window's worth."""

        def txn(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT OR REPLACE INTO broadcasts(seq, frame) VALUES (?, ?)", (seq, frame))
            conn.execute("DELETE FROM broadcasts WHERE seq <= ?", (seq - keep,))
            conn.execute("COMMIT")

        await self._run(txn, "replay")

    def close(self) -> None:
        self._writer.stop()
        for pool, _, _ in self._pools.values():
            pool.shutdown(wait=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        if self._loop_conn is not None:
            self._loop_conn.close()
            self._loop_conn = None

    def _connect(self, timeout: float) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        return conn

    def _thread_conn(self, timeout: float) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(timeout)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _check_usable(self) -> None:
        """Refuse to use a file that was deleted: an open connection would go on reading and writing
        the unlinked inode, and every acknowledged write would be lost. The stat is the check's cost
        (4 % of a saturated server's samples when it ran on every read), so a positive answer is
        trusted for ``EXISTS_TTL`` seconds; a missing file is seen within that."""
        if self.fault_unavailable:
            raise DatabaseUnavailable("database made unavailable by the drill fault")
        now = time.monotonic()
        if now - self._seen_at > EXISTS_TTL:
            if not self.path.exists():
                raise DatabaseUnavailable(f"database file {self.path} is missing")
            self._seen_at = now

    async def _run(self, fn: Callable[[sqlite3.Connection], T], pool_name: str = "read") -> T:
        pool, _, timeout = self._pools[pool_name]

        def call() -> T:
            self._check_usable()
            conn = self._thread_conn(timeout)
            try:
                return fn(conn)
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise _translate(exc, timeout, self.path) from exc

        return await asyncio.get_running_loop().run_in_executor(pool, call)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` on the loop's connection; on a lock, on the read threads (see the module docstring)."""
        self._check_usable()
        assert self._loop_conn is not None, "Database.open() was not called"
        try:
            return fn(self._loop_conn)
        except sqlite3.OperationalError as exc:
            if not _is_lock(exc):
                raise _translate(exc, 0, self.path) from exc
        except sqlite3.Error as exc:
            raise _translate(exc, 0, self.path) from exc
        return await self._run(fn)

    async def probe(self) -> None:
        """Raise a :class:`DatabaseError` unless a write commits right now.

        It commits for real, on the one row of ``readiness`` (the backend's own, never user data):
        ``BEGIN IMMEDIATE; ROLLBACK`` takes the lock but writes nothing, and so passes on a
        read-only file while every real write fails.
        """

        def commit_a_write(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("INSERT OR REPLACE INTO readiness(id, probed_at) VALUES (1, ?)", (time.time(),))
            except sqlite3.Error:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

        await self._run(commit_a_write, "probe")

    async def increment(self, name: str) -> int:
        return int(await self._writer.submit(_increment_all, name))

    async def counter(self, name: str) -> int | None:
        def read(conn: sqlite3.Connection) -> int | None:
            row = conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
            return None if row is None else int(row[0])

        return await self._read(read)

    async def add_item(self, body: Any, idempotency_key: str | None) -> tuple[int, bool]:
        """Store ``body``; returns (id, created). A repeated idempotency key returns the first id."""
        created: tuple[int, bool] = await self._writer.submit(
            _insert_items, (json.dumps(body, separators=(",", ":")), idempotency_key)
        )
        return created

    async def item(self, item_id: int) -> tuple[int, str, float] | None:
        """(id, the body as the compact JSON text stored, created_at), or None."""

        def read(conn: sqlite3.Connection) -> tuple[int, str, float] | None:
            row = conn.execute("SELECT id, body, created_at FROM items WHERE id = ?", (item_id,)).fetchone()
            return None if row is None else (int(row[0]), str(row[1]), float(row[2]))

        return await self._read(read)


def _increment_all(conn: sqlite3.Connection, names: list[str]) -> list[int]:
    """A batch's increments: one upsert per counter adding how often it was asked for; the k requests
    for one counter get its k successive values, in the order they were submitted."""
    before: dict[str, int] = {}
    for name, times in collections.Counter(names).items():
        (value,) = conn.execute(
            "INSERT INTO counters(name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value RETURNING value",
            (name, times),
        ).fetchall()[0]
        before[name] = int(value) - times
    answers = []
    for name in names:
        before[name] += 1
        answers.append(before[name])
    return answers


def _insert_items(conn: sqlite3.Connection, items: list[tuple[str, str | None]]) -> list[tuple[int, bool]]:
    """A batch's items: those without an idempotency key in one multi-row INSERT, whose ids are
    consecutive (AUTOINCREMENT gives each row one more than the largest id ever used, and this
    transaction holds the write lock), so the i-th of n rows has id ``lastrowid - n + 1 + i``; those
    with a key one at a time, each first looking for its key."""
    now = time.time()
    answers: list[tuple[int, bool]] = [(0, False)] * len(items)
    plain = [index for index, (_, key) in enumerate(items) if key is None]
    if plain:
        rows = ", ".join(["(?, ?, NULL)"] * len(plain))
        cursor = conn.execute(
            f"INSERT INTO items(body, created_at, idempotency_key) VALUES {rows}",
            [value for index in plain for value in (items[index][0], now)],
        )
        first = int(cursor.lastrowid or 0) - len(plain) + 1
        for offset, index in enumerate(plain):
            answers[index] = (first + offset, True)
    for index, (text, key) in enumerate(items):
        if key is None:
            continue
        row = conn.execute("SELECT id FROM items WHERE idempotency_key = ?", (key,)).fetchone()
        if row is not None:
            answers[index] = (int(row[0]), False)
        else:
            cursor = conn.execute(
                "INSERT INTO items(body, created_at, idempotency_key) VALUES (?, ?, ?)", (text, now, key)
            )
            answers[index] = (int(cursor.lastrowid or 0), True)
    return answers


def _is_lock(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _is_read_only(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_READONLY or "readonly" in str(exc)


@cachetools.func.ttl_cache(maxsize=4, ttl=READ_ONLY_TTL)
def _on_read_only_filesystem(path: Path) -> bool:
    """Whether the database's filesystem refuses writes: an open connection's write there fails as
    a plain "disk I/O error". An ext4 the kernel shut down after I/O errors still says ``rw`` to
    ``statvfs`` (``emergency_ro``), so creating a file is the test that tells (EROFS). The answer is
    kept for a second: in a storm of failing writes, one test a second, not one per write."""
    try:
        if os.statvfs(path.parent).f_flag & os.ST_RDONLY:
            return True
        probe = os.open(path.parent / f".write-test-{os.getpid()}", os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    except OSError as exc:
        return exc.errno == errno.EROFS
    os.close(probe)
    os.unlink(path.parent / f".write-test-{os.getpid()}")
    return False


def _translate(exc: Exception, timeout: float, path: Path) -> Exception:
    """A sqlite3 error as the :class:`DatabaseError` the API answers 503 with (others unchanged)."""
    if isinstance(exc, DatabaseError):
        return exc
    if isinstance(exc, sqlite3.OperationalError) and _is_lock(exc):
        return DatabaseBusy(f"database locked for more than {timeout:g} s")
    if isinstance(exc, sqlite3.Error) and (_is_read_only(exc) or _on_read_only_filesystem(path)):
        return DatabaseReadOnly(f"database is read-only: {exc}")
    if isinstance(exc, sqlite3.Error):
        return DatabaseUnavailable(f"database error: {exc}")
    return exc
