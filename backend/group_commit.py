"""Group commit: one writer thread commits whatever writes are waiting as one transaction.

Why: with ``synchronous=FULL`` every COMMIT waits for an fsync of the WAL, so one commit per
request caps writes at this disk's fsyncs per second (a few hundred to a few thousand). While one
batch's fsync runs, the next requests queue; the writer then takes all of them (up to
``max_batch``, waiting at most ``max_wait`` for more after the first) into one ``BEGIN IMMEDIATE``
... ``COMMIT``, so one fsync makes a whole batch durable.

The promises stay those of one commit per write:

* a request is answered only after the COMMIT of its batch returned, so an acknowledged write is
  on disk (the crash drill SIGKILLs the server under writes and counts);
* a failure (a lock held past the busy timeout, an I/O error, the file gone) rolls the whole batch
  back and fails exactly the requests in that batch, with the same error each; earlier and later
  batches are untouched;
* writes of one kind run in the order they were submitted (one thread, one FIFO queue).

**Writes of one kind run together.** A write is submitted as ``(run, argument)``; the writer calls
each ``run`` once per batch with the arguments of all its writes, in submission order, and ``run``
returns one answer per argument. So the increments of a batch become one upsert per counter and
its items one multi-row INSERT. Why: once fsyncs were shared, a batch's cost was its statements,
and every SQLite step costs the writer thread a hand-back of the GIL from the event loop (a Python
thread spinning beside the writer cut it from 44,000 to 135 single-row statements per second in a
measurement on this machine). Kinds touch different rows and every request of a batch is answered
after the same COMMIT, so the order *between* kinds is not something a client can observe.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["GroupCommit"]

Run = Callable[[sqlite3.Connection, list[Any]], list[Any]]
"""Runs every write of one kind in a batch, inside its transaction; one answer per argument, in order."""


@dataclasses.dataclass
class _Pending:
    run: Run
    argument: Any
    future: asyncio.Future[Any]
    answer: Any = None


class GroupCommit:
    """The writer thread and its queue. ``connect`` opens the thread's connection; ``check`` runs
    before each batch and raises when the database must not be used; ``translate`` turns a
    sqlite3 error into the exception every request of the failed batch receives."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        check: Callable[[], None],
        translate: Callable[[Exception], Exception],
        max_batch: int,
        max_wait: float,
        on_batch: Callable[[int], None] = lambda size: None,
    ) -> None:
        self._connect, self._check, self._translate = connect, check, translate
        self.max_batch, self.max_wait = max_batch, max_wait
        self._on_batch = on_batch
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="db-write", daemon=True)
        self._ready = threading.Event()
        self._start_error: BaseException | None = None

    def start(self) -> None:
        """Start the thread and open its connection; a file that cannot be opened fails here."""
        self._thread.start()
        self._ready.wait(15)
        if self._start_error is not None:
            raise self._start_error

    def stop(self) -> None:
        """Commit what is queued, then end the thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(30)

    async def submit(self, run: Run, argument: Any) -> Any:
        """Have ``run`` write ``argument`` in the next batch's transaction; returns its answer once durable."""
        future = asyncio.get_running_loop().create_future()
        self._queue.put(_Pending(run, argument, future))
        return await future

    def _run(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:  # handed to start(), which raises it in the starting thread
            self._start_error = exc
            self._ready.set()
            return
        self._ready.set()
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch, stopping = self._collect(first)
            self._commit(conn, batch)
        conn.close()

    def _collect(self, first: _Pending) -> tuple[list[_Pending], bool]:
        """``first`` and whatever joins it within the bounds; True when the stop marker came."""
        batch = [first]
        deadline = time.monotonic() + self.max_wait
        while len(batch) < self.max_batch:
            try:
                remaining = deadline - time.monotonic()
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _commit(self, conn: sqlite3.Connection, batch: list[_Pending]) -> None:
        kinds: dict[Run, list[_Pending]] = {}
        for pending in batch:
            kinds.setdefault(pending.run, []).append(pending)
        error: Exception | None = None
        try:
            self._check()
            conn.execute("BEGIN IMMEDIATE")
            for run, writes in kinds.items():
                for pending, answer in zip(writes, run(conn, [w.argument for w in writes]), strict=True):
                    pending.answer = answer
            conn.execute("COMMIT")
        except Exception as exc:
            error = self._translate(exc)
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the transaction is gone with the connection's error; the batch failed either way
        self._on_batch(len(batch))
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits for these answers
            batch[0].future.get_loop().call_soon_threadsafe(_settle, batch, error)


def _settle(batch: list[_Pending], error: Exception | None) -> None:
    """On the event loop: answer every request of a batch (a cancelled request is skipped)."""
    for pending in batch:
        if pending.future.done():
            continue
        if error is not None:
            pending.future.set_exception(error)
        else:
            pending.future.set_result(pending.answer)
