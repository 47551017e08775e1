"""The memory guard sheds new work above the watermark and serves again below it."""

from __future__ import annotations

import pytest

from scripts.live import wait_for

MiB = 1024 * 1024

pytestmark = [pytest.mark.memory_bounded]


def test_memory_above_watermark_sheds_with_503_and_recovers(start_backend) -> None:
    """Assert RSS over the watermark: 503 + Retry-After on the API, /ready fails, /health stays 200; then recovery."""
    backend = start_backend(memory_watermark_bytes=250 * MiB, memory_check_interval=0.1)
    assert backend.ready()["checks"]["memory"]["rss_bytes"] < 200 * MiB
    backend.fault("memory", megabytes=300)
    with backend.client() as client:
        shed = wait_for(
            lambda: (r := client.post("/api/counters/m/increment")).status_code == 503 and r, 10, "the guard to shed"
        )
        assert shed.json()["error"] == "overloaded" and int(shed.headers["retry-after"]) > 0
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json()["failing"] == ["memory"]
        assert client.get("/health").status_code == 200
        assert backend.metric("backend_memory_guard_sheds_total") >= 1
        assert backend.metric("backend_memory_guard_shedding") == 1
        backend.fault("memory", megabytes=0)
        wait_for(lambda: client.post("/api/counters/m/increment").status_code == 200, 10, "service again")
    assert backend.metric("backend_memory_guard_shedding") == 0
