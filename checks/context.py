"""What every check receives: the target, the limits, and the /metrics scrapes they share.

Rates are taken over each limit's own window (``window: 1m`` in the thresholds file), the window
its alert's PromQL uses, so a check never says ok while the alert's condition holds. The backend
keeps copies of its /metrics (``GET /metrics?ago=60``), so a one-minute rate costs one request, not
a minute. Against a target without that history the checks fall back to two scrapes
``interval`` apart, and every row that used them says so.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from checks.promql import Labels, Snapshot, Window
from checks.target import Target
from checks.thresholds import Threshold

__all__ = ["PROBE_ROUTES", "Context", "api_route"]

# Requests the checks and Prometheus make themselves; they would dilute API error and latency figures.
PROBE_ROUTES = frozenset({"/metrics", "/health", "/ready"})


def api_route(labels: Labels) -> bool:
    route = labels.get("route", "")
    return route not in PROBE_ROUTES and not route.startswith("/_faults")


@dataclasses.dataclass
class Context:
    """Inputs of a check run; scrapes are taken once and shared by the checks that run concurrently."""

    target: Target
    limits: Mapping[str, Threshold]
    interval: float = 0.5
    samples: int = 20
    data_dir: Path | None = None
    _latest: Snapshot | None = dataclasses.field(default=None, repr=False)
    _windows: dict[float, Window] = dataclasses.field(default_factory=dict, repr=False)
    _sampled: Window | None = dataclasses.field(default=None, repr=False)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    def latest(self) -> Snapshot:
        """This run's scrape of /metrics (taken once)."""
        with self._lock:
            return self._now()

    def _now(self) -> Snapshot:
        if self._latest is None:
            snapshot = self.target.scrape()
            assert snapshot is not None  # a scrape without ``ago`` always answers or raises
            self._latest = snapshot
        return self._latest

    def window(self, limit: Threshold) -> Window:
        """What happened over ``limit``'s window, ending at this run's scrape."""
        seconds = limit.window_seconds or self.interval
        with self._lock:
            if seconds not in self._windows:
                after = self._now()
                before = self.target.scrape(ago=seconds)
                self._windows[seconds] = Window(before, after) if before is not None else self._sample()
            return self._windows[seconds]

    def _sample(self) -> Window:
        if self._sampled is None:
            before = self._now()
            time.sleep(self.interval)  # the measurement interval itself, not a wait for a condition
            after = self.target.scrape()
            assert after is not None
            self._sampled = Window(before, after, sampled=True)
        return self._sampled
