"""The memory guard sheds new work above the watermark and serves again below it."""

from __future__ import annotations

import concurrent.futures
import time

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


def test_memory_held_by_requests_in_progress_follows_them_both_ways(start_backend) -> None:
    """Assert the drill of a slow dependency with large answers: RSS grows by about one buffer per
    request in progress and falls back once they are fewer (idle buffers are given back)."""
    backend = start_backend(shed_loop_lag=0)  # on a busy machine a late loop refuses; not what this proves
    rss = lambda: backend.metric("process_resident_memory_bytes")  # noqa: E731 - read as a measurement
    before = rss()
    backend.fault("latency", seconds=6.0, request_megabytes=32)  # room for a busy machine
    with backend.client() as client, concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = [pool.submit(client.post, f"/api/counters/held-{n}/increment") for n in range(8)]
        wait_for(lambda: rss() > before + 8 * 30 * MiB, 10, "RSS to hold eight 32 MiB buffers")
        assert backend.metric("backend_http_requests_in_flight") >= 8
        assert [a.result(timeout=15).status_code for a in answers] == [200] * 8
        backend.fault("latency", seconds=0.2, request_megabytes=32)  # one request at a time from here
        deadline = time.monotonic() + 10
        while rss() > before + 3 * 32 * MiB and time.monotonic() < deadline:
            assert client.post("/api/counters/held-one/increment").status_code == 200
    assert rss() <= before + 3 * 32 * MiB, f"RSS {rss() / MiB:.0f} MiB, {before / MiB:.0f} MiB before the drill"
    assert backend.fault("latency", seconds=0)["request_megabytes"] == 0
