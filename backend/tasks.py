"""Background loops that cannot die unseen: each is restarted after an exception, and shown meanwhile.

An asyncio task that raises is only reported when it is garbage-collected ("Task exception was
never retrieved"), and the loop it ran (the memory guard, the cache probe) is gone for the rest of
the process's life with nothing failing. :class:`Tasks` runs each loop under a guard: the
exception goes to the error log (``/ready`` and the journal) with its traceback, the loop is named
in :attr:`Tasks.down` (``/ready`` fails while it is), and it starts again after a capped backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from backend.backoff import Backoff
from backend.error_log import ErrorLog

__all__ = ["Tasks"]

log = logging.getLogger(__name__)

RESTART_BASE = 0.5
RESTART_CAP = 10.0


class Tasks:
    """The process's background loops, kept referenced, restarted when they die, cancelled on stop."""

    def __init__(self, errors: ErrorLog, on_restart: Callable[[str], None] = lambda name: None) -> None:
        self._errors = errors
        self._on_restart = on_restart
        self._tasks: set[asyncio.Task[Any]] = set()
        self.down: set[str] = set()

    def start(self, name: str, loop: Callable[[], Coroutine[Any, Any, Any]]) -> asyncio.Task[Any]:
        """Run ``loop()`` (a coroutine that runs until cancelled) under the guard."""
        return self.spawn(self._guarded(name, loop), name=name)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        """A one-off task, kept referenced so it is not collected mid-flight, cancelled on stop."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guarded(self, name: str, loop: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        backoff = Backoff(RESTART_BASE, RESTART_CAP)
        while True:
            try:
                await loop()
                problem = "returned, but it must run until stopped"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure of a loop is what this guard is for
                problem = f"{type(exc).__name__}: {exc}"
                log.error("background task %s died", name, exc_info=exc)
            self.down.add(name)
            self._errors.record("tasks", name, f"background task {name} died ({problem}); restarting it")
            self._on_restart(name)
            await asyncio.sleep(backoff.next_delay())
            self.down.discard(name)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
