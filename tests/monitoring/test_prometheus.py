"""A real Prometheus, with the guide's scrape config and the generated rules, watching a live backend:
faults are induced, the matching alerts must fire, then resolve once the faults are lifted.

Measured times to detect (fault → firing) are recorded as figures of the test run, so the
monitoring page can show them next to each alert's ``for``.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from scripts.alert_rules import RULES
from scripts.live import Live, free_port, wait_for
from tests.tools import require

GUIDE_CONFIG = RULES.parent / "prometheus.yml"
FAULT_ALERTS = ("CacheDiskFailing", "DatabaseErrors")


@contextlib.contextmanager
def prometheus(tmp: Path, backend: Live) -> Iterator[str]:
    """Prometheus on loopback: the guide's config with 1 s intervals, pointed at ``backend``."""
    config = yaml.safe_load(GUIDE_CONFIG.read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(RULES)]
    config.pop("alerting", None)
    config["scrape_configs"][0]["scrape_timeout"] = "1s"
    config["scrape_configs"][0]["static_configs"] = [{"targets": [backend.url.removeprefix("http://")]}]
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    with open(tmp / "prometheus.log", "wb") as log:
        proc = subprocess.Popen(
            [
                require("prometheus", "prometheus"),
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def api_data(api: str, path: str) -> dict | None:
    """The ``data`` of a Prometheus API answer; None while it starts ("Service Unavailable", not JSON)."""
    try:
        return httpx.get(f"{api}{path}", timeout=5).json()["data"]
    except ValueError:
        return None


def alert_states(api: str) -> dict[str, str]:
    data = api_data(api, "/api/v1/alerts")
    return {a["labels"]["alertname"]: a["state"] for a in data["alerts"]} if data else {}


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
