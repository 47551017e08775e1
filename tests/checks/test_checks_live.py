"""Each check against a live backend: ok when healthy, not ok when made unhealthy in its own way."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from checks.cli import main
from checks.context import Context
from checks.promql import Snapshot
from checks.registry import CHECKS
from checks.thresholds import load as load_thresholds
from scripts import live
from scripts.live import Live, free_port, wait_for
from scripts.redis_server import RedisServer

MiB = 1024 * 1024


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, dict]]:
    code = main([*args, "--json"])
    report = json.loads(capsys.readouterr().out)
    return code, {row["check"]: row for row in report["results"]}


def test_doctor_on_a_healthy_backend_is_all_ok(start_backend, capsys: pytest.CaptureFixture[str]) -> None:
    """Assert doctor runs every component against a healthy backend, all rows ok, exit 0."""
    backend = start_backend()
    with httpx.Client(base_url=backend.url) as client:
        client.put("/api/cache/k", json=1)
        for _ in range(30):
            client.get("/api/cache/k")
    code, rows = run(capsys, "doctor", "--url", backend.url, "--data-dir", str(backend.data_dir))
    not_ok = {name: (row["status"], row["detail"]) for name, row in rows.items() if row["status"] != "ok"}
    assert code == 0 and not not_ok, not_ok
    assert {name.split(".")[0] for name in rows} == set(CHECKS)  # doctor runs every component
    assert all(row["runbook"] == "" for row in rows.values())
    assert rows["cache.hit_ratio"]["value"] == 1.0


def test_doctor_table_names_the_runbook_of_a_failing_row(start_backend, capsys: pytest.CaptureFixture[str]) -> None:
    """Assert the human table shows a non-ok row with its runbook and exits 1."""
    backend = start_backend()
    backend.fault("db", unavailable=True)
    assert main(["doctor", "--url", backend.url]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[1].startswith("open first: http://127.0.0.1:8000/runbooks/database-unavailable/?instance=")
    assert "http.ready" in out and "overall: fail" in out


def test_database_faults_fail_db_checks(start_backend, capsys: pytest.CaptureFixture[str]) -> None:
    """Assert an unavailable database fails db.ready, and a lock held by another process fails db.lock_wait."""
    backend = start_backend()
    backend.fault("db", unavailable=True)
    code, rows = run(capsys, "db", "--url", backend.url)
    assert code == 1 and rows["db.ready"]["status"] == "fail"
    assert rows["db.ready"]["runbook"] == "database-unavailable"
    backend.fault("db", unavailable=False)
    with contextlib.closing(sqlite3.connect(backend.data_dir / "backend.sqlite3", isolation_level=None)) as holder:
        holder.execute("BEGIN EXCLUSIVE")
        code, rows = run(capsys, "db", "--url", backend.url, "--data-dir", str(backend.data_dir), "--timeout", "1")
        holder.execute("ROLLBACK")
    assert code == 1
    assert rows["db.lock_wait"]["status"] == "fail" and rows["db.ready"]["status"] == "fail"
    assert rows["db.integrity"]["status"] == "ok"


def test_error_burst_fails_errors_check(start_backend, capsys: pytest.CaptureFixture[str]) -> None:
    """Assert a burst of 5xx (database made unavailable under traffic) fails errors.ratio."""
    backend = start_backend()
    backend.fault("db", unavailable=True)
    with backend.background_requests("POST", "/api/counters/burst/increment"):
        wait_for(lambda: backend.metric("backend_http_requests_total", status="503") >= 5, 10, "a burst of 503s")
        code, rows = run(capsys, "errors", "--url", backend.url)
    assert code == 1 and rows["errors.ratio"]["status"] == "fail"
    assert rows["errors.ratio"]["value"] > 0.5 and rows["errors.ratio"]["runbook"] == "api-error-rate-high"


def test_slow_api_warns_latency_check(start_backend, capsys: pytest.CaptureFixture[str]) -> None:
    """Assert injected 1.2 s latency under traffic makes latency.p95 cross the 1 s limit."""
    backend = start_backend()
    backend.fault("latency", seconds=1.2)
    with (
        backend.background_requests("GET", "/api/counters/slow"),
        backend.background_requests("GET", "/api/counters/slow2"),
    ):
        wait_for(
            lambda: backend.metric("backend_http_request_duration_seconds_count", route="/api/counters/{name}") >= 2,
            15,
            "slow requests to complete",
        )
        code, rows = run(capsys, "latency", "--url", backend.url)
    assert code == 1 and rows["latency.p95"]["status"] == "warn"
    assert rows["latency.p95"]["value"] > 1.0 and rows["latency.p95"]["runbook"] == "api-latency-high"


def test_connections_at_capacity_fail_ws_checks(start_backend, capsys: pytest.CaptureFixture[str]) -> None:
    """Assert a full hub warns on ws.capacity and fails the probe's own connection with 1013, and
    ws.handshakes counts that refusal though no client was refused before the run's scrape (a game
    day caught it saying "no handshake refused" right after a restart to a capacity too low)."""
    backend = start_backend(ws_max_connections=2)
    with contextlib.ExitStack() as stack:
        for _ in range(2):
            stack.enter_context(connect(backend.ws_url, compression=None, proxy=None)).recv(timeout=5)
        code, rows = run(capsys, "ws", "--url", backend.url)
    assert code == 1
    assert rows["ws.capacity"]["status"] == "warn" and rows["ws.capacity"]["value"] == 1.0
    assert rows["ws.connect"]["status"] == "fail" and "1013" in rows["ws.connect"]["detail"]
    assert rows["ws.connect"]["runbook"] == "websocket-connections-near-capacity"
    assert (
        rows["ws.handshakes"]["status"] != "ok"
        and "1 WebSocket connection(s) refused at capacity" in (rows["ws.handshakes"]["detail"])
    )


def test_a_hub_that_filled_after_the_scrape_is_not_called_ok(
    start_backend, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Assert ws.capacity is not ok when the run's probe was refused at capacity though its scrape,
    taken first, saw room: right after a restart to a capacity too low, the clients came back between
    the two (a laboratory game day caught the row saying ok beside ws.connect's 1013)."""
    backend = start_backend(ws_max_connections=2)
    scrape, held = Context.latest, []
    with contextlib.ExitStack() as clients:

        def scraped_then_filled(ctx: Context) -> Snapshot:
            snapshot = scrape(ctx)
            while len(held) < 2:  # the clients arrive after the scrape
                held.append(clients.enter_context(connect(backend.ws_url, compression=None, proxy=None)))
                held[-1].recv(timeout=5)
            return snapshot

        monkeypatch.setattr(Context, "latest", scraped_then_filled)
        code, rows = run(capsys, "ws", "--url", backend.url)
    assert code == 1 and "1013" in rows["ws.connect"]["detail"]
    assert rows["ws.capacity"]["status"] == "warn", rows["ws.capacity"]
    assert rows["ws.capacity"]["detail"].startswith("0 of 2 connections in use when scraped; full when probed")


def test_a_bus_down_fails_bus_up_and_opens_its_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Assert that on an instance whose message bus is down, bus.up fails and the broadcast probe's 503
    names the bus, and doctor opens "Message bus down" first (it opened "API error rate high" once)."""
    redis = RedisServer(tmp_path / "redis").start()
    try:
        with live.running(tmp_path, bus_url=redis.url) as backend:
            code, rows = run(capsys, "bus", "--url", backend.url)
            assert code == 0 and rows["bus.up"]["status"] == "ok", rows
            redis.stop(signal.SIGKILL)
            wait_for(lambda: backend.metric("backend_bus_up") == 0, 10, "the instance to lose its bus")
            code = main(["doctor", "--url", backend.url, "--json"])
            report = json.loads(capsys.readouterr().out)
    finally:
        redis.stop()
    rows = {row["check"]: row for row in report["results"]}
    assert code == 1 and report["first_runbook"] == "message-bus-down", report
    assert rows["bus.up"]["status"] == "fail" and rows["bus.up"]["runbook"] == "message-bus-down", rows
    row = rows["ws.connect"]
    assert row["status"] == "fail" and row["runbook"] == "message-bus-down", row
    assert "503 bus_unavailable: the message bus" in row["detail"]


def test_an_instance_without_a_bus_is_not_called_a_bus_down(shared_backend: live.Live, capsys) -> None:
    """Assert one instance (no BACKEND_BUS_URL) is not called a bus down: the row says there is no bus."""
    code, rows = run(capsys, "bus", "--url", shared_backend.url)
    assert code == 0 and rows["bus.up"]["status"] == "ok", rows
    assert "BACKEND_BUS_URL is not set" in rows["bus.up"]["detail"]


def test_cache_misses_and_disk_failure_fail_cache_checks(start_backend, capsys: pytest.CaptureFixture[str]) -> None:
    """Assert lookups of absent keys drop the hit ratio under 85 %, and a failing disk fails cache.disk_tier."""
    backend = start_backend()
    backend.fault("cache", disk_failing=True)
    with httpx.Client(base_url=backend.url) as client:
        client.put("/api/cache/present", json=1)
        for n in range(20):
            client.get(f"/api/cache/absent-{n}")
        client.get("/api/cache/present")
    code, rows = run(capsys, "cache", "--url", backend.url)
    assert code == 1
    assert rows["cache.hit_ratio"]["status"] == "warn" and rows["cache.hit_ratio"]["value"] == pytest.approx(1 / 21)
    assert rows["cache.disk_tier"]["status"] == "fail" and rows["cache.disk_tier"]["runbook"] == "cache-disk-failure"


def test_memory_near_watermark_warns_process_check(start_backend, capsys: pytest.CaptureFixture[str]) -> None:
    """Assert RSS above 80 % of the watermark warns process.rss, naming the memory runbook."""
    backend = start_backend(memory_watermark_bytes=300 * MiB)
    rss = backend.ready()["checks"]["memory"]["rss_bytes"]
    backend.fault("memory", megabytes=int((0.9 * 300 * MiB - rss) / MiB))
    code, rows = run(capsys, "process", "--url", backend.url)
    assert code == 1 and rows["process.rss"]["status"] == "warn"
    assert 0.8 < rows["process.rss"]["value"] < 1.0 and rows["process.rss"]["runbook"] == "memory-high"
    assert rows["process.shedding"]["status"] == "ok"


def test_supervisor_restarts_fail_process_check(start_backend, capsys: pytest.CaptureFixture[str]) -> None:
    """Assert three restarts by the supervisor reach the process.restarts limit."""
    import os
    import signal

    backend = start_backend(mode="supervise")
    for _ in range(3):
        pid = backend.server_pid()
        os.kill(pid, signal.SIGKILL)
        wait_for(
            lambda old=pid: httpx.get(f"{backend.url}/ready").status_code == 200 and backend.server_pid() != old,
            10,
            "the restarted server",
        )
    code, rows = run(capsys, "process", "--url", backend.url)
    assert code == 1 and rows["process.restarts"]["status"] == "fail"
    assert rows["process.restarts"]["runbook"] == "backend-crash-looping"
    assert rows["process.restarts"]["detail"].startswith("3 supervisor restarts in the last 10m")


def test_restarts_outside_the_limits_window_do_not_fail_the_check() -> None:
    """Assert restarts older than the limit's window (the alert's increase over 10m) are not judged,
    while the same count inside it fails: the check and the rule mean the same thing."""
    from checks.probes.process import _restarts
    from checks.thresholds import load

    limit = load()["process.restarts"]
    old = _restarts({"restarts_seconds_ago": [3600.0, 2000.0, 700.0]}, 3, limit, 60.0)
    assert old.status.value == "ok" and old.value == 0 and "(3 in all)" in old.detail
    recent = _restarts({"restarts_seconds_ago": [3600.0, 500.0, 120.0, 5.0]}, 4, limit, 60.0)
    assert recent.status.value == "fail" and recent.value == 3


@pytest.mark.root
def test_host_disk_full_fails_host_check(
    tmp_path: Path, shared_backend: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    """Assert a data directory on a full filesystem fails host.disk_free."""
    from tests.support.faults import tmpfs

    full = tmp_path / "full"
    with tmpfs(full, "1m"):
        with open(full / "filler", "wb") as handle, contextlib.suppress(OSError):
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        code, rows = run(capsys, "host", "--url", shared_backend.url, "--data-dir", str(full))
    assert code == 1 and rows["host.disk_free"]["status"] == "fail"
    assert rows["host.disk_free"]["runbook"] == load_thresholds()["host.disk_free_ratio"].runbook


def test_run_passes_a_correct_page_and_reports_a_wrong_one(
    shared_backend: Live, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Assert `checks run` passes a true page, and on a wrong expected output exits 1 with a diff."""
    good = tmp_path / "good.md"
    good.write_text(
        '```console\n$ curl -fsS "$BACKEND_URL/health"\n{"status":"ok",...}\n'
        '$ checks http --url "$BACKEND_URL" --samples 3 | grep -c "^ok  *http\\.health "\n1\n```\n\n'
        '<!-- checks: mutating -->\n```console\n$ curl -fsS -X POST "$BACKEND_URL/api/counters/run/increment"\n'
        '{"name":"run","value":...}\n```\n'
    )
    assert main(["run", str(good), "--url", shared_backend.url]) == 0
    out = capsys.readouterr().out
    assert "2 of 2 steps passed, 1 blocks skipped" in out and "--allow-mutating" in out
    assert main(["run", str(good), "--url", shared_backend.url, "--allow-mutating"]) == 0
    assert "3 of 3 steps passed" in capsys.readouterr().out
    bad = tmp_path / "bad.md"
    bad.write_text('```console\n$ curl -fsS "$BACKEND_URL/health"\n{"status":"sick",...}\n$ echo next\nnext\n```\n')
    assert main(["run", str(bad), "--url", shared_backend.url]) == 1
    out = capsys.readouterr().out
    assert '- 3 | {"status":"sick",...}' in out and '+   | {"status":"ok"' in out
    assert "1 of 2 steps passed" in out and "differed at line 2" in out


def test_fleet_shows_every_instance_from_the_bus_and_names_the_one_behind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Assert `checks fleet` lists the bus and each instance that reads it; an instance whose reader
    stalled is the one row not ok, sent to "Instance lagging the bus"; a stopped one fails, sent to
    "One instance down", and doctor on it opens that page, not "Backend down", naming who serves."""
    redis = RedisServer(tmp_path / "redis").start()
    monkeypatch.setenv("BACKEND_BUS_URL", redis.url)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    try:
        with contextlib.ExitStack() as stack:
            a, b = (
                stack.enter_context(
                    live.running(
                        tmp_path / n, "supervise", data_dir=tmp_path, instance_dir=tmp_path / n, bus_url=redis.url
                    )
                )
                for n in ("a", "b")
            )
            a.fault("bus", reader_stalled=True)
            for n in range(30):
                httpx.post(f"{b.url}/api/broadcast", json={"message": n}, timeout=10).raise_for_status()
            wait_for(lambda: a.metric("backend_bus_lag_broadcasts") == 30, 10, "A's report to count 30 behind")
            code, rows = run(capsys, "fleet", "--url", b.url)
            behind = rows[f"fleet.127.0.0.1:{a.port}"]
            assert code == 1 and behind["status"] == "warn" and behind["runbook"] == "instance-lagging-bus", rows
            assert behind["detail"].startswith("30 broadcasts behind the bus"), behind
            assert rows[f"fleet.127.0.0.1:{b.port}"]["status"] == "ok" and rows["fleet.bus"]["status"] == "ok", rows
            assert "2 instances report" in rows["fleet.bus"]["detail"]
            a.stop()
            code, rows = run(capsys, "fleet", "--url", a.url)  # read from the bus: the dead instance's URL will do
            gone = rows[f"fleet.127.0.0.1:{a.port}"]
            assert gone["status"] == "fail" and gone["runbook"] == "instance-down", gone
            assert gone["detail"].startswith("does not answer /health"), gone
            doctor = subprocess.run(
                [sys.executable, "-m", "checks", "doctor", "--url", a.url],
                capture_output=True,
                text=True,
                env={**os.environ, "BACKEND_BUS_URL": redis.url},
                timeout=60,
            )
            assert doctor.returncode == 2, doctor.stderr
            assert f"one instance of several: 127.0.0.1:{b.port} read the bus" in doctor.stderr, doctor.stderr
            assert f"/runbooks/instance-down/?instance=127.0.0.1:{a.port}" in doctor.stderr, doctor.stderr
            elsewhere = subprocess.run(  # an address that never read this bus is not one of the fleet
                [sys.executable, "-m", "checks", "doctor", "--url", f"http://127.0.0.1:{free_port()}"],
                capture_output=True,
                text=True,
                env={**os.environ, "BACKEND_BUS_URL": redis.url},
                timeout=60,
            )
            assert "/runbooks/backend-down/" in elsewhere.stderr and "several" not in elsewhere.stderr, elsewhere.stderr
            redis.stop()
            code, rows = run(capsys, "fleet", "--url", b.url)
            assert rows["fleet.bus"]["status"] == "fail" and rows["fleet.bus"]["runbook"] == "message-bus-down", rows
    finally:
        redis.stop()
