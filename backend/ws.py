"""The ``/ws`` socket adapter: moves frames between a client and its :class:`backend.hub.Connection`.

One reader (this endpoint) and one writer (a pump task) per socket. Only the pump writes, so
ordering is the queue's order. Close codes a client can see:

* 1013 the hub is at capacity; 1009 a client message over the size limit (uvicorn's parser);
* 1008 ``slow consumer`` (send queue full), a bad ``since``, or more messages per second than allowed;
  1003 a binary frame; 1007 a text frame that is not UTF-8 (the protocol layer);
* 1000 ``idle timeout``; 1001 ``server shutting down`` (drain on SIGTERM).

Client messages are JSON text: ``{"type": "ping", ...}`` → ``{"type": "pong", ...}`` with the same
fields, ``{"type": "echo", "data": X}`` → ``{"type": "echo", "data": X}``; anything else gets an
``{"type": "error", "detail": ...}`` reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import time

from starlette.websockets import WebSocket, WebSocketDisconnect

from backend.hub import Connection, HubFull, SlowConsumer
from backend.state import Backend, Session

__all__ = ["close_all", "drop_slow", "endpoint"]

CLOSE_TIMEOUT = 2.0
STANDARD_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})


async def _close(session: Session, code: int, reason: str, timeout: float = CLOSE_TIMEOUT) -> None:
    """Stop the writer, then send the close frame, waiting at most ``timeout`` for buffer space;
    past it, reset the connection.

    The close frame queues behind what the peer has not read yet, so a client that resumes
    reading still gets every frame in order and then the close code. One that never reads again
    would keep the socket open for good: neither the close nor the keepalive's ping can be written
    to it, and a graceful close waits for the peer to read what is queued (a client that never
    read was still connected 120 s after being dropped, with 3.9 MB in the kernel's send buffer).
    """
    session.pump.cancel()
    session.closed(code, "server")
    try:
        await asyncio.wait_for(session.websocket.close(code, reason), timeout)
    except TimeoutError:
        _reset(session.websocket)
    except (RuntimeError, OSError, WebSocketDisconnect):
        pass  # the peer is gone already


def _reset(websocket: WebSocket) -> None:
    """Reset the TCP connection under ``websocket`` (linger 0, then abort: an RST, not a FIN the
    kernel would keep retrying behind the unread data): the fd and the kernel's buffers are freed at
    once and the reader sees the disconnect. The ASGI interface has no abort, so the transport is
    taken from uvicorn's protocol object, whose method is the app's ``send``."""
    protocol = getattr(websocket._send, "__self__", None)
    transport = getattr(protocol, "transport", None)
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def close_all(backend: Backend, code: int, reason: str) -> None:
    """Close every live socket with ``code`` (the drain on shutdown uses 1001)."""
    sessions = list(backend.ws_sessions.values())
    await asyncio.gather(*(_close(s, code, reason) for s in sessions))


async def _pump(conn: Connection, websocket: WebSocket, backend: Backend) -> None:
    with contextlib.suppress(SlowConsumer, WebSocketDisconnect, OSError, RuntimeError):
        while True:
            frame = await conn.get()
            await websocket.send_text(frame)
            backend.metrics.ws_sent.inc()


def _code_label(code: int) -> str:
    """A close code as a metric label; a client may send any code 3000-4999, so those are one series."""
    return str(code) if code in STANDARD_CLOSE_CODES else "other"


def _reply(text: str) -> str:
    try:
        message = json.loads(text)
    except ValueError as exc:
        return json.dumps({"type": "error", "detail": f"message is not valid JSON: {exc}"})
    kind = message.get("type") if isinstance(message, dict) else None
    if kind == "ping":
        return json.dumps({**message, "type": "pong"})
    if kind == "echo":
        return json.dumps({"type": "echo", "data": message.get("data")})
    return json.dumps({"type": "error", "detail": 'expected {"type": "ping"} or {"type": "echo", "data": ...}'})


def _ended(websocket: WebSocket, code: int) -> tuple[int, str]:
    """The close code of a socket the ASGI server says is gone, and which side ended it.

    uvicorn says 1005 both for a client's close frame without a code and for a connection its own
    keepalive gave up on (no pong within ``BACKEND_WS_PING_TIMEOUT``: the path is cut, the peer is
    gone). Counted as the client's, a network partition reads as clients leaving politely and
    ``checks`` sends the on-call to the wrong page. So the server's protocol state is asked (the
    bound ``receive`` uvicorn hands the app belongs to it; its websockets state machine is the object
    itself or its ``conn``): no close frame came, and it sent one itself (1011 for the keepalive)."""
    protocol = getattr(getattr(websocket, "_receive", None), "__self__", None)
    state = getattr(protocol, "conn", protocol)
    if code == 1005 and state is not None and getattr(state, "close_rcvd", True) is None:
        sent = getattr(state, "close_sent", None)
        return (int(sent.code), "server") if sent is not None else (1006, "client")
    return code, "client"


async def _read(conn: Connection, session: Session, idle_timeout: float, per_second: int) -> None:
    websocket = session.websocket
    tokens, last = float(per_second), time.monotonic()  # a token bucket, as two locals: no object per socket
    while True:
        try:
            # asyncio.timeout, not wait_for: wait_for wraps every receive in a task of its own,
            # one more task per idle connection (the memory per connection is a target)
            async with asyncio.timeout(idle_timeout):
                message = await websocket.receive()
        except TimeoutError:
            await _close(session, 1000, "idle timeout")
            return
        if message["type"] == "websocket.disconnect":
            session.closed(*_ended(websocket, int(message.get("code") or 1006)))
            return
        if message.get("text") is None:
            await _close(session, 1003, "binary frames are not supported; send JSON text")
            return
        now = time.monotonic()
        tokens = min(float(per_second), tokens + (now - last) * per_second) - 1
        last = now
        if tokens < 0:
            await _close(session, 1008, f"more than {per_second} messages per second")
            return
        conn.offer(_reply(message["text"]))


async def endpoint(websocket: WebSocket, backend: Backend) -> None:
    """One client, from accept to close. Called by the gateway, not through FastAPI's router."""
    metrics = backend.metrics
    raw_since = websocket.query_params.get("since")
    await websocket.accept()
    if backend.draining:
        await websocket.close(1001, "server shutting down")
        return
    if raw_since is not None and not raw_since.isdigit():
        await websocket.close(1008, "since must be a non-negative integer sequence number")
        return
    try:
        conn = backend.hub.connect(None if raw_since is None else int(raw_since), websocket.query_params.get("epoch"))
    except HubFull as exc:
        metrics.ws_rejected.inc()
        backend.errors.record("websocket", "capacity", f"connection refused with 1013: {exc}")
        await websocket.close(1013, "server at capacity, try again later")
        return
    session = Session(websocket, asyncio.create_task(_pump(conn, websocket, backend)))
    backend.ws_sessions[conn.id] = session
    metrics.ws_opened.inc()
    metrics.ws_active.set(len(backend.hub))
    try:
        await _read(conn, session, backend.settings.ws_idle_timeout, backend.settings.ws_max_messages_per_second)
    except (OSError, RuntimeError, WebSocketDisconnect):
        session.closed(1006, "client")  # the transport broke under the read
        raise
    finally:
        backend.hub.disconnect(conn)
        backend.ws_sessions.pop(conn.id, None)
        session.pump.cancel()
        metrics.ws_closed.labels(_code_label(session.close_code or 1006), session.closed_by or "client").inc()
        metrics.ws_active.set(len(backend.hub))


def drop_slow(backend: Backend, conn: Connection) -> None:
    """Hub callback: count the slow consumer and close its socket in the background."""
    backend.metrics.ws_slow_dropped.inc()
    backend.metrics.ws_active.set(len(backend.hub))
    session = backend.ws_sessions.get(conn.id)
    backend.errors.record("websocket", "slow-consumer", f"connection {conn.id} dropped: its send queue was full")
    if session is not None:
        session.closed(1008, "server")  # now: the peer may hang up before the close below is sent
        # the close waits as long as the keepalive gives a live peer (ping interval + timeout), then resets
        keepalive = backend.settings.ws_ping_interval + backend.settings.ws_ping_timeout
        backend.spawn(_close(session, 1008, "slow consumer", timeout=keepalive))
