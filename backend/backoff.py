"""Restart pacing for the supervisor: capped exponential backoff with jitter, and a crash-loop window.

Plain arithmetic over timestamps the caller passes in, so both are unit-tested without sleeping.
"""

from __future__ import annotations

import collections
import random

__all__ = ["Backoff", "CrashLoop"]


class Backoff:
    """Delays ``base * 2**n`` capped at ``cap``, with "full jitter" in the upper half.

    Jitter keeps many supervisors (or many clients) that failed together from retrying in step.
    """

    def __init__(self, base: float, cap: float, rng: random.Random | None = None) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * 2**self.attempt)
        self.attempt += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0


class CrashLoop:
    """Remembers start times; ``max_starts`` inside ``window`` seconds is a crash loop."""

    def __init__(self, max_starts: int, window: float) -> None:
        self.max_starts = max_starts
        self.window = window
        self._starts: collections.deque[float] = collections.deque()

    def record_start(self, now: float) -> None:
        self._starts.append(now)
        while self._starts and now - self._starts[0] > self.window:
            self._starts.popleft()

    def tripped(self) -> bool:
        return len(self._starts) >= self.max_starts

    def __len__(self) -> int:
        return len(self._starts)
