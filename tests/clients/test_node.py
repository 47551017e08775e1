"""The Node.js tests (``clients/``, Node's own runner): the reference client's reconnect policy on
fake timers, and process coordination as a desktop shell's main process does it. ``npm ci`` installs
the locked ``ws``; a missing ``node`` or ``npm`` fails loudly."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.support import REPO
from tests.support.tools import require

CLIENTS = REPO / "clients"


@pytest.mark.slow
@pytest.mark.process_coordination
@pytest.mark.timeout(600)
def test_node_tests_pass(record_property: pytest.RecordProperty) -> None:
    """Assert every Node test passes (npm ci from the committed lockfile, then node --test)."""
    npm, node = require("npm", "npm"), require("node", "nodejs")
    installed = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=CLIENTS, capture_output=True, text=True, timeout=300, check=False
    )
    assert installed.returncode == 0, f"npm ci failed:\n{installed.stdout}\n{installed.stderr}"
    done = subprocess.run(
        [node, "--test", "--test-concurrency=1", "--test-reporter=tap", "test/"],
        cwd=CLIENTS,
        env={**os.environ, "BACKEND_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=500,
        check=False,
    )
    counts = {key: int(value) for key, value in re.findall(r"^# (tests|pass|fail) (\d+)$", done.stdout, re.MULTILINE)}
    record_property(
        "marker_counts",
        json.dumps(
            {
                "process_coordination": {
                    "passed": counts.get("pass", 0),
                    "failed": counts.get("fail", 0),
                    "total": counts.get("tests", 0),
                }
            }
        ),
    )
    failed = "\n".join(line for line in done.stdout.splitlines() if line.lstrip().startswith("not ok"))
    assert done.returncode == 0 and counts.get("fail") == 0, f"{failed}\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}"
    assert counts.get("tests", 0) >= 10 and counts["pass"] == counts["tests"], counts
