"""The stress report's distributed Locust commands run: one master and one worker on loopback.

The commands are read from the page, so the page cannot drift from what works. Only what must
differ here is overridden: the target, a few users for a few seconds, one expected worker, and
loopback for the master's socket (the page's master listens on every interface for remote workers).
"""

from __future__ import annotations

import csv
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import live
from scripts.results import REPO

PAGE = REPO / "docs" / "stress-report.md"


def _page_commands() -> dict[str, list[str]]:
    """The page's ``$ locust ...`` lines, keyed by role (master/worker)."""
    commands = {}
    for line in PAGE.read_text().splitlines():
        if line.startswith("$ locust "):
            args = shlex.split(line[2:])
            commands["master" if "--master" in args else "worker"] = args
    assert set(commands) == {"master", "worker"}, f"{PAGE} must show a master and a worker command"
    return commands


def _override(args: list[str], values: dict[str, str]) -> list[str]:
    """Replace the value after each option in ``values``; append the options the page does not have."""
    out, pending = list(args), dict(values)
    for i, arg in enumerate(out[:-1]):
        if arg in pending:
            out[i + 1] = pending.pop(arg)
    return out + [item for pair in pending.items() for item in pair]


@pytest.mark.slow
def test_page_master_and_worker_commands_drive_the_backend(tmp_path: Path) -> None:
    """Assert master + worker run the scenario with requests on every route, no failures, exit 0."""
    commands = _page_commands()
    port = str(live.free_port())
    locust = [str(Path(sys.executable).parent / "locust")]
    with live.running(tmp_path, "supervise") as backend:
        before = backend.metric("backend_http_requests_total")
        master = subprocess.Popen(
            locust
            + _override(
                commands["master"][1:],
                {
                    "--host": backend.url,
                    "--users": "20",
                    "--spawn-rate": "20",
                    "--run-time": "6s",
                    "--expect-workers": "1",
                    "--master-bind-host": "127.0.0.1",
                    "--master-bind-port": port,
                    "--csv": str(tmp_path / "run"),
                    "--expect-workers-max-wait": "30",
                },
            ),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        worker = subprocess.Popen(
            locust + _override(commands["worker"][1:], {"--master-host": "127.0.0.1", "--master-port": port}),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            master_out, _ = master.communicate(timeout=90)
            worker_out, _ = worker.communicate(timeout=30)
        finally:
            for proc in (master, worker):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        served = backend.metric("backend_http_requests_total") - before
    assert master.returncode == 0, master_out[-3000:]
    assert worker.returncode == 0, worker_out[-3000:]
    with open(tmp_path / "run_stats.csv", newline="") as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    total = int(rows["Aggregated"]["Request Count"])
    assert total > 20 and int(rows["Aggregated"]["Failure Count"]) == 0
    assert {"/api/cache/[key]", "/api/items", "/api/items/[id]", "/api/counters/[name]/increment"} <= set(rows)
    assert served >= total  # the backend saw (at least) every request Locust counted
