"""doctor names the right page first, never guesses, and says so when it cannot measure something."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from checks import routing
from checks.cli import main
from checks.result import Result, Status
from checks.routing import ranked, runbook_url, site_url
from scripts.live import Live, free_port

REPO = Path(__file__).resolve().parents[2]


def _row(check: str, status: Status, runbook: str = "") -> Result:
    return Result(check, status, "detail", runbook=runbook)


def test_failing_rows_are_ranked_cause_before_symptom() -> None:
    """Assert the most severe finding comes first and, among equals, a locked database before the API
    errors it causes; a warning never outranks a failure; ok then skipped rows come last."""
    rows = [
        _row("latency.p95", Status.WARN, "api-latency-high"),
        _row("http.health", Status.OK),
        _row("db.lock_wait", Status.SKIP),
        _row("errors.ratio", Status.FAIL, "api-error-rate-high"),
        _row("ws.disconnects", Status.WARN, "websocket-disconnect-storm"),
        _row("http.ready", Status.FAIL, "database-unavailable"),
        _row("ws.probe", Status.ERROR, "backend-down"),
    ]
    assert [r.check for r in ranked(rows)] == [
        "ws.probe",
        "http.ready",
        "errors.ratio",
        "ws.disconnects",
        "latency.p95",
        "http.health",
        "db.lock_wait",
    ]


def test_runbook_links_point_at_the_published_site(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Assert links use --site-url, else $HANDBOOK_SITE_URL, else the host's settings file, else the
    local `make serve` address."""
    monkeypatch.delenv("HANDBOOK_SITE_URL", raising=False)
    monkeypatch.setattr(routing, "HOST_SETTINGS", tmp_path / "env")
    assert runbook_url(site_url(), "backend-down") == "http://127.0.0.1:8000/runbooks/backend-down/"
    (tmp_path / "env").write_text(
        "# the guide's settings\nBACKEND_WS_MAX_CONNECTIONS=5\nHANDBOOK_SITE_URL=http://handbook.test/\n"
    )
    assert runbook_url(site_url(), "backend-down") == "http://handbook.test/runbooks/backend-down/"
    monkeypatch.setenv("HANDBOOK_SITE_URL", "https://handbook.example/ops")
    assert runbook_url(site_url(), "memory-high") == "https://handbook.example/ops/runbooks/memory-high/"
    assert site_url("https://other.example") == "https://other.example/"
    assert (
        runbook_url(site_url(), "memory-high", "backend-3.example:8080")
        == "https://handbook.example/ops/runbooks/memory-high/?instance=backend-3.example:8080"
    )


def test_an_unreachable_backend_names_backend_down() -> None:
    """Assert doctor against nothing exits 2 in one line that links the Backend down runbook for that backend."""
    port = free_port()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "checks",
            "doctor",
            "--url",
            f"http://127.0.0.1:{port}",
            "--site-url",
            "https://handbook.example/",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "connection refused" in done.stderr
    assert done.stderr.strip().endswith(
        f"open https://handbook.example/runbooks/backend-down/?instance=127.0.0.1:{port}"
    )


def test_missing_data_dir_is_a_skip_row_never_a_guess(
    shared_backend: Live, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Assert that with BACKEND_DATA_DIR unset (or empty, as an unset variable expands) doctor keeps
    every file row as `skip`, saying which variable to set, counts them, and exits 0 when the rest is ok."""
    monkeypatch.delenv("BACKEND_DATA_DIR", raising=False)
    for extra in ([], ["--data-dir", ""]):
        code = main(["doctor", "--url", shared_backend.url, "--json", *extra])
        report = json.loads(capsys.readouterr().out)
        rows = {r["check"]: r for r in report["results"]}
        skipped = sorted(name for name, r in rows.items() if r["status"] == "skip")
        file_rows = ["db.integrity", "db.lock_wait", "db.wal_size", "host.data_volume", "host.disk_free", "host.inodes"]
        assert skipped == file_rows, rows
        assert all("BACKEND_DATA_DIR" in rows[name]["detail"] for name in skipped)
        assert report["skipped"] == len(file_rows) and code == 0, report


def test_a_data_dir_that_does_not_exist_is_an_error(shared_backend: Live) -> None:
    """Assert a mistyped data directory stops with exit 2 instead of checking some other directory."""
    done = subprocess.run(
        [sys.executable, "-m", "checks", "db", "--url", shared_backend.url, "--data-dir", "/nonexistent/data"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )
    assert done.returncode == 2 and "--data-dir /nonexistent/data: no such directory" in done.stderr


def test_plain_report_opens_with_the_page_to_read_first(start_backend, capsys: pytest.CaptureFixture[str]) -> None:
    """Assert a sick backend's plain report starts with the top runbook's published link, for this backend."""
    backend = start_backend()
    backend.fault("db", unavailable=True)
    assert main(["doctor", "--url", backend.url, "--site-url", "https://handbook.example/"]) == 1
    lines = capsys.readouterr().out.splitlines()
    instance = backend.url.removeprefix("http://")
    assert lines[1].startswith(
        f"open first: https://handbook.example/runbooks/database-unavailable/?instance={instance} ("
    )
    assert "-> https://handbook.example/runbooks/database-unavailable/" in lines[2]
