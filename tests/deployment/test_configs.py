"""The deployment guide's files, exercised: nginx (its exact config, ports aside) in front of a live
backend, and the systemd unit through `systemd-analyze verify`."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from scripts.live import Live, free_port
from scripts.nginx_server import running_nginx
from tests.support.tools import require

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "deployment"
NGINX_CONF = GUIDE / "nginx.conf"
UPSTREAM_CONF = GUIDE / "upstream.conf"


@contextlib.contextmanager
def nginx(tmp: Path, backend: Live) -> Iterator[str]:
    """Run nginx in the foreground with the guide's config; only the two ports are changed."""
    port = free_port()
    backend_port = str(backend.port)
    upstream = UPSTREAM_CONF.read_text().replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{backend_port};")
    site = NGINX_CONF.read_text() + upstream
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
    assert site.count(str(port)) == 1 and site.count(backend_port) >= 1, "the guide's ports moved; update this test"
    with running_nginx(tmp, site, f"http://127.0.0.1:{port}/ready"):
        yield f"http://127.0.0.1:{port}"


def test_nginx_proxies_http_and_websocket(start_backend, tmp_path: Path) -> None:
    """Assert API calls, request ids, the body limit and a WebSocket round trip all work through nginx."""
    backend = start_backend()
    with nginx(tmp_path, backend) as url, httpx.Client(base_url=url, timeout=10) as client:
        created = client.post("/api/items", json={"via": "nginx"})
        assert created.status_code == 201
        assert re.fullmatch(r"[0-9a-f]{32}", created.headers["x-request-id"]), "nginx's $request_id reaches the app"
        assert client.get(f"/api/items/{created.json()['id']}").json()["body"] == {"via": "nginx"}
        assert client.post("/api/items", content=b"x" * (2 * 1024 * 1024)).status_code == 413
        assert client.get("/metrics").status_code == 200  # from 127.0.0.1: allowed
        ws_url = url.replace("http://", "ws://") + "/ws"
        with connect(ws_url, compression=None, proxy=None, open_timeout=5) as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "hello"
            ws.send(json.dumps({"type": "ping", "n": 1}))
            assert json.loads(ws.recv(timeout=5)) == {"type": "pong", "n": 1}
            seq = client.post("/api/broadcast", json={"message": "through nginx"}).json()["seq"]
            assert json.loads(ws.recv(timeout=5)) == {"type": "message", "seq": seq, "data": "through nginx"}


def test_nginx_keeps_metrics_to_the_monitoring_network_and_never_proxies_faults(start_backend, tmp_path: Path) -> None:
    """Assert through the guide's nginx: /metrics answers the allowed address and is refused (403) to
    another, and /_faults is 404 even with the backend's right token, which works on the backend itself."""
    backend = start_backend()
    token = {"X-Faults-Token": backend.env["BACKEND_FAULTS_TOKEN"]}
    assert httpx.get(f"{backend.url}/_faults", headers=token).status_code == 200  # the routes exist behind it
    with nginx(tmp_path, backend) as url:
        assert httpx.get(f"{url}/metrics").status_code == 200
        elsewhere = httpx.HTTPTransport(local_address="127.0.0.2")  # not the monitoring network
        with httpx.Client(transport=elsewhere, timeout=10) as other:
            assert other.get(f"{url}/metrics").status_code == 403
            assert other.get(f"{url}/health").status_code == 200  # the rest is for everyone
        for method, path in (
            ("GET", "/_faults"),
            ("PUT", "/_faults/db"),
            ("POST", "/_faults/ws-drop"),
            ("GET", "/_faults/../_faults"),
            ("GET", "/_FAULTS"),
        ):
            answer = httpx.request(method, f"{url}{path}", headers=token, json={"unavailable": True})
            assert answer.status_code == 404, (method, path, answer.status_code)
    assert httpx.get(f"{backend.url}/_faults", headers=token).json()["db_unavailable"] is False


@pytest.mark.parametrize(
    ("unit", "started_as"), [("backend.service", ""), ("backend@.service", "backend@8081.service")]
)
def test_systemd_unit_verifies(tmp_path: Path, unit: str, started_as: str) -> None:
    """Assert `systemd-analyze verify` accepts the unit, and the template as one of its instances (its
    ExecStart pointed at this checkout's venv)."""
    analyze = require("systemd-analyze", "systemd")
    text = (GUIDE / unit).read_text()
    assert "ExecStart=/srv/backend/.venv/bin/backend supervise" in text
    local = Path(sys.executable).parent / "backend"
    (tmp_path / unit).write_text(text.replace("/srv/backend/.venv/bin/backend", str(local)))
    done = subprocess.run([analyze, "verify", str(tmp_path / (started_as or unit))], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr
