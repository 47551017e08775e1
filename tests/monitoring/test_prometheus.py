"""A real Prometheus, with the guide's scrape config and the generated rules, watching a live backend:
faults are induced, the matching alerts must fire, then resolve once the faults are lifted.

Measured times to detect (fault → firing) are recorded as figures of the test run, so the
monitoring page can show them next to each alert's ``for``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from scripts.live import wait_for
from tests.support.prometheus import alert_states, api_data, prometheus

FAULT_ALERTS = ("CacheDiskFailing", "DatabaseErrors")


@pytest.mark.slow
def test_faults_fire_their_alerts_and_recovery_resolves_them(
    start_backend, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    """Assert CacheDiskFailing and DatabaseErrors go pending then firing under real faults, and resolve after."""
    backend = start_backend(cache_probe_interval=0.2)
    with prometheus(tmp_path, backend) as api:

        def target_up() -> bool:
            targets = (api_data(api, "/api/v1/targets") or {}).get("activeTargets")
            return bool(targets) and targets[0]["health"] == "up"

        wait_for(target_up, 30, "Prometheus to scrape the backend", interval=0.2)
        assert alert_states(api) == {}
        faulted_at = time.monotonic()
        backend.fault("cache", disk_failing=True)
        backend.fault("db", unavailable=True)
        detected: dict[str, float] = {}
        seen_pending: set[str] = set()
        # with the database unavailable, each increment is a counted database error
        with backend.background_requests("POST", "/api/counters/alerting/increment", pause=0.05):

            def all_firing() -> bool:
                states = alert_states(api)
                seen_pending.update(name for name, state in states.items() if state == "pending")
                for name in FAULT_ALERTS:
                    if states.get(name) == "firing" and name not in detected:
                        detected[name] = time.monotonic() - faulted_at
                return all(name in detected for name in FAULT_ALERTS)

            wait_for(all_firing, 150, f"{', '.join(FAULT_ALERTS)} to fire", interval=0.5)
        assert set(FAULT_ALERTS) <= seen_pending, "each alert must be pending before it fires"
        backend.fault("clear")
        recovered_at = time.monotonic()
        resolved: dict[str, float] = {}

        def all_resolved() -> bool:
            states = alert_states(api)
            for name in FAULT_ALERTS:
                if name not in states and name not in resolved:
                    resolved[name] = time.monotonic() - recovered_at
            return all(name in resolved for name in FAULT_ALERTS)

        wait_for(all_resolved, 150, "the alerts to resolve after recovery", interval=0.5)
    for name in FAULT_ALERTS:
        record_property(f"figure:alert.{name}.ttd_seconds", round(detected[name], 1))
        record_property(f"figure:alert.{name}.resolve_seconds", round(resolved[name], 1))
