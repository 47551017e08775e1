"""The checks never say ok while an alert's condition holds: a real Prometheus evaluates the generated
rules against a live backend under a real fault, and the moment an alert goes pending (its condition
true, waiting out its ``for``) the matching check must not be ok."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checks.cli import main
from scripts.faults import FAULTS, Target
from scripts.live import wait_for
from tests.support.prometheus import alert_states, prometheus

pytestmark = [pytest.mark.slow]


def _condition_holds(api: str, alert: str) -> bool:
    """Whether Prometheus has the alert pending (its condition true) or firing."""
    return alert_states(api).get(alert) in ("pending", "firing")


def _check(capsys: pytest.CaptureFixture[str], component: str, url: str) -> dict[str, dict]:
    main([component, "--url", url, "--json"])
    return {row["check"]: row for row in json.loads(capsys.readouterr().out)["results"]}


def test_a_disconnect_storm_the_alert_sees_is_not_ok_in_checks_ws(
    start_backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Assert that once WebSocketDisconnectStorm's condition holds in Prometheus, `checks ws` reports
    ws.disconnects not ok and names the disconnect-storm runbook."""
    backend = start_backend()
    with prometheus(tmp_path, backend) as api, FAULTS["ws-drop-storm"](Target(backend)):
        wait_for(
            lambda: _condition_holds(api, "WebSocketDisconnectStorm"),
            60,
            "WebSocketDisconnectStorm to go pending",
            interval=0.5,
        )
        rows = _check(capsys, "ws", backend.url)
    assert rows["ws.disconnects"]["status"] == "warn", rows["ws.disconnects"]
    assert rows["ws.disconnects"]["runbook"] == "websocket-disconnect-storm"
    assert "1012 by server" in rows["ws.disconnects"]["detail"]


def test_latency_the_alert_sees_is_not_ok_in_checks_latency(
    start_backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Assert that once ApiLatencyHigh's condition holds in Prometheus (1.2 s injected under traffic),
    `checks latency` is not ok, however long after the start of the slowness it runs."""
    backend = start_backend()
    backend.fault("latency", seconds=1.2)
    with (
        prometheus(tmp_path, backend) as api,
        backend.background_requests("GET", "/api/counters/slow"),
        backend.background_requests("GET", "/api/counters/slow2"),
    ):
        wait_for(lambda: _condition_holds(api, "ApiLatencyHigh"), 60, "ApiLatencyHigh to go pending", interval=0.5)
        rows = _check(capsys, "latency", backend.url)
    assert rows["latency.p95"]["status"] == "warn", rows["latency.p95"]
    assert rows["latency.p95"]["runbook"] == "api-latency-high"
