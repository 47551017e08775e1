"""A real Prometheus on loopback with the guide's scrape config and the generated rules."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import yaml

from scripts.alert_rules import RULES
from scripts.live import Live, free_port, stop_process
from tests.support.tools import require

__all__ = ["GUIDE_CONFIG", "alert_states", "api_data", "prometheus"]

GUIDE_CONFIG = RULES.parent / "prometheus.yml"


@contextlib.contextmanager
def prometheus(tmp: Path, backend: Live) -> Iterator[str]:
    """Prometheus on loopback: the guide's config with 1 s intervals, pointed at ``backend``."""
    config = yaml.safe_load(GUIDE_CONFIG.read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(RULES)]
    config.pop("alerting", None)
    config["scrape_configs"][0]["scrape_timeout"] = "1s"
    config["scrape_configs"][0]["static_configs"] = [{"targets": [backend.url.removeprefix("http://")]}]
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    with open(tmp / "prometheus.log", "wb") as log:
        proc = subprocess.Popen(
            [
                require("prometheus", "prometheus"),
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc, signal.SIGTERM, 20)


def api_data(api: str, path: str) -> dict | None:
    """The ``data`` of a Prometheus API answer; None while it starts ("Service Unavailable", not JSON)."""
    try:
        return httpx.get(f"{api}{path}", timeout=5).json()["data"]
    except ValueError:
        return None


def alert_states(api: str) -> dict[str, str]:
    data = api_data(api, "/api/v1/alerts")
    return {a["labels"]["alertname"]: a["state"] for a in data["alerts"]} if data else {}
