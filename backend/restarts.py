"""What the supervisor tells each server it starts about the restarts before it.

Kept apart from the server's state so the supervisor process does not import the server's stack.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

__all__ = ["Restarts"]


@dataclasses.dataclass(frozen=True)
class Restarts:
    """How often the supervisor restarted the server: in all, and when (epoch seconds, the latest
    ones), so a check can count the restarts inside a limit's window instead of ever."""

    total: int = 0
    at: tuple[float, ...] = ()
    watchdog_kills: int = 0

    def seconds_ago(self, now: float) -> list[float]:
        return [round(now - t, 3) for t in self.at]

    @classmethod
    def parse(cls, total: int, at: str, watchdog_kills: int = 0) -> Restarts:
        """From the supervisor's ``--restarts N --restarted-at T1,T2 --watchdog-kills K``."""
        return cls(total, tuple(float(t) for t in at.split(",") if t), watchdog_kills)

    @staticmethod
    def format(at: Sequence[float]) -> str:
        return ",".join(f"{t:.3f}" for t in at)
