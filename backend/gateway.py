"""The outermost ASGI layer: request ids, body limit, admission control and load shedding, metrics; and ``/ws``.

Admission control: past ``BACKEND_MAX_IN_FLIGHT`` requests in progress, or while the event loop
runs late (``backend.loop_lag``, by a share that follows how late), the next API request is refused
with 503 and ``Retry-After`` before it costs anything, so overload turns into fast refusals instead
of a queue in which every client waits (the probes are never refused).

A plain ASGI middleware rather than Starlette's ``BaseHTTPMiddleware``: it adds no task per
request and sees every response, including the ones it produces itself.

``/ws`` is served from here, not through FastAPI: a socket lives for hours, and every layer of
the framework's stack (routing, exception middlewares, exit stacks) keeps its frames alive for
that long. Measured with tracemalloc on 5,000 idle sockets, those layers were several KiB each.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from backend import ws
from backend.errors import ApiError, error_response
from backend.http_guard import BUSY_DETAIL
from backend.state import Backend

__all__ = ["Gateway"]

# Probes must keep answering while shedding, and a drill must be able to lift its own fault.
UNSHED_PATHS = frozenset({"/health", "/ready", "/metrics"})
UNSHED_PREFIX = "/_faults"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_ids = random.Random()  # request ids need to be unique, not secret; uuid4's urandom call cost 3 % under wrk


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            if _SAFE_ID.match(text):
                return text
    return f"{_ids.getrandbits(128):032x}"


class Gateway:
    """Wraps the app; ``backend`` supplies settings, metrics, the memory guard and faults."""

    def __init__(self, app: ASGIApp, backend: Backend) -> None:
        self.app = app
        self.backend = backend
        # prometheus_client's labels() takes a lock and builds a key on every call; routes,
        # methods and statuses are few, so each labelled child is looked up once and kept.
        self._counted: dict[tuple[str, str, int], Any] = {}
        self._timed: dict[tuple[str, str], Any] = {}
        # A plain count read at scrape time instead of a locked gauge update twice per request.
        self.in_flight = 0
        self._shed = {
            reason: backend.metrics.http_shed.labels(reason) for reason in ("memory", "in_flight", "loop_lag")
        }
        backend.metrics.http_in_flight.set_function(lambda: self.in_flight)

    def shed_early(self, target: bytes, method: bytes) -> bool:
        """Whether the connection (``backend.http_guard``) should refuse this request as busy now,
        before it reaches the app: admission by queue time. Asked for every request, so the shedder
        decides first and the request line is decoded only for a refusal. Counted as the gateway
        counts its own refusals (a shed, and a 503 of no route)."""
        if not self.backend.lag_shedder.shed():
            return False
        path = target.split(b"?", 1)[0].decode("latin-1")
        if path in UNSHED_PATHS or path.startswith(UNSHED_PREFIX):
            return False
        self._shed["loop_lag"].inc()
        self._count("unmatched", method.decode("latin-1"), 503)
        return True

    def _count(self, label: str, method: str, status: int) -> None:
        counted = self._counted.get((label, method, status))
        if counted is None:
            counted = self._counted[label, method, status] = self.backend.metrics.http_requests.labels(
                label, method, str(status)
            )
        counted.inc()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == "/ws":
            await ws.endpoint(WebSocket(scope, receive, send), self.backend)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status = 500
        header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        metrics = self.backend.metrics
        self.in_flight += 1
        try:
            rejection = self._reject(scope, rid)
            if rejection is not None:
                await rejection(scope, receive, send_with_id)
                return
            injected = self.backend.faults
            if injected.latency_seconds and scope["path"].startswith("/api/"):
                async with injected.buffers.lent():
                    await asyncio.sleep(injected.latency_seconds)
            if injected.error_ratio and scope["path"].startswith("/api/") and _ids.random() < injected.error_ratio:
                await error_response(500, "injected", "error injected by a drill (/_faults/errors)", rid)(
                    scope, receive, send_with_id
                )
                return
            await self.app(scope, self._limited(receive), send_with_id)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or ("/ws" if scope["path"] == "/ws" else "unmatched")
            method = scope["method"]
            self.in_flight -= 1
            self._count(label, method, status)
            timed = self._timed.get((label, method))
            if timed is None:
                timed = self._timed[label, method] = metrics.http_duration.labels(label, method)
            timed.observe(time.perf_counter() - started)

    def _reject(self, scope: Scope, rid: str):  # type: ignore[no-untyped-def]  # an ASGI callable; Starlette's own types are no narrower
        """A ready error response when the request must not reach the app, else None."""
        backend = self.backend
        path = scope["path"]
        unshed = path in UNSHED_PATHS or path.startswith(UNSHED_PREFIX)
        if backend.guard.shedding and not unshed:
            backend.metrics.memory_sheds.inc()
            self._shed["memory"].inc()
            retry = str(backend.guard.retry_after_seconds)
            return error_response(
                503,
                "overloaded",
                "memory above the watermark; shedding new work, retry later",
                rid,
                {"Retry-After": retry},
            )
        limit = backend.settings.max_in_flight
        if limit and self.in_flight > limit and not unshed:  # this request is counted already
            self._shed["in_flight"].inc()
            return error_response(
                503,
                "busy",
                f"{limit} requests already in progress (BACKEND_MAX_IN_FLIGHT); retry shortly",
                rid,
                {"Retry-After": "1"},
            )
        if not unshed and backend.lag_shedder.shed():
            self._shed["loop_lag"].inc()
            return error_response(503, "busy", BUSY_DETAIL, rid, {"Retry-After": "1"})
        if path == "/ws":  # a WebSocket handshake that lost its Upgrade header on the way
            return error_response(
                426,
                "upgrade_required",
                "/ws is a WebSocket endpoint: the request needs Connection: Upgrade and Upgrade: "
                "websocket (a proxy in front may be dropping them)",
                rid,
                {"Upgrade": "websocket"},
            )
        body_limit = backend.settings.max_body_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    return error_response(400, "bad_request", "Content-Length is not a number", rid)
                if length > body_limit:
                    return error_response(
                        413, "payload_too_large", f"body of {length} bytes exceeds the {body_limit}-byte limit", rid
                    )
        return None

    def _limited(self, receive: Receive) -> Receive:
        """Count streamed (chunked) body bytes too; past the limit the route gets a 413."""
        limit = self.backend.settings.max_body_bytes
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise ApiError(413, "payload_too_large", f"body exceeds the {limit}-byte limit")
            return message

        return limited_receive
