"""Hostile clients, each against a real server while an honest client keeps using it: the hostile
one gets a documented limit and answer, the honest one keeps its normal latency.

A client that stops reading under a flood is ``test_ws.test_slow_consumer_is_dropped_and_server_memory_
stays_bounded`` (its memory bounded by the send queue, then 1008); one that never reads at all, under
a steady stream of broadcasts with the default settings, is the last test here."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import statistics
import struct
import threading
import time
from collections.abc import Callable

import httpx
import psutil
import pytest

from scripts.live import Live, wait_for
from tests.support.websocket import close_code, recv_json, ws

pytestmark = pytest.mark.slow

HEADER_TIMEOUT = 3.0


def _latencies(url: str, n: int = 60) -> list[float]:
    """An honest client's GET /api/counters/... round trips, in seconds."""
    found = []
    with httpx.Client(base_url=url, timeout=10) as client:
        client.post("/api/counters/honest/increment").raise_for_status()
        for _ in range(n):
            started = time.perf_counter()
            client.get("/api/counters/honest").raise_for_status()
            found.append(time.perf_counter() - started)
    return found


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def _normal(baseline: list[float], under: list[float]) -> bool:
    """Within its normal latency: p95 at most three times the baseline's, or under 20 ms."""
    return _p95(under) <= max(3 * _p95(baseline), 0.02)


def test_idle_and_slow_header_connections_are_closed_and_others_served(start_backend) -> None:
    """Assert 2,000 connections that send nothing and 300 that trickle a header line every 0.5 s are
    each answered 408 and closed after the header timeout, counted, while an honest client keeps
    its normal latency; the server's open files return to where they were."""
    backend = start_backend(http_header_timeout=HEADER_TIMEOUT)
    server = psutil.Process(backend.server_pid())
    fds_before = server.num_fds()
    baseline = _latencies(backend.url)
    answers: dict[str, list[bytes]] = {"idle": [], "slow": []}

    async def hostile() -> None:
        async def idle() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", backend.port)
            answers["idle"].append(await reader.read(200))
            writer.close()

        async def slow() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", backend.port)
            writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            read = asyncio.ensure_future(reader.read(200))
            for n in range(int(4 * HEADER_TIMEOUT)):
                if read.done():
                    break
                writer.write(b"X-Slow-%d: 1\r\n" % n)
                await asyncio.sleep(0.5)
            answers["slow"].append(await asyncio.wait_for(read, 5))
            writer.close()

        await asyncio.gather(*(idle() for _ in range(2000)), *(slow() for _ in range(300)))

    loop = threading.Thread(target=asyncio.run, args=(hostile(),))
    loop.start()
    wait_for(lambda: server.num_fds() >= fds_before + 2000, 20, "the hostile connections to be open")
    under = _latencies(backend.url)
    loop.join(4 * HEADER_TIMEOUT + 20)
    assert not loop.is_alive()
    assert _normal(baseline, under), f"p95 {_p95(under) * 1000:.1f} ms under attack, {_p95(baseline) * 1000:.1f} before"
    for kind, expected in (("idle", 2000), ("slow", 300)):
        assert len(answers[kind]) == expected
        assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers[kind]), {a[:30] for a in answers[kind]}
    assert backend.metric("backend_http_connections_refused_total", reason="header_timeout") == 2300
    wait_for(lambda: server.num_fds() <= fds_before + 5, 15, "the server's open files to come back")


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET /" + b"a" * (1 << 20) + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"414"),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n", b"431"),
        (b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Many: 1\r\n" * 5000 + b"\r\n", b"431"),
    ],
    ids=["1 MiB path", "1 MiB header", "5,000 headers"],
)
def test_an_oversized_request_head_is_refused(shared_backend: Live, head: bytes, status: bytes) -> None:
    """Assert a request head over BACKEND_MAX_HEADER_BYTES gets 414 (path) or 431 (headers) with the
    error envelope and the connection closed, and the server answers the next client."""
    with socket.create_connection(("127.0.0.1", shared_backend.port), timeout=10) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # it may close before reading it all
            sock.sendall(head)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 " + status + b" "), answer[:80]
    assert b'"error":' in answer and b"over 16384 bytes" in answer
    assert httpx.get(f"{shared_backend.url}/health", timeout=5).status_code == 200


def test_a_ping_flood_from_one_client_does_not_slow_the_others(shared_backend: Live) -> None:
    """Assert a client sending 20,000 pings as fast as it can is closed with 1008 (over
    BACKEND_WS_MAX_MESSAGES_PER_SECOND) while another client's ping round trip keeps its normal latency."""

    def rtts(conn: object, n: int = 50) -> list[float]:
        found = []
        for k in range(n):
            started = time.perf_counter()
            conn.send(f'{{"type":"ping","n":{k}}}')
            assert recv_json(conn)["type"] == "pong"
            found.append(time.perf_counter() - started)
        return found

    with ws(shared_backend) as honest, ws(shared_backend, max_queue=1, ping_interval=None) as flooder:
        recv_json(honest)
        baseline = rtts(honest)
        stop = threading.Event()

        def flood() -> None:
            for k in range(20_000):
                if stop.is_set():
                    return
                try:
                    flooder.send(f'{{"type":"ping","n":{k}}}')
                except Exception:
                    return

        thread = threading.Thread(target=flood)
        thread.start()
        under = rtts(honest)
        thread.join(60)
        stop.set()
        code, reason = close_code(flooder, timeout=30)
        assert code == 1008 and "messages per second" in reason, (code, reason)
    assert _normal(baseline, under), (
        f"p95 {_p95(under) * 1000:.1f} ms under the flood, {_p95(baseline) * 1000:.1f} before"
    )


def _raw_socket(backend: Live) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", backend.port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _frame(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


def _frames(sock: socket.socket, until: Callable[[int, bytes], bool]) -> tuple[int, bytes]:
    """Read server frames (unmasked, short) until ``until(opcode, payload)``."""
    while True:
        first, size = sock.recv(2)
        size &= 0x7F
        if size == 126:
            size = struct.unpack("!H", sock.recv(2))[0]
        payload = b""
        while len(payload) < size:
            payload += sock.recv(size - len(payload))
        if until(first & 0x0F, payload):
            return first & 0x0F, payload


def test_malformed_frames_get_their_answers(shared_backend: Live) -> None:
    """Assert invalid JSON gets an error message on a socket that stays open, and a text frame of
    invalid UTF-8 closes the socket with 1007; the server keeps answering."""
    with _raw_socket(shared_backend) as sock:
        _frames(sock, lambda op, p: b'"hello"' in p)
        sock.sendall(_frame(0x1, b"{not json"))
        _, reply = _frames(sock, lambda op, p: b'"error"' in p)
        sock.sendall(_frame(0x1, b'{"type":"ping","n":1}'))
        _frames(sock, lambda op, p: b'"pong"' in p)  # still open
        sock.sendall(_frame(0x1, b'{"type":"echo","data":"\xff\xfe"}'))
        opcode, payload = _frames(sock, lambda op, p: op == 0x8)
    assert struct.unpack("!H", payload[:2])[0] == 1007, payload
    assert httpx.get(f"{shared_backend.url}/health", timeout=5).status_code == 200


def test_a_client_that_never_reads_is_dropped_then_reset_with_its_memory_bounded(start_backend) -> None:
    """A client that completes the handshake and then never reads a byte (no broadcast, no ping of
    the server's), with the default settings (but a replay buffer of 10: its default 1,000 kept
    broadcasts would be 16 MiB of the growth measured), while 16 KiB broadcasts go out 20 times a
    second: once the kernel's buffers and its send queue are full it is dropped as a slow consumer,
    and since the close frame cannot reach it, the connection is reset when the keepalive's time
    (ping interval + ping timeout) has passed; it was kept open for good before. Meanwhile the
    server's memory grows by less than the send queue's worth plus slack, an honest socket receives
    every broadcast in order and an honest HTTP client keeps its normal latency."""
    backend = start_backend(ws_replay_buffer=10)
    server = psutil.Process(backend.server_pid())
    keepalive = 20.0 + 20.0  # BACKEND_WS_PING_INTERVAL + BACKEND_WS_PING_TIMEOUT, their defaults
    queue_bytes = 256 * 16 * 1024  # BACKEND_WS_SEND_QUEUE (default) messages of 16 KiB
    baseline = _latencies(backend.url)
    rss_before = server.memory_info().rss
    published: list[int] = []
    received: list[int] = []
    rss_max = rss_before
    stop = threading.Event()

    def publish() -> None:
        nonlocal rss_max
        with httpx.Client(base_url=backend.url, timeout=10) as client:
            while not stop.wait(0.05):
                answer = client.post("/api/broadcast", json={"message": "x" * 16 * 1024})
                answer.raise_for_status()
                published.append(answer.json()["seq"])
                rss_max = max(rss_max, server.memory_info().rss)

    def listen() -> None:
        with contextlib.suppress(TimeoutError):
            while not stop.is_set() or len(received) < len(published):
                received.append(recv_json(honest, timeout=5)["seq"])

    def connected(port: int) -> bool:
        return any(c.raddr and c.raddr.port == port for c in server.net_connections("tcp"))

    with ws(backend) as honest, _raw_socket(backend) as never_reads:
        recv_json(honest)  # the hello
        port = never_reads.getsockname()[1]
        workers = [threading.Thread(target=publish), threading.Thread(target=listen)]
        started = time.monotonic()
        for worker in workers:
            worker.start()
        try:
            wait_for(
                lambda: backend.metric("backend_ws_slow_consumers_dropped_total") == 1,
                90,
                "the client that never reads to be dropped as a slow consumer",
            )
            dropped_after = time.monotonic() - started
            under = _latencies(backend.url)
            assert connected(port), "dropped at once: the close frame should have been given its time"
            wait_for(lambda: not connected(port), keepalive + 10, "the dropped client's connection to be reset")
            reset_after = time.monotonic() - started
        finally:
            stop.set()
            for worker in workers:
                worker.join(15)
        with pytest.raises(ConnectionResetError):  # what it had not read, then the reset
            while never_reads.recv(1 << 20):
                pass
    assert keepalive - 1 <= reset_after - dropped_after <= keepalive + 10, (dropped_after, reset_after)
    assert backend.metric("backend_ws_connections_closed_total", code="1008", side="server") == 1
    assert rss_max - rss_before < queue_bytes + 20 * 2**20, f"RSS grew {(rss_max - rss_before) / 2**20:.1f} MiB"
    assert received == published and len(published) >= 10 * reset_after, (len(received), len(published))
    assert _normal(baseline, under), f"p95 {_p95(under) * 1000:.1f} ms meanwhile, {_p95(baseline) * 1000:.1f} before"
