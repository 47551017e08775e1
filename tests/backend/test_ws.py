"""Integration tests of the WebSocket hub with real clients (python-websockets) on loopback."""

from __future__ import annotations

import contextlib
import json
import socket
from typing import Any

import httpx
import psutil
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from scripts.live import Live, wait_for
from tests.support.websocket import close_code, recv_json, ws


def broadcast(backend: Live, message: object) -> dict[str, Any]:
    response = httpx.post(f"{backend.url}/api/broadcast", json={"message": message}, timeout=10.0)
    response.raise_for_status()
    return dict(response.json())


def test_hello_ping_echo_and_broadcast(shared_backend: Live) -> None:
    """Assert the hello frame, ping→pong, echo, an error reply, and a broadcast reach the client."""
    with ws(shared_backend) as conn:
        hello = recv_json(conn)
        assert hello["type"] == "hello"
        conn.send(json.dumps({"type": "ping", "id": 7}))
        assert recv_json(conn) == {"type": "pong", "id": 7}
        conn.send(json.dumps({"type": "echo", "data": [1, "x"]}))
        assert recv_json(conn) == {"type": "echo", "data": [1, "x"]}
        conn.send("not json")
        assert recv_json(conn)["type"] == "error"
        sent = broadcast(shared_backend, {"alert": "hi"})
        assert sent["seq"] == hello["seq"] + 1 and sent["delivered"] >= 1
        assert recv_json(conn) == {"type": "message", "seq": sent["seq"], "data": {"alert": "hi"}}


@pytest.mark.ws_limits
@pytest.mark.memory_bounded
def test_capacity_plus_one_is_closed_with_1013_and_registry_returns_to_zero(start_backend) -> None:
    """Assert connection capacity+1 gets 1013, the gauge tracks clients, and reaches zero when they leave."""
    backend = start_backend(ws_max_connections=3)
    with contextlib.ExitStack() as stack:
        for _ in range(3):
            recv_json(stack.enter_context(ws(backend)))
        wait_for(lambda: backend.metric("backend_ws_connections_active") == 3, 5, "3 active connections")
        with ws(backend) as extra:
            assert close_code(extra)[0] == 1013
        assert backend.metric("backend_ws_connections_rejected_total") == 1
    wait_for(lambda: backend.metric("backend_ws_connections_active") == 0, 5, "registry back to zero")
    with ws(backend) as again:
        assert recv_json(again)["type"] == "hello"


@pytest.mark.ws_limits
def test_oversized_message_is_closed_with_1009(start_backend) -> None:
    """Assert a client message over BACKEND_WS_MAX_MESSAGE_BYTES closes the socket with 1009."""
    backend = start_backend(ws_max_message_bytes=1024)
    with ws(backend) as conn:
        recv_json(conn)
        conn.send(json.dumps({"type": "echo", "data": "x" * 2000}))
        assert close_code(conn)[0] == 1009


@pytest.mark.ws_limits
@pytest.mark.error_boundaries
def test_binary_frame_is_closed_with_1003(shared_backend: Live) -> None:
    """Assert a binary frame gets close code 1003 with a reason that says what to send."""
    with ws(shared_backend) as conn:
        recv_json(conn)
        conn.send(b"\x00\x01")
        code, reason = close_code(conn)
    assert code == 1003 and "JSON text" in reason


@pytest.mark.ws_limits
@pytest.mark.error_boundaries
def test_bad_since_is_refused_with_1008(shared_backend: Live) -> None:
    """Assert a non-numeric since parameter is refused with a clear reason."""
    with ws(shared_backend, "?since=abc") as conn:
        code, reason = close_code(conn)
    assert code == 1008 and "since" in reason


@pytest.mark.ws_limits
@pytest.mark.memory_bounded
def test_idle_client_is_closed(start_backend) -> None:
    """Assert a client that sends nothing for the idle timeout is closed with 1000 'idle timeout'."""
    backend = start_backend(ws_idle_timeout=0.5)
    with ws(backend) as conn:
        recv_json(conn)
        assert close_code(conn) == (1000, "idle timeout")


@pytest.mark.ws_limits
def test_reconnect_with_since_replays_missed_messages_and_gap(start_backend) -> None:
    """Assert since=N replays every later message still buffered, and announces what fell out."""
    backend = start_backend(ws_replay_buffer=5)
    with ws(backend) as conn:
        last_seen = recv_json(conn)["seq"]
    seqs = [broadcast(backend, n)["seq"] for n in range(3)]
    with ws(backend, f"?since={last_seen}") as conn:
        assert recv_json(conn)["type"] == "hello"
        assert [recv_json(conn)["seq"] for _ in seqs] == seqs
    more = [broadcast(backend, n)["seq"] for n in range(6)]  # buffer keeps only the last 5
    with ws(backend, f"?since={seqs[-1]}") as conn:
        recv_json(conn)
        gap = recv_json(conn)
        assert gap == {"type": "gap", "since": seqs[-1], "missed_from": more[0], "missed_to": more[0]}
        assert [recv_json(conn)["seq"] for _ in range(5)] == more[1:]


@pytest.mark.ws_limits
@pytest.mark.memory_bounded
def test_slow_consumer_is_dropped_and_server_memory_stays_bounded(start_backend) -> None:
    """Assert a client that stops reading is dropped and counted while 50 MB is broadcast past it."""
    backend = start_backend(ws_send_queue=8, ws_replay_buffer=4, max_body_bytes=2 * 1024 * 1024)
    # max_queue=1: the client library stops reading the socket as soon as one message waits.
    with ws(backend, max_queue=1, ping_interval=None) as slow:
        _flood_past(backend, slow)


def _flood_past(backend: Live, slow: ClientConnection) -> None:
    server = psutil.Process(backend.server_pid())
    payload = "x" * (100 * 1024)
    broadcast(backend, "warm-up")
    rss_before = server.memory_info().rss
    dropped = 0
    with httpx.Client(base_url=backend.url, timeout=10.0) as client:
        for _ in range(500):
            dropped += client.post("/api/broadcast", json={"message": payload}).json()["dropped"]
    rss_growth = server.memory_info().rss - rss_before
    assert dropped == 1
    assert backend.metric("backend_ws_slow_consumers_dropped_total") == 1
    assert backend.metric("backend_ws_connections_active") == 0
    assert rss_growth < 25 * 1024 * 1024, f"server RSS grew {rss_growth / 2**20:.1f} MiB for 50 MB offered"
    assert close_code(slow, timeout=30)[0] == 1008


def test_opens_and_closes_are_counted_by_code_and_side(start_backend) -> None:
    """Assert every accepted socket is counted once opened and once closed, with the close code and the
    side that closed first: a client's normal close, and the server's cut (1012)."""
    backend = start_backend()
    with connect(backend.ws_url, compression=None, proxy=None) as ws:
        ws.recv(timeout=5)
    with connect(backend.ws_url, compression=None, proxy=None) as cut:
        cut.recv(timeout=5)
        backend.fault("ws-drop")
        with pytest.raises(ConnectionClosed):
            cut.recv(timeout=5)
    wait_for(lambda: backend.metric("backend_ws_connections_closed_total") == 2, 5, "both closes counted")
    assert backend.metric("backend_ws_connections_opened_total") == 2
    assert backend.metric("backend_ws_connections_closed_total", code="1000", side="client") == 1
    assert backend.metric("backend_ws_connections_closed_total", code="1012", side="server") == 1


def test_a_handshake_without_its_upgrade_header_gets_426_and_is_counted(shared_backend: Live) -> None:
    """Assert a plain GET of /ws (a proxy dropped Upgrade) is answered 426 with the error envelope and
    `Upgrade: websocket`, counted under route /ws, and a proper handshake still works."""
    before = shared_backend.metric("backend_http_requests_total", route="/ws", status="426")
    answer = httpx.get(f"{shared_backend.url}/ws", headers={"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert answer.status_code == 426 and answer.headers["upgrade"] == "websocket"
    assert answer.json()["error"] == "upgrade_required" and "Upgrade" in answer.json()["detail"]
    assert shared_backend.metric("backend_http_requests_total", route="/ws", status="426") == before + 1
    with ws(shared_backend) as conn:
        assert json.loads(conn.recv(timeout=5))["type"] == "hello"


def _silent_peer(backend: Live) -> socket.socket:
    """A WebSocket client that completes its handshake, then never reads or answers again: what the
    server sees of a client behind a cut network path (its pings go unanswered)."""
    sock = socket.create_connection(("127.0.0.1", backend.port), timeout=5)
    sock.sendall(
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 101"), answer[:80]
    return sock


def test_a_peer_that_stops_answering_pings_is_counted_as_the_servers_keepalive_close(start_backend) -> None:
    """Assert a socket the server's keepalive gave up on (no pong within the ping timeout) is counted
    1011 by the server, not as a client's close: uvicorn reports it as 1005, and so the partition's
    page was never named on a real host. A client's close frame without a code stays 1005 by client."""
    backend = start_backend(ws_ping_interval=0.5, ws_ping_timeout=0.5)
    with contextlib.closing(_silent_peer(backend)):
        wait_for(
            lambda: backend.metric("backend_ws_connections_closed_total") >= 1, 10, "the silent peer's socket closed"
        )
    assert backend.metric("backend_ws_connections_closed_total", code="1011", side="server") == 1
    with contextlib.closing(_silent_peer(backend)) as polite:
        polite.sendall(b"\x88\x80" + bytes(4))  # a masked close frame with no status code
        wait_for(lambda: backend.metric("backend_ws_connections_closed_total") >= 2, 10, "the polite close counted")
    assert backend.metric("backend_ws_connections_closed_total", code="1005", side="client") == 1
