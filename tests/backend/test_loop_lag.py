"""Admission by queue time (backend/loop_lag.py) on a real event loop: a saturated loop makes the
refused share rise, one pause does not, and the share falls back to 0 when the load is gone."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry, Gauge

from backend.loop_lag import MAX_SHARE, LagShedder


def _shedder(target: float = 0.002) -> LagShedder:  # the default BACKEND_SHED_LOOP_LAG
    registry = CollectorRegistry()
    return LagShedder(target, Gauge("lag", "lag", registry=registry), Gauge("share", "share", registry=registry))


def _spin(seconds: float) -> None:
    """Work on the CPU for ``seconds`` (a handler that computes, not one that waits)."""
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


async def _busy(seconds: float, step: float) -> None:
    """Keep the loop saturated with its own work: ``step`` seconds on the CPU per pass, for ``seconds``."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        _spin(step)
        await asyncio.sleep(0)


def test_a_saturated_loop_raises_the_share_and_it_falls_back_to_zero() -> None:
    shedder = _shedder()

    async def scenario() -> tuple[float, float]:
        watcher = asyncio.create_task(shedder.watch())
        await _busy(0.6, 0.02)
        during = shedder.share
        deadline = time.monotonic() + 5
        while shedder.share > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        watcher.cancel()
        return during, time.monotonic() - (deadline - 5)

    during, settled = asyncio.run(scenario())
    assert during >= 0.8 * MAX_SHARE, during
    assert shedder.share == 0 and settled < 3, (shedder.share, settled)
    sample = _shedder()
    sample.share = during
    assert 700 < sum(sample.shed() for _ in range(1000)) < 1000  # shed() refuses about that share


def test_one_pause_is_not_overload() -> None:
    """Single stalls of 80 ms, and one of 400 ms (a garbage collection, a slow handler that allocates
    hundreds of megabytes), make one late tick each: no refusals."""
    shedder = _shedder()
    peak = 0.0

    async def scenario() -> None:
        nonlocal peak
        watcher = asyncio.create_task(shedder.watch())
        await asyncio.sleep(0.05)
        for stall in (0.08, 0.08, 0.4, 0.08):
            _spin(stall)
            for _ in range(40):
                await asyncio.sleep(0.005)
                peak = max(peak, shedder.share)
        watcher.cancel()

    asyncio.run(scenario())
    assert peak == 0.0


def test_off_when_the_target_is_zero() -> None:
    shedder = _shedder(target=0)

    async def scenario() -> None:
        watcher = asyncio.create_task(shedder.watch())
        await _busy(0.3, 0.02)
        assert watcher.done()

    asyncio.run(scenario())
    assert shedder.share == 0 and not shedder.shed()


def test_a_loop_starved_by_other_processes_refuses_nothing() -> None:
    """Late because the core is taken (here: the loop blocked off the CPU, as when other processes
    run), not because of its own work: the thread's CPU time stays low and nothing is refused."""
    shedder = _shedder()

    async def scenario() -> None:
        watcher = asyncio.create_task(shedder.watch())
        until = time.monotonic() + 0.6
        while time.monotonic() < until:
            time.sleep(0.02)  # off the CPU, like a descheduled process: late ticks, little CPU time
            await asyncio.sleep(0)
        watcher.cancel()

    asyncio.run(scenario())
    assert shedder.share == 0
