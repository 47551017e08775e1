"""What the on-call engineer receives: the published rules evaluated by the host's Prometheus, and
the notifications its Alertmanager delivers to the receivers of the monitoring guide's
``alertmanager.yml`` (a webhook for the pager, a Slack-style post for chat, both on 127.0.0.1:9095).

The harness plays both receivers: it records every delivery with its arrival time and reads the
``runbook_url`` the engineer would click.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

__all__ = ["PROMETHEUS", "RECEIVER_PORT", "Delivery", "Receiver", "active_alerts", "receiving", "scraped"]

PROMETHEUS = "http://127.0.0.1:9090"
RECEIVER_PORT = 9095  # alertmanager.yml's receivers
_RUNBOOK = re.compile(r"Runbook: (\S+)")


@dataclasses.dataclass(frozen=True)
class Delivery:
    """One alert in one notification, as the receiver got it."""

    at: float  # time.monotonic()
    receiver: str  # "pager" or "chat"
    alertname: str
    status: str  # firing or resolved
    runbook_url: str


class Receiver:
    """Every delivery so far, in arrival order."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()

    def record(self, path: str, body: dict[str, Any]) -> None:
        at = time.monotonic()
        receiver = path.strip("/") or "?"
        found: list[Delivery] = []
        for alert in body.get("alerts", []):  # the webhook's payload
            labels, notes = alert.get("labels", {}), alert.get("annotations", {})
            found.append(
                Delivery(
                    at, receiver, labels.get("alertname", ""), alert.get("status", ""), notes.get("runbook_url", "")
                )
            )
        if not found and "text" in body:  # the Slack-style post: title names the alert, text holds the links
            name = (
                str(body.get("attachments", [{}])[0].get("title", "")).split(" on ")[0] if "attachments" in body else ""
            )
            found += [Delivery(at, receiver, name, "firing", url) for url in _RUNBOOK.findall(str(body["text"]))]
        with self._lock:
            self.deliveries += found

    def first(self, alertname: str, since: float) -> Delivery | None:
        """The first firing delivery of ``alertname`` after ``since`` (time.monotonic())."""
        with self._lock:
            return next(
                (d for d in self.deliveries if d.alertname == alertname and d.status == "firing" and d.at >= since),
                None,
            )


@contextlib.contextmanager
def receiving() -> Iterator[Receiver]:
    """Both receivers listening on 127.0.0.1:9095 while the body runs."""
    receiver = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                body = {"text": ""}
            receiver.record(self.path, body if isinstance(body, dict) else {})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            """Quiet: the deliveries are the record."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", RECEIVER_PORT), Handler)
    thread = threading.Thread(target=server.serve_forever, name="alert-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def scraped(query: str) -> float:
    """The value of an instant PromQL ``query`` on the host's Prometheus (0 when it has none)."""
    response = httpx.get(f"{PROMETHEUS}/api/v1/query", params={"query": query}, timeout=5)
    response.raise_for_status()
    result = response.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def active_alerts() -> list[dict[str, Any]]:
    """Prometheus's pending and firing alerts, each with its labels, state and annotations."""
    response = httpx.get(f"{PROMETHEUS}/api/v1/alerts", timeout=5)
    response.raise_for_status()
    return list(response.json()["data"]["alerts"])
