"""Runs one server process: uvicorn with the backend's limits and an ordered, bounded drain.

On SIGTERM uvicorn would close WebSockets with 1012; the drain here closes them first with 1001
(going away), so clients know to reconnect elsewhere, then lets uvicorn stop accepting, finish
in-flight requests within ``BACKEND_SHUTDOWN_GRACE`` and run the app's shutdown.
"""

from __future__ import annotations

import logging
import socket

import uvicorn

from backend.app import create_app
from backend.gateway import Gateway
from backend.http_guard import guarded_protocol
from backend.restarts import Restarts
from backend.settings import Settings

__all__ = ["DrainingServer", "serve"]


class DrainingServer(uvicorn.Server):
    """uvicorn's server with the WebSocket drain put in front of its own shutdown."""

    def __init__(self, config: uvicorn.Config, gateway: Gateway) -> None:
        super().__init__(config)
        self.gateway = gateway

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # stop accepting before the drain
        await self.gateway.backend.drain()
        await super().shutdown(sockets)


def serve(settings: Settings, restarts: Restarts | None = None) -> None:
    """Serve until SIGTERM/SIGINT; returns after the drain."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    gateway = create_app(settings, restarts)
    config = uvicorn.Config(
        gateway,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        ws_max_size=settings.ws_max_message_bytes,
        ws_ping_interval=settings.ws_ping_interval,
        ws_ping_timeout=settings.ws_ping_timeout,
        ws_per_message_deflate=False,  # deflate triples per-connection memory
        http=guarded_protocol(
            settings.http_header_timeout,
            settings.max_header_bytes,
            lambda reason: gateway.backend.metrics.http_refused.labels(reason).inc(),
            gateway.shed_early,
        ),
        timeout_graceful_shutdown=settings.shutdown_grace,  # type: ignore[arg-type]  # uvicorn types it int; it takes seconds as a float
        access_log=False,
        server_header=False,
    )
    DrainingServer(config, gateway).run()
