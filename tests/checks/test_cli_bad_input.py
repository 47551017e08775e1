"""Every expected failure of the CLI: exit 2, one line on stderr, no traceback."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.live import free_port
from tests.support.fakes import http_server, raw_server

HEALTH = (200, "application/json", '{"status": "ok", "pid": 1}')


def _dead() -> contextlib.AbstractContextManager[str]:
    return contextlib.nullcontext(f"http://127.0.0.1:{free_port()}")


CASES = [
    # (id, server factory, extra args, text the one line must contain)
    ("refused", _dead, ["doctor"], "connection refused"),
    ("refused ws", _dead, ["ws"], "connection refused"),
    ("garbage", lambda: raw_server(b"\x00\x01garbage\r\n\r\n"), ["doctor"], "not HTTP the backend speaks"),
    ("empty reply", lambda: raw_server(b""), ["doctor"], "closed it without an answer"),
    ("silent", lambda: raw_server(None), ["doctor", "--timeout", "0.5"], "did not answer within 0.5 s"),
    (
        "html",
        lambda: http_server({"/health": (200, "text/html", "<html>hi</html>")}),
        ["doctor"],
        "not the backend's JSON",
    ),
    (
        "wrong json",
        lambda: http_server({"/health": (200, "application/json", '{"hello": 1}')}),
        ["http"],
        "not the backend's liveness JSON",
    ),
    (
        "metrics garbage",
        lambda: http_server({"/health": HEALTH, "/metrics": (200, "text/plain", "{{{ not metrics")}),
        ["errors"],
        "not valid Prometheus exposition text",
    ),
    (
        "metrics foreign",
        lambda: http_server({"/health": HEALTH, "/metrics": (200, "text/plain", "up 1\n")}),
        ["cache"],
        "has no backend_* metrics",
    ),
    ("metrics 404", lambda: http_server({"/health": HEALTH}), ["process"], "/metrics answered 404"),
    ("bad scheme", lambda: contextlib.nullcontext("ftp://127.0.0.1:21"), ["doctor"], "bad URL 'ftp://127.0.0.1:21'"),
    ("no host", lambda: contextlib.nullcontext("http://"), ["doctor"], "bad URL 'http://'"),
    ("unknown component", _dead, ["bogus"], "invalid choice: 'bogus'"),
    ("bad timeout", _dead, ["doctor", "--timeout", "soon"], "invalid float value: 'soon'"),
    ("missing page", _dead, ["run", "runbooks/does-not-exist.md"], "no such page"),
    ("page without reason", _dead, ["run", "{skip_page}"], "needs a reason"),
    ("missing thresholds", _dead, ["thresholds", "--thresholds", "/nonexistent/t.yaml"], "thresholds file not found"),
    ("malformed thresholds", _dead, ["thresholds", "--thresholds", "{bad_yaml}"], "not valid YAML"),
    ("invalid threshold", _dead, ["doctor", "--thresholds", "{bad_entry}"], "memory.rss_ratio.severity"),
    ("host remote", _dead, ["host", "--url", "http://10.255.255.1:9"], "run `checks host` on the backend's host"),
]


@pytest.mark.parametrize(("case", "server", "args", "needle"), CASES, ids=[c[0] for c in CASES])
def test_expected_failure_is_one_line_and_exit_2(
    tmp_path: Path, case: str, server, args: list[str], needle: str
) -> None:
    """Assert the CLI exits 2 with exactly one stderr line naming the problem, and no traceback."""
    files = {
        "skip_page": ("page.md", "<!-- checks: skip -->\n```console\n$ true\n```\n"),
        "bad_yaml": ("bad.yaml", "memory.rss_ratio: [unclosed\n"),
        "bad_entry": (
            "entry.yaml",
            "memory.rss_ratio: {value: 0.8, unit: ratio, comparison: '>', severity: loud,"
            " for: 5m, runbook: memory-high, why: x}\n",
        ),
    }
    for filename, text in files.values():
        (tmp_path / filename).write_text(text)
    args = [a.format(**{k: str(tmp_path / f) for k, (f, _) in files.items()}) for a in args]
    with server() as url:
        if "--url" not in args:
            args += ["--url", url]
        done = subprocess.run(
            [sys.executable, "-m", "checks", *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path(__file__).resolve().parents[2],
        )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr + done.stdout
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert needle in lines[0]
