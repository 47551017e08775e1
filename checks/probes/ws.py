"""``ws``: connect, ping round trip, broadcast round trip, connections against capacity, slow consumers.

The broadcast probe publishes ``{"checks_probe": NONCE}`` to every connected client: harmless for
clients that ignore unknown messages, which the backend's protocol requires of them.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from checks.context import Context
from checks.result import Result, Status, judge

__all__ = ["check"]


def _until(conn: ClientConnection, deadline: float, match: Any) -> float:
    """Receive until ``match(frame)``; return the time it arrived."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        frame = json.loads(conn.recv(timeout=remaining))
        if match(frame):
            return time.perf_counter()


def check(ctx: Context) -> list[Result]:
    ctx.target.identify()
    snapshot = ctx.latest()
    active = snapshot.sum("backend_ws_connections_active")
    capacity = snapshot.sum("backend_ws_connections_capacity") or 1.0
    results = [judge("ws.capacity", active / capacity, ctx.limits["ws.connections_ratio"],
                     f"{active:.0f} of {capacity:.0f} connections in use")]
    window = ctx.window()
    results.append(judge("ws.slow_consumers", window.rate("backend_ws_slow_consumers_dropped_total"),
                         ctx.limits["ws.slow_consumers_per_second"],
                         f"{window.increase('backend_ws_slow_consumers_dropped_total'):.0f} dropped in "
                         f"{window.seconds:.1f} s"))
    results.extend(_round_trips(ctx))
    return results


def _round_trips(ctx: Context) -> list[Result]:
    limit = ctx.limits["ws.ping_rtt_seconds"]
    url = ctx.target.ws_url
    nonce = uuid.uuid4().hex
    deadline = time.monotonic() + ctx.target.timeout
    try:
        with connect(url, open_timeout=ctx.target.timeout, compression=None, proxy=None,
                     close_timeout=1) as conn:
            _until(conn, deadline, lambda f: f.get("type") == "hello")
            sent = time.perf_counter()
            conn.send(json.dumps({"type": "ping", "nonce": nonce}))
            ping = _until(conn, deadline, lambda f: f.get("type") == "pong" and f.get("nonce") == nonce) - sent
            sent = time.perf_counter()
            ctx.target.request("POST", "/api/broadcast", json={"message": {"checks_probe": nonce}})
            fanout = _until(conn, deadline, lambda f: f.get("type") == "message"
                            and isinstance(f.get("data"), dict) and f["data"].get("checks_probe") == nonce) - sent
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else None
        runbook = ctx.limits["ws.connections_ratio"].runbook if code == 1013 else "websocket-disconnect-storm"
        reason = exc.rcvd.reason if exc.rcvd else "no close frame"
        return [Result("ws.connect", Status.FAIL, f"{url} closed the probe: code {code} {reason}", runbook=runbook)]
    except TimeoutError:
        return [Result("ws.connect", Status.FAIL, f"{url}: no answer within {ctx.target.timeout:g} s",
                       runbook="websocket-disconnect-storm")]
    except (OSError, InvalidHandshake, InvalidURI) as exc:
        return [Result("ws.connect", Status.ERROR, f"cannot open {url}: {exc}", runbook="backend-down")]
    return [
        Result("ws.connect", Status.OK, f"{url} accepted the probe"),
        judge("ws.ping_rtt", ping, limit, "ping -> pong round trip"),
        judge("ws.broadcast_rtt", fanout, limit, "POST /api/broadcast -> message on this socket"),
    ]
