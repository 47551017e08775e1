"""The drill token: its routes exist only with it, answer 403 to any other token (compared in constant
time), and it never shows up anywhere a reader or an attacker looks: the log, /metrics, error
bodies, response headers, or the site built in an environment that has it."""

from __future__ import annotations

import ast
import inspect
import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx

from backend import faults
from scripts.live import Live
from tests.support import REPO


def test_the_token_is_compared_in_constant_time() -> None:
    """Assert the check goes through hmac.compare_digest and never compares the token with ==."""
    tree = ast.parse(inspect.getsource(faults._require_token))
    calls = [ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert "hmac.compare_digest" in calls
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Compare)], "a token compared with ==/!= leaks timing"


def test_the_token_never_leaks(start_backend, tmp_path: Path) -> None:
    """Assert that after right and wrong tokens, a fault and its 403s, the token is in no response body
    or header, not in /metrics, not in the server's log, and not in a site built with it in the environment."""
    token = f"tok-{secrets.token_hex(12)}"
    backend: Live = start_backend(faults_token=token)
    seen: list[str] = []
    with httpx.Client(base_url=backend.url, timeout=10) as client:

        def keep(answer: httpx.Response) -> httpx.Response:
            seen.append(answer.text + str(answer.headers))
            return answer

        assert keep(client.put("/_faults/db", json={"unavailable": True}, headers={"X-Faults-Token": token})).is_success
        assert keep(client.post("/api/items", json={"x": 1})).status_code == 503  # the fault itself
        assert keep(client.delete("/_faults", headers={"X-Faults-Token": token})).is_success
        for wrong in (token[:-1], token + "x", token.upper(), "", "x" * 1000):
            answer = keep(client.get("/_faults", headers={"X-Faults-Token": wrong}))
            assert answer.status_code == 403 and answer.json()["error"] == "forbidden"
        keep(client.get("/_faults/nothing", headers={"X-Faults-Token": token}))
        keep(client.get("/ready"))
        keep(client.get("/health"))
        metrics = client.get("/metrics").text
    assert not [text for text in seen if token in text or token[:-1] in text], "the token is in a response"
    assert token not in metrics
    assert token not in backend.log() and token[:-1] not in backend.log()
    site = tmp_path / "site"
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
        cwd=REPO,
        env={**os.environ, "BACKEND_FAULTS_TOKEN": token, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    leaked = [p for p in site.rglob("*") if p.is_file() and token.encode() in p.read_bytes()]
    assert leaked == [], f"the token is in the built site: {leaked}"
