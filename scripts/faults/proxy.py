"""A loopback TCP proxy the drill controls: pass traffic, blackhole it, or reset every connection.

``tc netem`` is not in this kernel, so a partition between clients and the backend is made here:
clients connect to the proxy, the proxy to the backend.

* ``pass``: bytes flow both ways;
* ``blackhole``: connections stay open but no answer comes back (requests still reach the backend,
  so a write can be stored while its acknowledgement is lost), and new connections are accepted
  and left hanging, as when packets are silently dropped;
* ``reset``: every connection is closed with a TCP RST (SO_LINGER 0), new ones too;
* ``no-upgrade``: HTTP passes, but a new connection's request loses its ``Upgrade`` and
  ``Connection: upgrade`` headers, as behind a proxy whose config stopped passing them: WebSocket
  handshakes reach the backend as plain GETs.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
import threading

__all__ = ["Proxy"]

MODES = ("pass", "blackhole", "reset", "no-upgrade")
_HOP = re.compile(rb"^(upgrade|connection):[^\r\n]*\r\n", re.IGNORECASE | re.MULTILINE)


def _rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class Proxy(threading.Thread):
    """Listens on 127.0.0.1:``port`` (0 = any free port) and forwards to ``upstream_port``."""

    def __init__(self, upstream_port: int) -> None:
        super().__init__(daemon=True)
        self.upstream_port = upstream_port
        self.mode = "pass"
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shutdown: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = threading.Event()
        self._flowing.set()

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._shutdown = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._shutdown.wait()
        for writer in list(self._writers):
            _rst(writer)

    def start(self) -> None:
        super().start()
        self._ready.wait(5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_mode(self, mode: str) -> None:
        """Switch mode; ``reset`` also cuts every open connection now."""
        assert mode in MODES and self._loop is not None
        self.mode = mode
        if mode in ("pass", "no-upgrade"):
            self._flowing.set()
        else:
            self._flowing.clear()
        if mode == "reset":
            self._loop.call_soon_threadsafe(self._reset_all)

    def _reset_all(self) -> None:
        for writer in list(self._writers):
            _rst(writer)
        self._writers.clear()

    def close(self) -> None:
        if self._loop is not None and self._shutdown is not None:
            self._loop.call_soon_threadsafe(self._shutdown.set)
        self.join(10)

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.mode == "reset":
            _rst(client_w)
            return
        self._writers.add(client_w)
        try:
            while self.mode == "blackhole":  # accepted, never answered
                await asyncio.sleep(0.05)
            if self.mode == "reset" or client_w.is_closing():
                return
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            self._writers.add(up_w)
            if self.mode == "no-upgrade":
                head = await client_r.readuntil(b"\r\n\r\n")
                up_w.write(_HOP.sub(b"", head))
            await asyncio.gather(
                self._pump(client_r, up_w, gated=False), self._pump(up_r, client_w, gated=True), return_exceptions=True
            )
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            _rst(client_w)
        finally:
            self._writers.discard(client_w)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, gated: bool) -> None:
        """Copy bytes; a ``gated`` direction (answers to clients) holds them while blackholed."""
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                while gated and not self._flowing.is_set():
                    if self.mode == "reset" or writer.is_closing():
                        return
                    await asyncio.sleep(0.05)
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()
            self._writers.discard(writer)
