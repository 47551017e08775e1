"""``ws``: connect, ping round trip, broadcast round trip, connections against capacity, handshakes
refused for a missing Upgrade header, abnormal disconnects and slow consumers over the alert's window.

The broadcast probe publishes ``{"checks_probe": NONCE}`` to every connected client: harmless for
clients that ignore unknown messages, which the backend's protocol requires of them.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from checks.context import Context
from checks.errors import TargetError
from checks.host_facts import server_environment
from checks.promql import Labels, Window
from checks.result import Result, Status, judge

__all__ = ["check"]

CLOSED = "backend_ws_connections_closed_total"
REQUESTS = "backend_http_requests_total"
SLOW = "backend_ws_slow_consumers_dropped_total"
REJECTED = "backend_ws_connections_rejected_total"
BUS_LAG = "backend_bus_lag_broadcasts"


def _until(conn: ClientConnection, deadline: float, match: Any) -> float:
    """Receive until ``match(frame)``; return the time it arrived."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        frame = json.loads(conn.recv(timeout=remaining))
        if match(frame):
            return time.perf_counter()


def _capacity_source(ctx: Context, pid: int) -> str:
    """Where the capacity comes from, read from the server's own environment on its host."""
    env = server_environment(pid) if ctx.target.is_local else None
    if env is None:
        return ""
    if "BACKEND_WS_MAX_CONNECTIONS" in env:
        return f" (BACKEND_WS_MAX_CONNECTIONS={env['BACKEND_WS_MAX_CONNECTIONS']} in the server's environment)"
    return " (the default: BACKEND_WS_MAX_CONNECTIONS is not set)"


def check(ctx: Context) -> list[Result]:
    health = ctx.target.identify()
    snapshot = ctx.latest()
    active = snapshot.sum("backend_ws_connections_active")
    capacity = snapshot.sum("backend_ws_connections_capacity") or 1.0
    trips = _round_trips(ctx)  # first: a probe refused at capacity is a refused handshake, and a full hub
    at_capacity = ctx.limits["ws.connections_ratio"].runbook
    probe_refused = any(r.check == "ws.connect" and r.runbook == at_capacity for r in trips)
    # the scrape may be older than the probe: right after a restart the clients were not back yet,
    # and the hub filled between the two; the refused probe is the newer word
    in_use = f"{active:.0f} of {capacity:.0f} connections in use" + (
        " when scraped; full when probed (refused with 1013)" if probe_refused else ""
    )
    results = [
        judge(
            "ws.capacity",
            max(active / capacity, 1.0 if probe_refused else 0.0),
            ctx.limits["ws.connections_ratio"],
            f"{in_use}{_capacity_source(ctx, int(health['pid']))}",
        ),
        _handshakes(ctx, capacity, probe_refused),
    ]
    storm = ctx.limits["ws.disconnects_per_second"]
    window = ctx.window(storm)
    closes = window.increase(CLOSED, _abnormal)
    row = judge(
        "ws.disconnects",
        window.rate(CLOSED, _abnormal),
        storm,
        f"{closes:.0f} sockets ended abnormally {window.over} ({_by_code(window)})"
        if closes
        else f"no abnormal disconnects {window.over}",
    )
    lost = window.increase(CLOSED, _path_lost)
    if row.runbook and lost > closes / 2:  # most peers stopped answering pings: the path, not the hub
        row = dataclasses.replace(
            row,
            runbook="network-partition",
            detail=f"{row.detail}; most were keepalive timeouts or lost connections "
            f"(1011/1006): the path between clients and server is broken",
        )
    results.append(row)
    slow = ctx.limits["ws.slow_consumers_per_second"]
    window = ctx.window(slow)
    results.append(
        judge(
            "ws.slow_consumers",
            window.rate(SLOW),
            slow,
            f"{window.increase(SLOW):.0f} slow consumers dropped {window.over}",
        )
    )
    results.extend(trips)
    return results


def _handshakes(ctx: Context, capacity: float, probe_refused: bool) -> Result:
    """Every handshake the backend refused over the window: without the Upgrade header (426, a proxy
    drops it) and at capacity (1013). Either one means clients are not getting in. The run's own
    probe, refused at capacity, counts even when the scrape was taken before it: right after a
    restart the clients may not have come back yet, and "no handshake refused" would be false."""
    refused = ctx.limits["ws.refused_handshakes_per_second"]
    window = ctx.window(refused)
    no_upgrade = window.increase(REQUESTS, _refused_handshake)
    at_capacity = max(window.increase(REJECTED), float(probe_refused))
    rate = window.rate(REQUESTS, _refused_handshake) + at_capacity / window.seconds
    if not no_upgrade and not at_capacity:
        return judge("ws.handshakes", rate, refused, f"no handshake refused {window.over}")
    if at_capacity >= no_upgrade:
        row = judge(
            "ws.handshakes",
            rate,
            refused,
            f"{at_capacity:.0f} WebSocket connection(s) refused at capacity (1013) {window.over}; "
            f"the capacity is {capacity:.0f}: check BACKEND_WS_MAX_CONNECTIONS (`backend settings`)",
        )
        return dataclasses.replace(row, runbook=ctx.limits["ws.connections_ratio"].runbook) if row.runbook else row
    return judge(
        "ws.handshakes",
        rate,
        refused,
        f"{no_upgrade:.0f} WebSocket handshake(s) arrived without the Upgrade header (426) {window.over}: "
        "a proxy in front drops it",
    )


def _refused_handshake(labels: Labels) -> bool:
    return labels.get("route") == "/ws" and labels.get("status") == "426"


def _path_lost(labels: Labels) -> bool:
    """Peers that stopped answering (keepalive ping timeout) or vanished without a close frame."""
    return labels.get("code") in ("1011", "1006")


def _abnormal(labels: Labels) -> bool:
    """Every end but a normal close (1000) or a going-away (1001: a drain, a closed tab)."""
    return labels.get("code") not in ("1000", "1001")


def _by_code(window: Window) -> str:
    codes = sorted(
        {
            (labels["code"], labels["side"])
            for name, labels, _ in window.after.samples
            if name == CLOSED and _abnormal(labels)
        }
    )

    def closed_as(code: str, side: str) -> Callable[[Labels], bool]:
        return lambda labels: (labels.get("code"), labels.get("side")) == (code, side)

    counts = [(code, side, window.increase(CLOSED, closed_as(code, side))) for code, side in codes]
    return ", ".join(f"{n:.0f} x {code} by {side}" for code, side, n in counts if n)


class _Refused(Exception):
    """The probe's broadcast was refused: the row names the cause, not the WebSocket."""


def _round_trips(ctx: Context) -> list[Result]:
    limit = ctx.limits["ws.ping_rtt_seconds"]
    url = ctx.target.ws_url
    nonce = uuid.uuid4().hex
    deadline = time.monotonic() + ctx.target.timeout
    try:
        with connect(url, open_timeout=ctx.target.timeout, compression=None, proxy=None, close_timeout=1) as conn:
            _until(conn, deadline, lambda f: f.get("type") == "hello")
            sent = time.perf_counter()
            conn.send(json.dumps({"type": "ping", "nonce": nonce}))
            ping = _until(conn, deadline, lambda f: f.get("type") == "pong" and f.get("nonce") == nonce) - sent
            sent = time.perf_counter()
            posted = ctx.target.request("POST", "/api/broadcast", json={"message": {"checks_probe": nonce}})
            if posted.status_code >= 500:
                raise _Refused(posted)
            fanout = (
                _until(
                    conn,
                    deadline,
                    lambda f: (
                        f.get("type") == "message"
                        and isinstance(f.get("data"), dict)
                        and f["data"].get("checks_probe") == nonce
                    ),
                )
                - sent
            )
    except _Refused as refused:
        return [_refused_row(ctx, refused.args[0])]
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else None
        runbook = ctx.limits["ws.connections_ratio"].runbook if code == 1013 else "websocket-disconnect-storm"
        reason = exc.rcvd.reason if exc.rcvd else "no close frame"
        return [Result("ws.connect", Status.FAIL, f"{url} closed the probe: code {code} {reason}", runbook=runbook)]
    except TimeoutError:
        return [_no_answer(ctx, url)]
    except (OSError, InvalidHandshake, InvalidURI) as exc:
        return [Result("ws.connect", Status.ERROR, f"cannot open {url}: {exc}", runbook="backend-down")]
    return [
        Result("ws.connect", Status.OK, f"{url} accepted the probe"),
        judge("ws.ping_rtt", ping, limit, "ping -> pong round trip"),
        judge(
            "ws.broadcast_rtt",
            fanout,
            ctx.limits["ws.broadcast_rtt_seconds"],
            "POST /api/broadcast -> message on this socket",
        ),
    ]


def _no_answer(ctx: Context, url: str) -> Result:
    """The socket or the probe's broadcast never came. On an instance of several whose reader of the
    message bus is behind, the broadcast was numbered but not yet sent: the reader, not the socket."""
    try:
        now = ctx.target.scrape()
    except TargetError:
        now = None
    lag = now.sum(BUS_LAG) if now is not None and now.has(BUS_LAG) else 0.0
    if lag > 0:
        return Result(
            "ws.connect",
            Status.FAIL,
            f"{url}: the probe's broadcast did not come within {ctx.target.timeout:g} s, and this instance is "
            f"{lag:.0f} broadcasts behind the message bus: its reader is stuck or slow",
            runbook=ctx.limits["bus.lag_broadcasts"].runbook,
        )
    return Result(
        "ws.connect",
        Status.FAIL,
        f"{url}: no answer within {ctx.target.timeout:g} s",
        runbook="websocket-disconnect-storm",
    )


def _refused_row(ctx: Context, response: Any) -> Result:
    """A broadcast answered 5xx is a symptom: name the cause (``overloaded``: the memory guard sheds;
    ``busy``: admission control refuses past the in-flight limit; ``bus_unavailable``: the message
    bus of several instances is down)."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = body.get("error", "") if isinstance(body, dict) else ""
    if error == "bus_unavailable":
        return Result(
            "ws.connect",
            Status.FAIL,
            f"socket opened, but the probe's broadcast got {response.status_code} bus_unavailable: the message bus "
            "the instances share is down or unreachable (its Redis: `systemctl status redis-server`); every "
            "broadcast is refused until it is back",
            runbook=ctx.limits["bus.up"].runbook,
        )
    causes = {"overloaded": ctx.limits["memory.shedding"].runbook, "busy": ctx.limits["http.shed_per_second"].runbook}
    cause = causes.get(error, "api-error-rate-high")
    return Result(
        "ws.connect",
        Status.FAIL,
        f"socket opened, but the probe's broadcast got {response.status_code} "
        f"{error or 'an error'}: a symptom of {cause.replace('-', ' ')}, not of the WebSocket hub",
        runbook=cause,
    )
