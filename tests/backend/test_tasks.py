"""Background tasks: one killed by an exception is logged, shown while down, and started again."""

from __future__ import annotations

import asyncio
import logging

import pytest

from backend.error_log import ErrorLog
from backend.tasks import Tasks


def test_a_task_killed_by_an_exception_is_shown_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    """Assert the guard names the dead task (down, last error, restart count), then runs it again."""
    caplog.set_level(logging.ERROR)

    async def scenario() -> None:
        errors = ErrorLog(10.0)
        restarted: list[str] = []
        tasks = Tasks(errors, restarted.append)
        runs = 0
        running_again = asyncio.Event()

        async def guard_loop() -> None:
            nonlocal runs
            runs += 1
            if runs == 1:
                raise OSError(24, "Too many open files")
            running_again.set()
            await asyncio.Event().wait()  # runs until cancelled, as a loop does

        tasks.start("memory-guard", guard_loop)
        async with asyncio.timeout(5):
            while "memory-guard" not in tasks.down:
                await asyncio.sleep(0.01)
        last = errors.as_json()["tasks"]
        assert last["kind"] == "memory-guard" and "Too many open files" in last["error"]
        assert restarted == ["memory-guard"]
        async with asyncio.timeout(5):
            await running_again.wait()
        assert tasks.down == set() and runs == 2
        await tasks.stop()

    asyncio.run(scenario())
    assert any("background task memory-guard died" in r.getMessage() and r.exc_info for r in caplog.records)


def test_a_loop_that_returns_is_treated_as_dead() -> None:
    """Assert a loop that ends on its own (it must run until cancelled) is restarted and said."""

    async def scenario() -> int:
        errors = ErrorLog(10.0)
        tasks = Tasks(errors)
        calls = 0

        async def returns() -> None:
            nonlocal calls
            calls += 1

        tasks.start("cache-probe", returns)
        async with asyncio.timeout(5):
            while calls < 2:
                await asyncio.sleep(0.01)
        assert "returned" in errors.as_json()["tasks"]["error"]
        await tasks.stop()
        return calls

    assert asyncio.run(scenario()) >= 2
