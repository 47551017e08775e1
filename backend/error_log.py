"""The last error of each component, for ``/ready`` and the journal, without flooding either.

Counters in ``/metrics`` say *how many*; an engineer on the host also needs *what*: the text of the
error, when it last happened. :class:`ErrorLog` keeps the newest error per component and writes a
journal line per error class (component and kind) at most once per ``interval``; the lines held
back are counted and said on the next one, so a storm of a thousand identical errors a second costs
one line every ``interval`` seconds, not a full disk.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

__all__ = ["ErrorLog", "LastError"]

log = logging.getLogger("backend.errors")


@dataclasses.dataclass
class LastError:
    """The newest error of one component, and how many it has had since the process started."""

    at: float  # wall-clock seconds
    kind: str
    text: str
    count: int


class ErrorLog:
    """Newest error per component; one journal line per (component, kind) per ``interval``."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.time) -> None:
        self.interval = interval
        self._clock = clock
        self._last: dict[str, LastError] = {}
        self._logged_at: dict[tuple[str, str], float] = {}
        self._held_back: dict[tuple[str, str], int] = {}

    def record(self, component: str, kind: str, text: str) -> None:
        now = self._clock()
        before = self._last.get(component)
        self._last[component] = LastError(now, kind, text, (before.count if before else 0) + 1)
        key = (component, kind)
        if now - self._logged_at.get(key, float("-inf")) < self.interval:
            self._held_back[key] = self._held_back.get(key, 0) + 1
            return
        held = self._held_back.pop(key, 0)
        more = f" ({held} more like it in the last {now - self._logged_at[key]:.0f} s)" if held else ""
        log.error("%s %s: %s%s", component, kind, text, more)
        self._logged_at[key] = now

    def as_json(self) -> dict[str, dict[str, Any]]:
        """For ``/ready``: per component, the error's kind, text, age and count."""
        now = self._clock()
        return {
            component: {
                "kind": last.kind,
                "error": last.text,
                "seconds_ago": round(now - last.at, 1),
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(last.at)),
                "count": last.count,
            }
            for component, last in sorted(self._last.items())
        }
