"""What every check receives: the target, the limits, and one shared pair of /metrics scrapes."""

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
    """Inputs of a check run. ``window()`` scrapes twice, ``interval`` apart, once per run."""

    target: Target
    limits: Mapping[str, Threshold]
    interval: float = 0.5
    samples: int = 20
    data_dir: Path | None = None
    _window: Window | None = dataclasses.field(default=None, repr=False)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    def window(self) -> Window:
        with self._lock:
            if self._window is None:
                before = self.target.scrape()
                time.sleep(self.interval)  # the measurement interval itself, not a wait for a condition
                self._window = Window(before, self.target.scrape())
            return self._window

    def latest(self) -> Snapshot:
        """The newest scrape: the window's second one if a rate check already ran, else a fresh one."""
        with self._lock:
            if self._window is not None:
                return self._window.after
        return self.target.scrape()
