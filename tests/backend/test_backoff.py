"""Unit tests of restart pacing."""

from __future__ import annotations

import random

import pytest

from backend.backoff import Backoff, CrashLoop

pytestmark = [pytest.mark.process_coordination]


def test_backoff_doubles_within_jitter_and_caps() -> None:
    """Assert each delay lies in [ceiling/2, ceiling], the ceiling doubles, then stops at the cap."""
    backoff = Backoff(base=0.1, cap=1.0, rng=random.Random(7))
    ceilings = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    for ceiling in ceilings:
        delay = backoff.next_delay()
        assert ceiling / 2 <= delay <= ceiling
    backoff.reset()
    assert backoff.next_delay() <= 0.1


def test_backoff_jitter_spreads_delays() -> None:
    """Assert two supervisors failing together do not retry at the same instant."""
    delays = {round(Backoff(1.0, 10.0, random.Random(seed)).next_delay(), 6) for seed in range(20)}
    assert len(delays) == 20


def test_crash_loop_counts_only_starts_inside_the_window() -> None:
    """Assert max_starts inside the window trips, and old starts age out."""
    loop = CrashLoop(max_starts=3, window=60.0)
    for t in (0.0, 10.0):
        loop.record_start(t)
    assert not loop.tripped()
    loop.record_start(20.0)
    assert loop.tripped()
    loop.record_start(75.0)  # 0 and 10 are now outside the window
    assert len(loop) == 2 and not loop.tripped()
