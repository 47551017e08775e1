"""The one way the harness keeps something going on threads while a fault, a drill or a test runs."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

import httpx
from websockets.exceptions import WebSocketException

__all__ = ["EXPECTED", "Halting", "repeating"]

# What a cycle may meet while the backend restarts, sheds or is cut off: the next cycle's problem.
EXPECTED: tuple[type[BaseException], ...] = (OSError, WebSocketException, httpx.HTTPError)


class Halting(threading.Thread):
    """A daemon thread whose ``run`` ends soon after ``halt`` is set; ``stop`` sets it and joins."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.halt = threading.Event()

    def stop(self, timeout: float = 30) -> None:
        self.halt.set()
        self.join(timeout)


@contextlib.contextmanager
def repeating(cycle: Callable[[], float | None], pause: float = 0.0, workers: int = 1) -> Iterator[Callable[[], None]]:
    """Run ``cycle`` again and again on ``workers`` daemon threads until the block ends or the
    yielded ``stop`` is called; after each cycle wait what it returned (None: ``pause``) seconds.
    Errors in :data:`EXPECTED` end only that cycle. ``stop`` joins the threads (30 s at most)."""
    halt = threading.Event()

    def loop() -> None:
        while not halt.is_set():
            wait: float | None = None
            with contextlib.suppress(*EXPECTED):
                wait = cycle()
            halt.wait(pause if wait is None else wait)

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()

    def stop() -> None:
        halt.set()
        for thread in threads:
            thread.join(30)

    try:
        yield stop
    finally:
        stop()
