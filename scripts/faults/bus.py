"""Faults of the message bus that several instances share (docs/fleet.md)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

from scripts.faults.base import Lift, Target

__all__ = ["bus_down"]


@contextlib.contextmanager
def bus_down(target: Target) -> Iterator[Lift]:
    """Redis SIGKILLed: every instance loses its reader and refuses broadcasts. The lift starts it
    again: empty, as the guide runs it (a new epoch), or from its append-only file."""
    bus = target.need_bus("bus-down")
    bus.stop(signal.SIGKILL)
    back = False

    def lift() -> None:
        nonlocal back
        if not back:
            bus.start()
            back = True

    try:
        yield lift
    finally:
        lift()
