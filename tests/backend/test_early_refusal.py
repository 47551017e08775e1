"""The cheap refusal on the connection (backend/http_guard.py), on a real uvicorn server: a refused
request is answered 503 busy with Retry-After, its body is read and dropped, the connection stays
usable, and answers keep their order when requests are pipelined."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator

import pytest
import uvicorn

from backend.http_guard import guarded_protocol
from scripts import live


async def _app(scope, receive, send) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = b"served " + scope["path"].encode() + b" " + body
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(answer)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": answer})


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    """uvicorn with the guarded protocol; every path under /refuse is refused early."""
    port = live.free_port()
    refused: list[bytes] = []
    protocol = guarded_protocol(
        10,
        16 * 1024,
        lambda reason: None,
        lambda target, method: target.startswith(b"/refuse") and not refused.append(target),
    )
    config = uvicorn.Config(_app, host="127.0.0.1", port=port, http=protocol, log_level="warning", lifespan="off")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(instance.serve()), daemon=True)
    thread.start()
    live.wait_for(lambda: instance.started, 10, "the uvicorn server")
    yield port
    instance.should_exit = True
    thread.join(10)


Answer = tuple[int, dict[str, str], bytes]


def _read(sock: socket.socket, pending: bytearray, count: int) -> list[Answer]:
    """``count`` answers (status, headers, body) from ``sock``; what is read beyond stays in ``pending``."""
    found: list[Answer] = []
    while len(found) < count:
        while b"\r\n\r\n" in pending:
            head, rest = bytes(pending).split(b"\r\n\r\n", 1)
            lines = head.decode().split("\r\n")
            headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
            length = int(headers["content-length"])
            if len(rest) < length:
                break
            found.append((int(lines[0].split()[1]), headers, rest[:length]))
            pending[:] = rest[length:]
            if len(found) == count:
                return found
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {len(found)} answers"
        pending += chunk
    return found


def _exchange(port: int, *batches: bytes) -> list[Answer]:
    """On one keep-alive connection: send each batch of requests, read as many answers as it holds."""
    answers: list[Answer] = []
    pending = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for batch in batches:
            sock.sendall(batch)
            answers += _read(sock, pending, batch.count(b" HTTP/1.1\r\n"))
    return answers


def _request(method: str, path: str, body: bytes = b"") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: t\r\ncontent-length: {len(body)}\r\n\r\n".encode() + body


def test_a_refused_request_gets_busy_and_the_connection_serves_the_next(server: int) -> None:
    body = json.dumps({"m": "x" * 5000}).encode()
    (status, headers, answer), (status2, _, answer2) = _exchange(
        server, _request("POST", "/refuse/items", body), _request("GET", "/ok")
    )
    assert status == 503 and headers["retry-after"] == "1" and "connection" not in headers
    assert json.loads(answer) == {"error": "busy", "detail": json.loads(answer)["detail"], "request_id": "-"}
    assert (status2, answer2) == (200, b"served /ok ")


def test_on_one_keep_alive_connection_the_dropped_body_never_becomes_a_request(server: int) -> None:
    """A refused POST's body is read and dropped; the next request on the connection is parsed clean."""
    body = b'{"x": "GET /smuggled HTTP/1.0"}'
    found = _exchange(server, _request("POST", "/refuse/a", body), _request("POST", "/ok", b"after"))
    assert [status for status, _, _ in found] == [503, 200]
    assert found[1][2] == b"served /ok after"


def test_pipelined_requests_are_answered_in_order(server: int) -> None:
    """A request pipelined behind one in progress is never answered early: it goes the normal way
    (to the app, where the gateway makes the same decision). All three heads arrive in one segment
    and are parsed before /first is answered, so /refuse/second always finds /first in progress."""
    found = _exchange(server, _request("GET", "/first") + _request("GET", "/refuse/second") + _request("GET", "/third"))
    assert [body for _, _, body in found] == [b"served /first ", b"served /refuse/second ", b"served /third "]
