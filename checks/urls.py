"""Addresses derived from a backend's base URL, shared by the probes and the page runner."""

from __future__ import annotations

__all__ = ["ws_url_of"]


def ws_url_of(url: str) -> str:
    """The hub's WebSocket URL for a backend base URL (http -> ws, https -> wss)."""
    url = url.rstrip("/")
    return ("wss:" if url.startswith("https:") else "ws:") + url.split(":", 1)[1] + "/ws"
