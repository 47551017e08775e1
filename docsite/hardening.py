"""The production-hardening plan's fixes, each tied to the backend part that implements it and the
pytest marker of the tests that prove it. The hardening page renders from this list and the latest
test run; a test that proves a fix carries its marker (``@pytest.mark.db_race_free``), and markers
are named after what they prove."""

from __future__ import annotations

import dataclasses

__all__ = ["FIXES", "Fix"]


@dataclasses.dataclass(frozen=True)
class Fix:
    code: str
    marker: str
    title: str
    implemented_by: str


FIXES: tuple[Fix, ...] = (
    Fix(
        "C1",
        "memory_bounded",
        "Long-lived memory growth (connections, queues, buffers)",
        "`backend/hub.py` bounded send queues and replay buffer; `backend/memory_guard.py`",
    ),
    Fix(
        "C2",
        "cache_io_off_loop",
        "Cache disk I/O off the event loop",
        "`backend/cache.py`: one disk worker thread, memory-only degradation",
    ),
    Fix(
        "C3",
        "process_coordination",
        "Process coordination",
        "`backend/supervisor.py`: lock, restart with backoff, crash-loop stop; "
        "the Node tests in `clients/` drive it as a desktop shell's main process",
    ),
    Fix(
        "H1",
        "ws_limits",
        "WebSocket resource limits",
        "`backend/ws.py`: capacity 1013, message size 1009, slow consumers, idle timeout",
    ),
    Fix(
        "H2",
        "error_boundaries",
        "Error boundaries (API and supervisor)",
        "`backend/errors.py`, `backend/gateway.py`; `backend/supervisor.py` exit codes",
    ),
    Fix("H3", "db_race_free", "Database race condition", "`backend/db.py`: WAL, BEGIN IMMEDIATE, busy timeout"),
    Fix("M2", "one_cache", "Cache consolidation (one two-tier cache)", "`backend/cache.py`: `TieredCache`"),
)
