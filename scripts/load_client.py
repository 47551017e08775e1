"""A lean HTTP/1.1 keep-alive client for load generation: prebuilt request bytes out, status and
body back, parsed by httptools (the C parser uvicorn uses).

Why not aiohttp: the overload drill must offer three times what the server can serve, from one
core. aiohttp spends most of that core on its own request and response objects and could not send
the offered rate, so the drill measured the generator. This client does one thing: one request at
a time per connection, the answer's status and body.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httptools

__all__ = ["Connection", "ConnectionLost", "request_bytes"]


class ConnectionLost(ConnectionError):
    """The server closed the connection or reset it before the answer was complete."""


def request_bytes(method: str, path: str, host: str, body: Any = None) -> bytes:
    """The whole request, to be written as it is."""
    payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\ncontent-length: {len(payload)}\r\n"
    if body is not None:
        head += "content-type: application/json\r\n"
    return head.encode() + b"\r\n" + payload


class Connection(asyncio.Protocol):
    """One keep-alive connection; ``await request(raw)`` returns (status, body)."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiting: asyncio.Future[tuple[int, bytes]] | None = None
        self._body: list[bytes] = []

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        _, protocol = await asyncio.get_running_loop().create_connection(cls, host, port)
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # asyncio gives BaseTransport; a TCP connection's is a Transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._waiting is not None and not self._waiting.done():
            self._waiting.set_exception(ConnectionLost(str(exc or "closed by the server")))

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self._waiting is not None and not self._waiting.done():
                self._waiting.set_exception(ConnectionLost(f"unparseable answer: {exc}"))
            if self._transport is not None:
                self._transport.close()

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._waiting is not None and not self._waiting.done():
            self._waiting.set_result((self._parser.get_status_code(), b"".join(self._body)))
        self._body = []

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self._transport is None:
            raise ConnectionLost("not connected")
        self._waiting = asyncio.get_running_loop().create_future()
        self._transport.write(raw)
        return await self._waiting

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
