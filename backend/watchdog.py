"""The supervisor's liveness watchdog, as plain logic: consecutive failed /health probes trip it.

A server that is alive but hung (``kill -STOP``, a blocked event loop) never exits, so a supervisor
that only waits for the exit never restarts it. The supervisor probes its child's ``/health`` and
feeds each outcome here; after ``failures`` in a row it kills the child and starts a new one.
"""

from __future__ import annotations

__all__ = ["Watchdog"]


class Watchdog:
    """Counts failed probes in a row; any success resets the count."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.in_a_row = 0
        self.last_error = ""

    def record(self, error: str | None) -> bool:
        """Feed one probe's outcome (None = it answered); True when the server must be killed."""
        if error is None:
            self.in_a_row, self.last_error = 0, ""
            return False
        self.in_a_row += 1
        self.last_error = error
        return self.in_a_row >= self.failures
