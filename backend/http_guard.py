"""What uvicorn's HTTP protocol lacks, done on the connection before a request reaches the app.

Two limits against clients that hold connections without sending a request: a request's head
(request line and headers) must arrive whole within ``header_timeout`` seconds of the connection,
or of its first byte after a response; and it may not exceed ``max_header_bytes``. Without them, a
connection that sends nothing, or one header line every few seconds (slowloris), is kept forever,
and a 1 MiB header is accepted. With them, the first is closed with ``408`` and the second answered
``431`` (``414`` when it is the path), each counted in ``backend_http_connections_refused_total{reason}``.

And the cheap refusal: when admission by queue time (``backend.loop_lag``) refuses a request, the
answer is written here, as soon as the head is parsed, from bytes prepared once: no ASGI scope, task
or response object. Past capacity most requests are refused, and a refusal through the whole stack
cost about as much CPU as serving a read, so the refusals alone kept the loop saturated. A request
that arrives while an earlier one on the same connection is still in progress (pipelining) goes
the normal way, so answers never overtake each other; the gateway refuses it there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["BUSY_DETAIL", "guarded_protocol"]

LINGER_SECONDS = 2.0


def _response(status: bytes, message: str, error: str = "", keep_alive: bool = False, extra: bytes = b"") -> bytes:
    error = error or status.split(b" ", 1)[1].decode().lower().replace(" ", "_")
    body = f'{{"error":"{error}","detail":"{message}","request_id":"-"}}'.encode()
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\ncontent-type: application/json\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n"
        + extra
        + (b"" if keep_alive else b"connection: close\r\n")
        + b"\r\n"
        + body
    )


BUSY_DETAIL = "the server is past its capacity (event loop running late, BACKEND_SHED_LOOP_LAG); retry shortly"
_BUSY = _response(b"503 Service Unavailable", BUSY_DETAIL, "busy", keep_alive=True, extra=b"retry-after: 1\r\n")
_BUSY_CLOSE = _response(b"503 Service Unavailable", BUSY_DETAIL, "busy", extra=b"retry-after: 1\r\n")


class _Guarded(HttpToolsProtocol):
    header_timeout: float
    max_header_bytes: int
    refused: Callable[[str], None]
    shed_early: Callable[[bytes, bytes], bool]  # (target, method) as sent -> refuse it now; counts what it refuses

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn's protocol declares BaseTransport; the server always gives a Transport
        super().connection_made(transport)
        self._head_bytes = 0
        self._too_large = ""  # "url" or "headers" once the head is over the limit
        self._head_timer: asyncio.TimerHandle | None = None
        self._answered = False  # the current request was refused here: its body is read and dropped
        self._arm()

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.refused("header_timeout")
            self.transport.write(
                _response(b"408 Request Timeout", f"the request head did not arrive within {self.header_timeout:g} s")
            )
            self.transport.close()

    def _count(self, size: int, part: str) -> None:
        self._head_bytes += size
        if self._head_bytes > self.max_header_bytes and not self._too_large:
            self._too_large = part
            raise ValueError("request head too large")  # httptools stops; uvicorn calls send_400_response

    def send_400_response(self, msg: str) -> None:
        if not self._too_large:
            super().send_400_response(msg)
            return
        self._disarm()
        self.refused("header_too_large")
        status = b"414 URI Too Long" if self._too_large == "url" else b"431 Request Header Fields Too Large"
        self.transport.write(_response(status, f"the request head is over {self.max_header_bytes} bytes"))
        # a lingering close: the client is likely still sending its head; closing now would reset the
        # connection and destroy the answer before it is read, so stop writing, discard, close later
        self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if not self._too_large:  # past the limit, the rest of the head is read and dropped
            super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._answered = False
        self._arm()

    def on_url(self, url: bytes) -> None:
        self._count(len(url), "url")
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4, "headers")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        idle = (self.cycle is None or self.cycle.response_complete) and not self.parser.should_upgrade()
        if idle and self.shed_early(self.url, self.parser.get_method()):
            self._refuse_busy()
            return
        super().on_headers_complete()

    def _refuse_busy(self) -> None:
        """Answer 503 busy at once; keep the connection for the next request, as a response would."""
        self._answered = True
        if self.parser.should_keep_alive():
            self.transport.write(_BUSY)
            self._unset_keepalive_if_required()
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )
        else:
            self.transport.write(_BUSY_CLOSE)
            self.transport.close()

    def on_body(self, body: bytes) -> None:
        if not self._answered:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._answered:
            super().on_message_complete()


def guarded_protocol(
    header_timeout: float,
    max_header_bytes: int,
    refused: Callable[[str], None],
    shed_early: Callable[[bytes, bytes], bool] = lambda target, method: False,
) -> Any:
    """The protocol class for ``uvicorn.Config(http=...)`` with these limits; ``refused(reason)`` counts
    closed connections; ``shed_early(target, method)`` (the request line's bytes) says whether to refuse a
    request as busy (and counts it); it is asked for every request, so it decodes nothing unless it refuses."""
    return type(
        "GuardedHttpToolsProtocol",
        (_Guarded,),
        {
            "header_timeout": header_timeout,
            "max_header_bytes": max_header_bytes,
            "refused": staticmethod(refused),
            "shed_early": staticmethod(shed_early),
        },
    )
