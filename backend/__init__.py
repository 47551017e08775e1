"""The reference backend the runbooks operate: HTTP API, WebSocket hub, two-tier cache, SQLite, supervisor.

Start it with ``backend supervise`` (or ``make backend``); configure it with ``BACKEND_*``
environment variables (:mod:`backend.settings`).
"""

from backend.settings import Settings, SettingsError

__all__ = ["Settings", "SettingsError"]
